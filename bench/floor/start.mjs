// Starts the runtime-floor worker (worker.js) in its own workerd through Miniflare, with the
// compatibility settings of the product's wrangler.toml, so `--mode echo` measures the same runtime;
// and the call floor (call-worker.js with call-bridge.mjs) for `--mode callfloor`.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * Resolves with { wsUrl, mf, stop } once the floor worker listens on a free loopback port;
 * `inspectorPort` opens its DevTools inspector (bench/profile.mjs); `scriptPath` runs a variant
 * of worker.js (an experiment on the floor, bench/promoted.mjs).
 */
export async function startFloor({ inspectorPort, scriptPath = join(HERE, "worker.js"), durableObjects = { ECHO: "Echo" }, bindings = {} } = {}) {
  const toml = readFileSync(join(HERE, "../../wrangler.toml"), "utf8");
  const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  const mf = new Miniflare(convertV4MiniflareOptions({
    name: "floor",
    modules: true,
    scriptPath,
    compatibilityDate,
    durableObjects,
    bindings,
    host: "127.0.0.1",
    port: 0,
    ...(inspectorPort !== undefined ? { inspectorPort } : {}),
  }));
  const url = await mf.ready;
  return { wsUrl: url.href.replace(/^http/, "ws"), mf, stop: () => mf.dispose() };
}

/**
 * The call floor (call-worker.js, over `shards` objects) and its bridge (call-bridge.mjs, a Node
 * process of its own on a UDP port of `listen`, one link per object), sending to the gateways on
 * `gatewayHost`. Resolves with { wsUrl, mf,
 * bridge: the child process, stop } once the bridge's link is open.
 */
export async function startCallFloor({ inspectorPort, listen, gateways = "7070,7072,7074", gatewayHost = "127.0.0.1", nodeArgs = [], shards = 1 }) {
  const floor = await startFloor({ inspectorPort, scriptPath: join(HERE, "call-worker.js"), durableObjects: { FLOOR: "CallFloor" }, bindings: { GATEWAYS: gateways, SHARDS: String(shards) } });
  const bridge = spawn(process.execPath, [...nodeArgs, join(HERE, "call-bridge.mjs"), "--edge", `${floor.wsUrl}bridge`, "--listen", listen, "--gateway-host", gatewayHost, "--shards", String(shards)], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((resolve) => bridge.once("exit", resolve));
  const lines = createInterface({ input: bridge.stdout });
  const nextLine = () => new Promise((resolve) => lines.once("line", resolve));
  if ((await Promise.race([nextLine(), exited.then(() => "exited")])) === "exited") {
    await floor.stop();
    throw new Error("the call floor's bridge exited at start");
  }
  /** The link's frames and messages so far, both directions. */
  const linkCounts = async () => {
    const line = nextLine();
    bridge.stdin.write("\n");
    return JSON.parse(await line);
  };
  const stop = async () => {
    if (bridge.exitCode === null && bridge.signalCode === null) { bridge.kill(); await exited; }
    await floor.stop();
  };
  return { wsUrl: floor.wsUrl, mf: floor.mf, bridge, linkCounts, stop };
}

// A deployment-shaped stack for the operations tests: a SIP domain name and no aliases, the edge
// on 127.0.0.8, the bridge on 127.0.0.9 (its /health and /metrics on 127.0.0.9:9060), sipp
// gateways on 127.0.0.20, .21 and .22 (port 5060 each), clients on addresses of their own.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startStack, type Stack } from "../../scripts/stack.mjs";
import { Sipp } from "./sipp.ts";

export const DOMAIN = "sip.example.test";
export const EDGE_HOST = "127.0.0.8";
export const BRIDGE = "127.0.0.9:5060";
export const BRIDGE_HTTP = "127.0.0.9:9060";
export const GATEWAYS = ["127.0.0.20", "127.0.0.21", "127.0.0.22"] as const;

export interface Topology {
  stack: Stack;
  token: string;
  gateways: Map<string, Sipp>;
  /** Kills the sipp on `ip` (SIGKILL), as a crashed gateway. */
  kill(ip: string): Promise<void>;
  stop(): Promise<void>;
}

async function admin(stack: Stack, token: string, method: string, route: string, body: string, contentType: string): Promise<void> {
  const res = await fetch(stack.url + route, { method, headers: { Authorization: `Bearer ${token}`, "Content-Type": contentType }, body });
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
}

/**
 * Starts the gateways and the stack, provisions `users` (password = user + "-pw") and the
 * dispatcher list (set 1: the three gateways, round robin by the route script). `scenarios` picks
 * each gateway's sipp scenario (default uas.xml).
 */
export async function startTopology(options: { token: string; users: string[]; vars?: Record<string, string>; scenarios?: Partial<Record<string, string>> }): Promise<Topology> {
  const gateways = new Map<string, Sipp>();
  for (const ip of GATEWAYS) gateways.set(ip, Sipp.uas(5060, options.scenarios?.[ip] ?? "uas.xml", [], ip));
  const stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-ops-"));
  const cleanUp = async () => {
    await Promise.all([...gateways.values()].map((g) => g.stop()));
    await rm(stateDir, { recursive: true, force: true });
  };
  try {
    return await provision(options, gateways, stateDir, cleanUp);
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

async function provision(options: { token: string; users: string[]; vars?: Record<string, string> }, gateways: Map<string, Sipp>, stateDir: string, cleanUp: () => Promise<void>): Promise<Topology> {
  // A sipp that cannot bind its address (a stale one holds it) exits at once: say so.
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const [ip, g] of gateways) {
    if (g.process.exitCode !== null) throw new Error(`sipp on ${ip}:5060 exited at once (address in use?):\n${g.log}`);
  }
  const stack = await startStack({
    host: EDGE_HOST,
    port: 0,
    stateDir,
    build: false,
    seed: false,
    bridge: { listen: BRIDGE, extraArgs: ["--http", BRIDGE_HTTP] },
    vars: {
      ADMIN_TOKEN: options.token,
      SIP_DOMAIN: DOMAIN,
      // No aliases, as deployed: the bridge's advertised address is the proxy's own anyway.
      SIP_ALIASES: "",
      CONNECTION_SHARDS: "4",
      LOG_LEVEL: "warn",
      ...options.vars,
    },
  });
  const list = GATEWAYS.map((ip, i) => `1 sip:${ip}:5060 0 0 duid=gw${i}`).join("\n") + "\n";
  try {
    for (const user of options.users) {
      await admin(stack, options.token, "POST", "/admin/subscribers", JSON.stringify({ username: user, password: `${user}-pw` }), "application/json");
    }
    await admin(stack, options.token, "POST", "/admin/import?file=dispatcher.list", list, "text/plain");
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return {
    stack,
    token: options.token,
    gateways,
    async kill(ip) {
      await gateways.get(ip)?.stop();
      gateways.delete(ip);
    },
    async stop() {
      await stack.stop();
      await cleanUp();
    },
  };
}

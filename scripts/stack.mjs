// The local stack that `npm start`, the end-to-end tests and the benchmarks run: the worker
// bundled exactly as `wrangler deploy` would bundle it, run by Miniflare directly (the fastest
// faithful local runtime: DESIGN.md §7), with its state kept on disk between runs.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
// Node 22 runs these TypeScript files directly (type stripping): the same migration runner and
// demo data the Worker-side code and the tests use.
import { applyMigrations } from "../src/provisioning/migrate.ts";
import { seedDemoSubscribers } from "../src/provisioning/seed.ts";
import { importText } from "../src/provisioning/import.ts";
import { randomBytes } from "node:crypto";
import { supervise } from "./supervise.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function run(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], ...options });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(output) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${output}`))));
  });
}

/** ROUTE_SECRET and NONCE_SECRET of a state directory (made on its first start). */
async function keptSecrets(stateDir) {
  const file = path.join(stateDir, "secrets.json");
  try {
    return JSON.parse(await readFile(file, "utf8"));
  } catch {
    const secrets = { ROUTE_SECRET: randomBytes(24).toString("base64url"), NONCE_SECRET: randomBytes(24).toString("base64url") };
    await mkdir(stateDir, { recursive: true });
    await writeFile(file, JSON.stringify(secrets), { mode: 0o600 });
    return secrets;
  }
}

/** A TCP port free on `host` now. */
function freePort(host) {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Bundles the worker with wrangler (the same bundle a deploy uploads) into `outdir`. `entry`
 * (relative to the repository) replaces wrangler.toml's `main`, as `wrangler deploy ENTRY` does:
 * a Worker entry of the user's own that carries route scripts of its own (src/edge.ts).
 */
export async function buildWorker(outdir = path.join(ROOT, "dist"), entry) {
  await run(process.execPath, [path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", outdir, ...(entry ? [entry] : [])], {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  return path.join(outdir, "index.js");
}

/** migrations/*.sql, in name order, as { name, sql }. */
export async function readMigrations(dir = path.join(ROOT, "migrations")) {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".sql")).sort();
  return Promise.all(names.map(async (name) => ({ name, sql: await readFile(path.join(dir, name), "utf8") })));
}

/**
 * What `wrangler d1 migrations apply --local` and a provisioning step do, on the stack's own D1:
 * applies the migrations not yet recorded in `d1_migrations` (so restarts apply nothing twice)
 * and, when the subscriber table is empty, seeds the demo subscribers the README lists.
 */
export async function prepareDatabase(db, { seed = true, domain = "localhost", dispatcherList, benchUsers } = {}) {
  const applied = await applyMigrations(db, await readMigrations());
  const seeded = seed ? await seedDemoSubscribers(db, domain, benchUsers) : 0;
  const dispatcher = seed ? await seedDispatcher(db, domain, dispatcherList) : 0;
  return { applied, seeded, dispatcher };
}

/** A dispatcher list (default: the seed's, config/dispatcher.list) into an empty `dispatcher` table. */
async function seedDispatcher(db, domain, file = path.join(ROOT, "config", "dispatcher.list")) {
  const row = await db.prepare("SELECT COUNT(*) AS n FROM dispatcher").first();
  if (row && row.n > 0) return 0;
  const result = await importText(db, await readFile(file, "utf8"), { file: "dispatcher.list", format: "dispatcher.list", domain });
  if (!result.ok) throw new Error(`${file}:${result.error.line}: ${result.error.field}: ${result.error.reason}`);
  return result.value.rows;
}

/**
 * Starts the bridge (bridge/main.mjs) as a child process dialling the edge at `edgeUrl`.
 * Resolves once it listens on UDP; `stop()` ends it (SIGTERM) and waits.
 */
export async function startBridge({ edgeUrl, secret, listen = "127.0.0.1:5060", id = "local", logLevel = "warn", extraArgs = [], nodeArgs = [], shards = 0, env = {}, main = path.join(ROOT, "bridge/main.mjs") }) {
  // nodeArgs go to Node itself (bench/profile.mjs opens the bridge's inspector with --inspect).
  // `main`: another checkout's bridge (bench --bridge-main, to compare two versions).
  const args = [...nodeArgs, main, "--edge", edgeUrl, "--listen", listen, "--id", id, "--log-level", "info", ...extraArgs];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env, SIPEDGE_BRIDGE_SECRET: secret } });
  let output = "";
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
  // Ready once it listens on UDP and (when `shards` is given) every shard's link is up.
  const address = await new Promise((resolve, reject) => {
    const onData = (d) => {
      output += d;
      let bound;
      const up = new Set();
      for (const line of output.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const entry = JSON.parse(line);
          if (entry.msg === "udp listening") bound = entry.address;
          if (entry.msg === "edge link up") up.add(entry.shard);
        } catch {
          // a partial line: wait for the rest
        }
      }
      if (bound !== undefined && up.size >= shards) resolve(bound);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d) => (output += d));
    child.on("exit", (code) => reject(new Error(`bridge exited ${code} before listening:\n${output}`)));
  });
  // After start-up, only what is at or above the wanted level goes on (a busy bridge logs a lot).
  const levels = { debug: 0, info: 1, warn: 2, error: 3 };
  child.stdout.removeAllListeners("data");
  child.stdout.on("data", (d) => {
    for (const line of String(d).split("\n")) {
      if (!line) continue;
      const level = /"level":"(\w+)"/.exec(line)?.[1] ?? "info";
      if ((levels[level] ?? 1) >= (levels[logLevel] ?? 2)) process.stdout.write(`bridge ${line}\n`);
    }
  });
  return {
    address,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * Starts the worker. Options: port (0 = any free port), host, stateDir (persisted D1/DO state;
 * omit for in-memory), vars (overrides of wrangler.toml [vars], e.g. ADMIN_TOKEN), build
 * (default true), seed (demo subscribers into an empty table; default true), dispatcherList (the
 * file seeded into an empty dispatcher table; default config/dispatcher.list), tls ({ key, cert }
 * in PEM: the edge speaks https/wss, as Cloudflare's edge does in production), bridge (true or
 * startBridge options, plus `supervise: true` to restart it when it dies, with `onRestart` and
 * `onExit` callbacks), entry (a Worker entry of one's own instead of wrangler.toml's `main`),
 * inspectorPort (open workerd's DevTools inspector on this loopback port, for profiling), prepare
 * (default true: apply migrations and seed; false for a restart on a state directory already prepared),
 * benchUsers (how many bench users user0000… the seed writes; default 1000).
 * Returns { url, wsUrl, mf, stop, database: { applied, seeded } }.
 */
export async function startStack(options = {}) {
  const { host = "127.0.0.1", stateDir, build = true, seed = true, log, bridge, tls, dispatcherList } = options;
  // Miniflare reports the address of its own local socket (127.0.0.1, http) when the edge listens
  // on another address: the public one is host:port, so the port is chosen here.
  const port = options.port === 0 && host !== "127.0.0.1" ? await freePort(host) : (options.port ?? 8787);
  // The bridge link's secret: given, or one made up for this run (the bridge gets the same).
  const bridgeSecret = options.vars?.BRIDGE_SECRET ?? process.env.SIPEDGE_BRIDGE_SECRET ?? randomBytes(18).toString("base64url");
  // The signing secrets of nonces and routing state stay the same across restarts of one state
  // directory, as `wrangler secret put` keeps them in production: dialogs and challenges outlive a restart.
  const kept = stateDir ? await keptSecrets(stateDir) : {};
  const vars = { ...kept, BRIDGE_SECRET: bridgeSecret, ...options.vars };
  // The bundle is named after the entry's file (wrangler): index.js for src/index.ts.
  const bundle = `${path.basename(options.entry ?? "index.ts").replace(/\.[cm]?[jt]s$/, "")}.js`;
  const outdir = options.outdir ?? path.join(ROOT, "dist");
  const script = build ? (await buildWorker(outdir, options.entry), path.join(outdir, bundle)) : path.join(outdir, bundle);
  // Bindings, Durable Objects, D1 and compatibility settings come from wrangler.toml; the source
  // is the bundle built above: index.js and the text modules beside it (the phone's page, *.html).
  const { modulesRules: _rules, ...workerOptions } = unstable_getMiniflareWorkerOptions(path.join(ROOT, "wrangler.toml")).workerOptions;
  const texts = (await readdir(path.dirname(script))).filter((f) => f.endsWith(".html"));
  const modules = [{ type: "ESModule", path: script }, ...texts.map((f) => ({ type: "Text", path: path.join(path.dirname(script), f) }))];
  if (stateDir) await mkdir(stateDir, { recursive: true });
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      ...workerOptions,
      name: "sipedge",
      modules,
      modulesRoot: path.dirname(script),
      bindings: { ...workerOptions.bindings, ...vars },
      host,
      port,
      ...(tls ? { https: true, httpsKey: tls.key, httpsCert: tls.cert } : {}),
      ...(stateDir ? { resourcePersistencePath: stateDir } : {}),
      ...(log ? { log } : {}),
      // The DevTools inspector of workerd itself (no Miniflare proxy): bench/profile.mjs drives its
      // Profiler domain. Only when asked: an open inspector costs nothing idle but is a debug port.
      ...(options.inspectorPort !== undefined ? { inspectorPort: options.inspectorPort } : {}),
    }),
  );
  const url = await mf.ready;
  const httpUrl = host === "127.0.0.1" ? url.href.replace(/\/$/, "") : `${tls ? "https" : "http"}://${host}:${port}`;
  // `prepare: false` (a restart on a state directory prepared before): no D1 calls at all. Miniflare's
  // D1 proxy answers `prepare()` synchronously, blocking this process until workerd replies, and
  // a restarted edge is busy with every client reconnecting at once.
  let database = { applied: [], seeded: 0, dispatcher: 0 };
  if (options.prepare !== false) {
    try {
      const domain = vars.SIP_DOMAIN ?? workerOptions.bindings?.SIP_DOMAIN ?? "localhost";
      database = await prepareDatabase(await mf.getD1Database("DB"), { seed, domain, dispatcherList, benchUsers: options.benchUsers });
    } catch (error) {
      await mf.dispose();
      throw error;
    }
  }
  let bridgeProcess;
  if (bridge) {
    try {
      const shards = Number(vars.CONNECTION_SHARDS ?? workerOptions.bindings?.CONNECTION_SHARDS ?? 1);
      const { supervise: supervised, onRestart, ...bridgeOptions } = bridge === true ? {} : bridge;
      const startOne = () => startBridge({ edgeUrl: httpUrl, secret: bridgeSecret, shards, ...bridgeOptions });
      // `supervise: true`: a bridge that dies is started again (npm start, the fault tests).
      bridgeProcess = supervised ? await supervise(startOne, { onRestart, onExit: bridgeOptions.onExit }) : await startOne();
    } catch (error) {
      await mf.dispose();
      throw error;
    }
  }
  return {
    url: httpUrl,
    wsUrl: httpUrl.replace(/^http/, "ws") + "/",
    mf,
    database,
    bridge: bridgeProcess,
    bridgeSecret,
    /** Open bridge links over all shards, from the shards themselves (GET /admin/stats needs a token). */
    async bridgeLinks() {
      const ns = await mf.getDurableObjectNamespace("SIP_CONNECTION");
      const shards = Number(vars.CONNECTION_SHARDS ?? workerOptions.bindings?.CONNECTION_SHARDS ?? 16);
      const statuses = await Promise.all(Array.from({ length: shards }, (_, i) => ns.get(ns.idFromName(`shard-${i}`)).status()));
      return { up: statuses.reduce((n, s) => n + s.bridgeLinks.length, 0), shards };
    },
    async stop() {
      await bridgeProcess?.stop();
      await mf.dispose();
    },
  };
}

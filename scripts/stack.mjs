// The local stack that `npm start`, the end-to-end tests and the benchmarks run: the worker
// bundled exactly as `wrangler deploy` would bundle it, run by Miniflare directly (the fastest
// faithful local runtime: DESIGN.md §7), with its state kept on disk between runs.
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
// Node 22 runs these TypeScript files directly (type stripping): the same migration runner and
// demo data the Worker-side code and the tests use.
import { applyMigrations } from "../src/provisioning/migrate.ts";
import { seedDemoSubscribers } from "../src/provisioning/seed.ts";

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

/** Bundles the worker with wrangler (the same bundle a deploy uploads) into `outdir`. */
export async function buildWorker(outdir = path.join(ROOT, "dist")) {
  await run(process.execPath, [path.join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", outdir], {
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
export async function prepareDatabase(db, { seed = true, domain = "localhost" } = {}) {
  const applied = await applyMigrations(db, await readMigrations());
  const seeded = seed ? await seedDemoSubscribers(db, domain) : 0;
  return { applied, seeded };
}

/**
 * Starts the worker. Options: port (0 = any free port), host, stateDir (persisted D1/DO state;
 * omit for in-memory), vars (overrides of wrangler.toml [vars], e.g. ADMIN_TOKEN), build
 * (default true), seed (demo subscribers into an empty table; default true).
 * Returns { url, wsUrl, mf, stop, database: { applied, seeded } }.
 */
export async function startStack(options = {}) {
  const { port = 8787, host = "127.0.0.1", stateDir, vars = {}, build = true, seed = true, log } = options;
  const script = build ? await buildWorker(options.outdir) : path.join(options.outdir ?? path.join(ROOT, "dist"), "index.js");
  // Bindings, Durable Objects, D1 and compatibility settings come from wrangler.toml; the source
  // is the bundle built above (so module rules do not apply).
  const { modulesRules: _rules, ...workerOptions } = unstable_getMiniflareWorkerOptions(path.join(ROOT, "wrangler.toml")).workerOptions;
  if (stateDir) await mkdir(stateDir, { recursive: true });
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      ...workerOptions,
      name: "sipedge",
      scriptPath: script,
      modules: true,
      modulesRoot: path.dirname(script),
      bindings: { ...workerOptions.bindings, ...vars },
      host,
      port,
      ...(stateDir ? { resourcePersistencePath: stateDir } : {}),
      ...(log ? { log } : {}),
    }),
  );
  const url = await mf.ready;
  const httpUrl = url.href.replace(/\/$/, "");
  let database;
  try {
    const domain = vars.SIP_DOMAIN ?? workerOptions.bindings?.SIP_DOMAIN ?? "localhost";
    database = await prepareDatabase(await mf.getD1Database("DB"), { seed, domain });
  } catch (error) {
    await mf.dispose();
    throw error;
  }
  return {
    url: httpUrl,
    wsUrl: httpUrl.replace(/^http/, "ws") + "/",
    mf,
    database,
    stop: () => mf.dispose(),
  };
}

// `npm run deploy`: refuses to deploy the demo (deploy-checks.mjs), then applies the D1 migrations
// and runs `wrangler deploy`. Options:
//   --check            run the checks only (exit 0 when all pass, 1 when refused)
//   --env NAME         a wrangler environment ([env.NAME] in wrangler.toml)
//   --config FILE      another wrangler.toml
//   --local-db DIR     check the local database kept by `npm start` in DIR (.sipedge/state)
//                      instead of the remote one; with --check only
// Secret values to upload may be given as SIPEDGE_DEPLOY_<NAME> (ADMIN_TOKEN, BRIDGE_SECRET,
// NONCE_SECRET, METRICS_TOKEN): they are checked, then put with `wrangler secret bulk`.
import { spawn } from "node:child_process";
import path from "node:path";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";
import { DEMO_ACCOUNTS_SQL, checkConfig, checkSecretNames, checkSecretValues, checkSubscribers } from "./deploy-checks.mjs";
import { ROOT } from "./stack.mjs";

const WRANGLER = path.join(ROOT, "node_modules/wrangler/bin/wrangler.js");

function parseArgs(argv) {
  const args = { check: false, env: undefined, config: path.join(ROOT, "wrangler.toml"), localDb: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--check") args.check = true;
    else if (a === "--env" || a === "--config" || a === "--local-db") {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      args[a === "--env" ? "env" : a === "--config" ? "config" : "localDb"] = v;
    } else throw new Error(`unknown option ${a}`);
  }
  if (args.localDb !== undefined && !args.check) throw new Error("--local-db goes with --check (a deploy checks the remote database)");
  return args;
}

function wrangler(args, { input, capture = true } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRANGLER, ...args], { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, stdio: [input === undefined ? "ignore" : "pipe", capture ? "pipe" : "inherit", capture ? "pipe" : "inherit"] });
    let out = "";
    let err = "";
    child.stdout?.on("data", (d) => (out += d));
    child.stderr?.on("data", (d) => (err += d));
    if (input !== undefined) child.stdin.end(input);
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`wrangler ${args.join(" ")} exited ${code}\n${err || out}`))));
  });
}

const envArgs = (args) => ["--config", args.config, ...(args.env ? ["--env", args.env] : [])];

/** Rows of the candidate demo accounts: from the local state (`npm start`) or the remote D1. */
async function subscriberRows(args) {
  if (args.localDb !== undefined) {
    // The database only, as `npm start` keeps it: its D1 binding comes from the repository's
    // wrangler.toml (the local state is keyed by that database_id), not from --config.
    const { d1Databases } = unstable_getMiniflareWorkerOptions(path.join(ROOT, "wrangler.toml")).workerOptions;
    const mf = new Miniflare(convertV4MiniflareOptions({ name: "deploy-check", script: "export default {}", modules: true, d1Databases, resourcePersistencePath: args.localDb }));
    try {
      const db = await mf.getD1Database("DB");
      return (await db.prepare(DEMO_ACCOUNTS_SQL).all()).results;
    } finally {
      await mf.dispose();
    }
  }
  const out = await wrangler(["d1", "execute", "DB", "--remote", "--json", "--command", DEMO_ACCOUNTS_SQL, ...envArgs(args)]);
  return JSON.parse(out)[0]?.results ?? [];
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const config = unstable_readConfig({ config: args.config, env: args.env });
  const given = {};
  for (const name of ["ADMIN_TOKEN", "BRIDGE_SECRET", "NONCE_SECRET", "METRICS_TOKEN"]) {
    const v = process.env[`SIPEDGE_DEPLOY_${name}`];
    if (v) given[name] = v;
  }
  const problems = [...checkConfig(config), ...checkSecretValues(given)];
  if (args.localDb === undefined && problems.length === 0) {
    const listed = JSON.parse(await wrangler(["secret", "list", "--format", "json", ...envArgs(args)]));
    problems.push(...checkSecretNames([...listed.map((s) => s.name), ...Object.keys(given)]));
  }
  if (args.localDb !== undefined || problems.length === 0) problems.push(...checkSubscribers(await subscriberRows(args)));
  if (problems.length > 0) {
    console.error(`sipedge deploy: refused (${problems.length} problem${problems.length === 1 ? "" : "s"}):`);
    for (const p of problems) console.error(`  - ${p}`);
    return 1;
  }
  console.log("sipedge deploy: checks passed (configuration, secrets, no demo subscribers)");
  if (args.check) return 0;
  if (Object.keys(given).length > 0) await wrangler(["secret", "bulk", ...envArgs(args)], { input: JSON.stringify(given), capture: false });
  await wrangler(["d1", "migrations", "apply", "DB", "--remote", ...envArgs(args)], { capture: false });
  await wrangler(["deploy", ...envArgs(args)], { capture: false });
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error) => {
    console.error(`sipedge deploy: ${error.message}`);
    process.exitCode = 2;
  },
);

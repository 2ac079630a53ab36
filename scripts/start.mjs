// `npm start`: the whole local stack on this machine, until SIGINT/SIGTERM.
import { writeSync } from "node:fs";
import path from "node:path";
import { ROOT, startStack } from "./stack.mjs";

const port = Number(process.env.SIPEDGE_PORT ?? 8787);
const host = process.env.SIPEDGE_HOST ?? "127.0.0.1";
const stateDir = process.env.SIPEDGE_STATE_DIR ?? path.join(ROOT, ".sipedge", "state");
// Every wrangler.toml [vars] entry can be overridden as SIPEDGE_<NAME> (SIPEDGE_MIN_EXPIRES=120 ...).
const vars = {};
for (const [name, value] of Object.entries(process.env)) {
  const m = /^SIPEDGE_([A-Z0-9_]+)$/.exec(name);
  if (m && value !== undefined && !["PORT", "HOST", "STATE_DIR", "ADMIN_TOKEN", "BRIDGE_LISTEN", "BRIDGE_LOG_LEVEL", "ENTRY"].includes(m[1])) vars[m[1]] = value;
}
const adminToken = process.env.SIPEDGE_ADMIN_TOKEN ?? "";
if (adminToken) vars.ADMIN_TOKEN = adminToken;

const bridgeListen = process.env.SIPEDGE_BRIDGE_LISTEN ?? "127.0.0.1:5060";
// SIPEDGE_ENTRY: a Worker entry of one's own (route scripts of one's own, src/edge.ts) instead of wrangler.toml's main.
const entry = process.env.SIPEDGE_ENTRY || undefined;
const stack = await startStack({ port, host, stateDir, vars, entry, bridge: { listen: bridgeListen, logLevel: process.env.SIPEDGE_BRIDGE_LOG_LEVEL ?? "warn" } });
console.log(`sipedge edge: ${stack.url}  (SIP over WebSocket: ${stack.wsUrl}, subprotocol "sip")`);
console.log(`bridge: UDP ${stack.bridge.address} ⇄ ${stack.url}/bridge (gateways from config/dispatcher.list)`);
const { applied, seeded } = stack.database;
if (applied.length > 0) console.log(`D1 migrations applied: ${applied.join(", ")}`);
if (seeded > 0) console.log(`seeded ${seeded} demo subscribers (alice, bob, carol, user0000..user0999; see README)`);
if (adminToken) {
  console.log(`admin API: ${stack.url}/admin/ (bearer token from SIPEDGE_ADMIN_TOKEN); import with: npx sipedge import FILE...`);
} else {
  console.log(`admin API closed: no token. Start with e.g. SIPEDGE_ADMIN_TOKEN=$(openssl rand -hex 24) npm start`);
}
console.log(`state kept in ${path.relative(process.cwd(), stateDir) || stateDir}; Ctrl-C stops everything`);

// Miniflare stops workerd from its own exit hook when a signal arrives; our hook only reports.
// (Synchronous write: the process may end before an asynchronous console.log is flushed.)
let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  writeSync(1, `${signal}: stopping\n`);
  await stack.stop();
  process.exit(0);
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

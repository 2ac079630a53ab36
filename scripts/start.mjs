// `npm start`: the whole local stack on this machine, until SIGINT/SIGTERM.
import { writeSync } from "node:fs";
import path from "node:path";
import { ROOT, startStack } from "./stack.mjs";
import { RTPENGINE_INSTALL, answersPing, findRtpengine, startRtpengine } from "./rtpengine.mjs";

const port = Number(process.env.SIPEDGE_PORT ?? 8787);
const host = process.env.SIPEDGE_HOST ?? "127.0.0.1";
const stateDir = process.env.SIPEDGE_STATE_DIR ?? path.join(ROOT, ".sipedge", "state");
// Every wrangler.toml [vars] entry can be overridden as SIPEDGE_<NAME> (SIPEDGE_MIN_EXPIRES=120 ...).
const vars = {};
for (const [name, value] of Object.entries(process.env)) {
  const m = /^SIPEDGE_([A-Z0-9_]+)$/.exec(name);
  if (m && value !== undefined && !["PORT", "HOST", "STATE_DIR", "ADMIN_TOKEN", "BRIDGE_LISTEN", "BRIDGE_LOG_LEVEL", "RTPENGINE", "RTPENGINE_INTERFACE"].includes(m[1])) vars[m[1]] = value;
}
const adminToken = process.env.SIPEDGE_ADMIN_TOKEN ?? "";
if (adminToken) vars.ADMIN_TOKEN = adminToken;

const bridgeListen = process.env.SIPEDGE_BRIDGE_LISTEN ?? "127.0.0.1:5060";
const media = await startMedia(process.env.SIPEDGE_RTPENGINE ?? "auto", process.env.SIPEDGE_RTPENGINE_INTERFACE ?? "127.0.0.1");
const bridgeArgs = media.sock ? ["--rtpengine", media.sock] : [];
const stack = await startStack({ port, host, stateDir, vars, bridge: { listen: bridgeListen, logLevel: process.env.SIPEDGE_BRIDGE_LOG_LEVEL ?? "warn", extraArgs: bridgeArgs } });
console.log(`sipedge edge: ${stack.url}  (SIP over WebSocket: ${stack.wsUrl}, subprotocol "sip")`);
console.log(`bridge: UDP ${stack.bridge.address} ⇄ ${stack.url}/bridge (gateways from config/dispatcher.list)`);
console.log(media.message);
console.log(`browser phone: ${stack.url}/phone (e.g. alice / alice123; call bob in a second tab, or a number)`);
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
  await media.rtpengine?.stop();
  process.exit(0);
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

/**
 * SIPEDGE_RTPENGINE: "auto" starts the local rtpengine when it is installed (ng on 127.0.0.1:2223,
 * media on `iface`), "off" runs without media anchoring, anything else is an rtpengine_sock list
 * of rtpengines already running (the bridge talks to those).
 */
async function startMedia(mode, iface) {
  if (mode === "off") return { message: "media: off (SIPEDGE_RTPENGINE=off): calls to gateways carry no audio" };
  if (mode !== "auto") return { sock: mode, message: `media: rtpengine at ${mode} (SIPEDGE_RTPENGINE)` };
  // One already answering on the default port (a system service, another npm start) is used as it is.
  if (await answersPing("127.0.0.1:2223")) return { sock: "udp:127.0.0.1:2223", message: "media: the rtpengine already running on 127.0.0.1:2223" };
  if (findRtpengine() === undefined) {
    return { message: `media: rtpengine is not installed, so calls to gateways carry no audio; install it with\n  ${RTPENGINE_INSTALL}` };
  }
  try {
    const rtpengine = await startRtpengine({ ng: "127.0.0.1:2223", iface });
    const loopback = iface.startsWith("127.") || iface === "::1";
    const hint = loopback ? " (Chrome uses loopback media only when started with --allow-loopback-in-peer-connection; or set SIPEDGE_RTPENGINE_INTERFACE to this machine's address)" : "";
    return { rtpengine, sock: "udp:127.0.0.1:2223", message: `media: rtpengine ${rtpengine.version}, media on ${iface} ports 30000-30999${hint}` };
  } catch (error) {
    return { message: `media: rtpengine did not start, calls to gateways carry no audio: ${error.message.split("\n")[0]}` };
  }
}

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
  // SIPEDGE_BRIDGE_* configure the bridge process (it reads them itself), except the link's secret.
  const local = ["PORT", "HOST", "STATE_DIR", "ADMIN_TOKEN", "RTPENGINE", "RTPENGINE_INTERFACE", "ENTRY"].includes(m?.[1]) || (m?.[1].startsWith("BRIDGE_") && m[1] !== "BRIDGE_SECRET");
  if (m && value !== undefined && !local) vars[m[1]] = value;
}
const adminToken = process.env.SIPEDGE_ADMIN_TOKEN ?? "";
if (adminToken) vars.ADMIN_TOKEN = adminToken;

const bridgeListen = process.env.SIPEDGE_BRIDGE_LISTEN ?? "127.0.0.1:5060";
const media = await startMedia(process.env.SIPEDGE_RTPENGINE ?? "auto", process.env.SIPEDGE_RTPENGINE_INTERFACE ?? "127.0.0.1");
const bridgeArgs = media.sock ? ["--rtpengine", media.sock] : [];
// SIPEDGE_ENTRY: a Worker entry of one's own (route scripts of one's own, src/edge.ts) instead of wrangler.toml's main.
const entry = process.env.SIPEDGE_ENTRY || undefined;
// The bridge runs supervised: one that dies (a crash, SIGKILL) is started again within a second
// or so and dials the edge again; in production systemd or the container runtime does this (deploy/bridge).
const bridge = {
  listen: bridgeListen,
  logLevel: process.env.SIPEDGE_BRIDGE_LOG_LEVEL ?? "warn",
  extraArgs: bridgeArgs,
  supervise: true,
  onExit: ({ code, signal, error }) => console.error(`bridge exited (${error ?? signal ?? `code ${code}`}); restarting`),
  onRestart: ({ restarts, pid }) => console.error(`bridge restarted (pid ${pid}, restart ${restarts})`),
};
const stack = await startStack({ port, host, stateDir, vars, entry, bridge });
console.log(`sipedge edge: ${stack.url}  (SIP over WebSocket: ${stack.wsUrl}, subprotocol "sip")`);
const links = await stack.bridgeLinks();
console.log(`bridge: UDP ${stack.bridge.address} ⇄ ${stack.url}/bridge, ${links.up}/${links.shards} shard links up (gateways from config/dispatcher.list)`);
console.log(media.message);
console.log(`browser phone: ${stack.url}/phone (e.g. alice / alice123; call bob in a second tab, or a number)`);
const { applied, seeded } = stack.database;
if (applied.length > 0) console.log(`D1 migrations applied: ${applied.join(", ")}`);
if (seeded > 0) console.log(`seeded ${seeded} demo subscribers (alice, bob, carol, user0000..user0999; see README)`);
if (adminToken) {
  console.log(`admin API: ${stack.url}/admin/ (bearer token from SIPEDGE_ADMIN_TOKEN); CLI: npx sipedge --help`);
  console.log(`dashboard: ${stack.url}/dashboard (log in with the admin token); Prometheus: ${stack.url}/metrics (bearer token)`);
} else {
  console.log(`admin API closed: no token. Start with e.g. SIPEDGE_ADMIN_TOKEN=$(openssl rand -hex 24) npm start`);
}
console.log(`state kept in ${path.relative(process.cwd(), stateDir) || stateDir}; Ctrl-C stops everything`);

// Miniflare's exit hook ends the process from its own SIGINT/SIGTERM listener, which runs first
// unless ours is put in front: ours reports (a synchronous write, since the process may end before
// an asynchronous one is flushed) and tells the bridge to stop; Miniflare then stops workerd.
// Ctrl-C also reaches the bridge through the process group; a SIGTERM sent to this process alone
// does not, hence the explicit stop.
let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  writeSync(1, `${signal}: stopping\n`);
  void stack.bridge?.stop(); // marks it stopping first, so the supervisor does not start it again
  media.rtpengine?.process?.kill("SIGTERM");
  // Reached only when no other listener ends the process first.
  void stack
    .stop()
    .then(() => media.rtpengine?.stop())
    .then(() => process.exit(0));
}
process.prependListener("SIGINT", () => stop("SIGINT"));
process.prependListener("SIGTERM", () => stop("SIGTERM"));

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

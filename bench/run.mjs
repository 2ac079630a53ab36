// `npm run bench`: the edge under a closed-loop SIP-over-WebSocket load, with the CPU it spends
// per operation. It starts the stack `npm start` runs (scripts/stack.mjs: the deploy bundle in
// workerd through Miniflare, D1 migrated and seeded with user0000..user0999 / pw @ localhost) in
// this process, runs bench/loadgen.mjs as a separate process per measurement, and reads the CPU
// of every process from /proc over the measurement window only. See bench/README.md.
//
//   npm run bench                                   REGISTER with digest, 50 and 100 clients
//   npm run bench -- --conns 50 --duration 10 --warmup 2 --rounds 3 --mode reg,options,ping
//   npm run bench -- --json results.jsonl           also append one JSON line per measurement
//   npm run bench -- --mode call --conns 50,100    issue 4's gateway call through the bridge to
//                                                   three sipp UAS gateways (127.0.0.1:7070/7072/7074)
//   npm run bench -- --url ws://127.0.0.1:8080 --domain kbench.local --edge-pid tree:PID
//                                                   the same load against another server
import { spawn } from "node:child_process";
import dgram from "node:dgram";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { profiler, topTable } from "./profile.mjs";
import { contextSwitches, cpuProbe, memProbe, sampleSeries, seriesRows } from "./series.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const HZ = 100; // USER_HZ: /proc/*/stat ticks per second
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

const USAGE = `usage: npm run bench -- [options]
  --mode reg[,options,ping,call,u2u,echo,callfloor,regfloor]  workloads (u2u: a call between two registered
                             WebSocket users, half the clients calling the other half; echo: the
                             runtime floor, a bare hibernating echo object in its own workerd;
                             callfloor: the gateway call's flow through a bare object and a bare
                             bridge (bench/floor/call-worker.js) to the same gateways;
                             regfloor: reg's flow through that bare object, which answers 401 and
                             200 without checking anything) (reg: REGISTER->401->REGISTER+digest->200; options:
                             one OPTIONS round trip through the route script; ping: CRLF
                             keep-alive answered by the runtime; call: INVITE->407->ACK->INVITE
                             +auth->100/180/200 from a sipp gateway through the bridge->ACK->BYE
                             ->200, every client registered once before)   default reg
  --conns 50,100             concurrent WebSocket clients (one operation in flight each)
  --duration 10 --warmup 2   measurement window and warm-up per measurement, seconds
  --rounds 1                 repetitions; the order is reversed every other round; medians shown
  --quiet-wait 20            wait up to this long for a quiet machine (< --quiet cores busy, 0.3)
  --json FILE                append one JSON line per measurement (and one summary line)
  --label TEXT               a tag carried in every JSON line
  --url URL --domain D       load an already running server instead of starting the stack;
  --edge-pid [tree:]PID,...  whose CPU counts as "the edge" (tree: PID and its descendants)
  --bridge-pid, --uas-pid    the same for the bridge and the gateways of an external server
  --rtpengine-pid PID        and for the rtpengine an external server anchors media in
  --gateways 7070,7072,7074  call mode: UDP ports of the sipp UAS gateways we start (the seed's
                             set 1, as config/dispatcher.list loads it)
  --uas-scenario FILE        call mode: the gateways' sipp scenario (default test/sipp/uas.xml)
  --sdp FILE                 call mode: the INVITEs' offer (e.g. test/fixtures/sdp/chromium-offer.sdp)
  --deflate yes              the clients offer permessage-deflate (RFC 7692) as browsers do; the
                             local stack's Miniflare front agrees to it whatever wrangler.toml's
                             no_web_socket_compression says (README), so this measures its price
  --rtpengine yes            call mode: anchor media in an rtpengine started beside the bridge
                             (its CPU is reported per call too)
  --rate R                   paced instead of closed loop: R operations per second offered in all
                             (e.g. 70 % of the closed-loop maximum), for latency at a fixed rate;
                             "late" counts starts that could not keep the pace
  --aors N                   reg mode: spread the registrations over N AORs (user0000…, seeded as
                             needed), each client registering its share in turn: the first pass
                             makes N new registrations (N Location objects), later passes refresh
                             them N/conns operations apart (the capacity model's check)
  --expires 600              the Expires the registrations ask for (the registrar raises it to
                             min_expires, 60): a refresh later than half of it reaches the AOR's
                             Location object, as production refreshes every few minutes do
  --calls-per-minute N       the toll-fraud limit per user (CALLS_PER_MINUTE); default 0 (off: every
                             client calls far more often); a large N measures its per-call hop
  --state-dir DIR            keep the stack's D1/Durable Object state there (default: a fresh
                             temporary directory, removed at the end)
  --profile DIR              CPU profiles over each measurement window: the edge's isolate through
                             workerd's DevTools inspector, the bridge through Node's; writes
                             DIR/<target>-<mode>-<conns>-r<round>.cpuprofile and prints the top
                             20 functions by self time (profiled runs cost more: not for CPU figures)
  --heap-snapshot yes        with --profile: also DIR/<target>-<mode>-<conns>-r<round>.heapsnapshot
                             after the heap line (Chrome DevTools' Memory tab opens it)
  --floor-shards 1           callfloor/regfloor: spread the floor's clients over this many bare
                             objects, the bridge dialling one link each, as CONNECTION_SHARDS
                             spreads sipedge's (what splitting the link's batching costs the floor)
  --bundle DIR               use the worker bundle in DIR, building it there only when missing
                             (the same code across separate runs while the tree changes)
  --bridge-main FILE         call mode: run this bridge (another checkout's bridge/main.mjs) instead
                             of this checkout's, to compare two versions of the link
  --series yes               also one line per second of the window: operations, the edge's CPU per
                             operation split into workerd's main thread and its other threads (V8's
                             compiler and GC helpers), and the machine's busy cores (does a run's CPU
                             per operation change within the run, or is it set at its start?)`;

function parseArgs(argv) {
  const o = {
    mode: "reg", conns: "50,100", duration: 10, warmup: 2, rounds: 1, quietWait: 20, quiet: 0.3,
    json: "", label: "", url: "", domain: "localhost", edgePid: "", stateDir: "", bundle: "",
    bridgePid: "", uasPid: "", rtpenginePid: "", gateways: "7070,7072,7074", uasScenario: join(HERE, "..", "test/sipp/uas.xml"),
    sdp: "", deflate: "no", rtpengine: "no", profile: "", heapSnapshot: "no", bridgeMain: "", series: "no",
    callsPerMinute: 0, rate: 0, aors: 0, expires: 600, floorShards: 1,
  };
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === "--help" || argv[i] === "-h") { console.log(USAGE); process.exit(0); }
    const k = argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(k in o) || argv[i + 1] === undefined) { console.error(`unknown or incomplete option ${argv[i]}\n${USAGE}`); process.exit(2); }
    o[k] = typeof o[k] === "number" ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!Number.isInteger(o.floorShards) || o.floorShards < 1) { console.error(`--floor-shards wants a whole number of objects, 1 or more (got ${o.floorShards})`); process.exit(2); }
  o.modes = o.mode.split(",");
  o.connsList = o.conns.split(",").map(Number);
  return o;
}

// ------------------------------------------------------------------ /proc readings
function statFields(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch { return null; }
}
/** pid -> { ticks (utime+stime), ppid } for every process. */
function processTable() {
  const m = new Map();
  for (const p of readdirSync("/proc")) {
    if (p.charCodeAt(0) > 57) continue; // not a pid directory
    const f = statFields(p);
    if (f) m.set(Number(p), { ticks: Number(f[11]) + Number(f[12]), ppid: Number(f[1]) });
  }
  return m;
}
function descendants(root, table = processTable()) {
  const out = [];
  const walk = (p) => { for (const [pid, e] of table) if (e.ppid === p) { out.push(pid); walk(pid); } };
  walk(root);
  return out;
}
/** Resident memory of these processes now, MB (VmRSS). */
const rssMb = (pids) => Math.round(pids.reduce((a, pid) => {
  try { return a + Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0); } catch { return a; }
}, 0) / 1024);
const commOf = (pid) => { try { return readFileSync(`/proc/${pid}/comm`, "utf8").trim(); } catch { return "?"; } };
/** Whole-machine busy and steal jiffies (/proc/stat first line). */
function machine() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3] - f[4], steal: f[7] };
}

/** Waits until the machine has a second under `quiet` busy cores, for up to `wait` seconds. */
async function quietMachine(quiet, wait) {
  const t0 = Date.now();
  while (Date.now() - t0 < wait * 1000) {
    const a = machine().busy;
    await sleep(1000);
    if ((machine().busy - a) / HZ < quiet) return { ok: true, waited: +((Date.now() - t0) / 1000).toFixed(1) };
  }
  return { ok: false, waited: wait };
}

// ------------------------------------------------------------------ the edge and its gateways
/** `[tree:]PID,...` -> PIDs (tree: PID and its descendants). */
function pidList(specs) {
  const pids = [];
  for (const spec of specs.split(",").filter(Boolean)) {
    const tree = spec.startsWith("tree:");
    const pid = Number(tree ? spec.slice(5) : spec);
    pids.push(pid, ...(tree ? descendants(pid) : []));
  }
  return pids;
}

/** A free UDP port on loopback (for the bridge). */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket("udp4");
    s.on("error", reject);
    s.bind(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}
/** A free TCP port on loopback (for an inspector). */
const freeTcpPort = () => new Promise((resolve, reject) => {
  const s = createServer();
  s.on("error", reject);
  s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

const udpPortFree = (port) => new Promise((resolve) => {
  const s = dgram.createSocket("udp4");
  s.on("error", () => resolve(false));
  s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
});

/**
 * The gateways: one sipp UAS per port, as test/helpers/sipp.ts starts them (-aa answers the
 * dispatcher's OPTIONS probes) but without -trace_msg, whose per-message log would be most of
 * sipp's cost. Only errors are logged (the ../shared/bench gateways do the same).
 */
async function startGateways(o, work) {
  const ports = o.gateways.split(",").map(Number);
  for (const port of ports) {
    if (!(await udpPortFree(port))) throw new Error(`UDP 127.0.0.1:${port} is taken (another gateway, e.g. a test's or ../shared/bench's, is running)`);
  }
  const procs = ports.map((port) => spawn("sipp", ["-sf", o.uasScenario, "-i", "127.0.0.1", "-p", String(port), "-aa", "-nostdin",
    "-buff_size", "4194304", "-trace_err", "-error_file", join(work, `uas_${port}.err`)], { stdio: "ignore" }));
  const stop = async () => {
    await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? undefined
      : new Promise((r) => { p.on("exit", r); p.kill("SIGTERM"); setTimeout(() => p.kill("SIGKILL"), 2000).unref(); }))));
  };
  await sleep(500);
  const dead = procs.findIndex((p) => p.exitCode !== null || p.signalCode !== null);
  if (dead >= 0) { await stop(); throw new Error(`sipp on port ${ports[dead]} exited at start`); }
  return { pids: procs.map((p) => p.pid), stop };
}

async function startEdge(o) {
  if (o.url) {
    return {
      wsUrl: o.url, domain: o.domain, pids: pidList(o.edgePid), bridgePids: pidList(o.bridgePid), uasPids: pidList(o.uasPid), rtpenginePids: pidList(o.rtpenginePid),
      name: "external", stop: async () => {},
    };
  }
  const { startStack } = await import("../scripts/stack.mjs");
  const work = mkdtempSync(join(tmpdir(), "sipedge-bench-"));
  const stateDir = o.stateDir || join(work, "state");
  // Our own bundle directory: other work on this checkout may be building dist/ at the same time.
  const outdir = o.bundle || join(work, "dist");
  const build = !existsSync(join(outdir, "index.js"));
  const calls = o.modes.includes("call");
  const gateways = calls || o.modes.includes("callfloor") ? await startGateways(o, work) : undefined;
  // Pike and the per-address connection cap (issue 5) would count every client as one flooding
  // source: all of them come from 127.0.0.1. Kamailio's reference is measured with pike on and off.
  // Any [vars] entry can be set for a run as SIPEDGE_<NAME>, as for `npm start`.
  const fromEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^SIPEDGE_[A-Z0-9_]+$/.test(k) && !["SIPEDGE_ADMIN_TOKEN", "SIPEDGE_BRIDGE_SECRET"].includes(k)).map(([k, v]) => [k.slice(8), v]));
  // Each client calls far more often than the toll-fraud limit allows a user (CALLS_PER_MINUTE):
  // --calls-per-minute N keeps it on (N per user) to measure its cost; default off.
  const vars = { PIKE_DENSITY: "0", MAX_CONNECTIONS_PER_ADDRESS: "0", CALLS_PER_MINUTE: String(o.callsPerMinute), ...fromEnv };
  let stack;
  let rtpengine;
  let inspector;
  let bridgeHttp;
  try {
    if (calls && o.rtpengine === "yes") {
      const { startRtpengine } = await import("../scripts/rtpengine.mjs");
      // Deleted calls go at once (rtpengine keeps them 30 s by default): hundreds of calls a
      // second would otherwise run the port range dry.
      rtpengine = await startRtpengine({ ng: `127.0.0.1:${await freeUdpPort()}`, portMin: 30000, portMax: 39999, extraArgs: ["--delete-delay=0"] });
    }
    const extraArgs = rtpengine ? ["--rtpengine", `udp:${rtpengine.ng}`] : [];
    inspector = o.profile ? { edge: await freeTcpPort(), bridge: calls ? await freeTcpPort() : undefined } : undefined;
    const nodeArgs = inspector?.bridge ? [`--inspect=127.0.0.1:${inspector.bridge}`] : [];
    // The bridge's /metrics gives the link's frames and WebSocket messages per call.
    bridgeHttp = calls ? `127.0.0.1:${await freeTcpPort()}` : undefined;
    if (bridgeHttp) extraArgs.push("--http", bridgeHttp);
    const bridge = calls ? { listen: `127.0.0.1:${await freeUdpPort()}`, extraArgs, nodeArgs, ...(o.bridgeMain ? { main: o.bridgeMain } : {}) } : undefined;
    stack = await startStack({ port: 0, stateDir, outdir, build, vars, benchUsers: Math.max(1000, o.aors), ...(bridge ? { bridge } : {}), ...(inspector ? { inspectorPort: inspector.edge } : {}) });
  } catch (e) {
    await gateways?.stop();
    await rtpengine?.stop();
    throw e;
  }
  const pids = descendants(process.pid).filter((p) => commOf(p) === "workerd");
  const stop = async () => { await stack.stop(); await gateways?.stop(); await rtpengine?.stop(); rmSync(work, { recursive: true, force: true }); };
  if (pids.length === 0) { await stop(); throw new Error("no workerd process found under this process"); }
  // Let the dispatcher's first probes (DS_PING_INTERVAL, 5 s) find the gateways up, as
  // ../shared/bench/run_all.sh waits after starting Kamailio.
  if (calls) await sleep(6000);
  return {
    wsUrl: stack.wsUrl, domain: "localhost", pids, name: "sipedge", database: stack.database,
    bridgePids: stack.bridge ? [stack.bridge.process.pid] : [], uasPids: gateways?.pids ?? [],
    rtpenginePids: rtpengine ? [rtpengine.process.pid] : [], stop, inspector,
    linkCounts: bridgeHttp ? () => linkCounts(bridgeHttp) : undefined,
  };
}

/**
 * The bridge link's traffic so far (bridge/http.ts): frames (datagrams and control) and the
 * WebSocket messages that carried them, both directions summed. A bridge older than batching
 * has no message counter: each frame was a message of its own.
 */
async function linkCounts(address) {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const sum = (name) => [...text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, "gm"))].reduce((a, m) => a + Number(m[1]), 0);
  const frames = sum("sipedge_bridge_frames_total");
  return { frames, messages: text.includes("sipedge_bridge_link_messages_total") ? sum("sipedge_bridge_link_messages_total") : frames };
}

/**
 * The runtime floor for `--mode echo` (bench/floor): a bare hibernating echo object in a workerd
 * of its own, whose CPU is counted as that mode's edge.
 */
async function startFloorEdge(o, edgePids) {
  const { startFloor } = await import("./floor/start.mjs");
  const inspector = o.profile ? { edge: await freeTcpPort() } : undefined;
  const floor = await startFloor(inspector ? { inspectorPort: inspector.edge } : {});
  const pids = descendants(process.pid).filter((p) => commOf(p) === "workerd" && !edgePids.includes(p));
  return { wsUrl: floor.wsUrl, domain: "localhost", pids, name: "floor", bridgePids: [], uasPids: [], rtpenginePids: [], stop: floor.stop, inspector };
}

/**
 * The floors of `--mode callfloor` and `--mode regfloor` (bench/floor/call-worker.js): those flows
 * through a bare object in a workerd of its own and, for calls, a bare bridge (call-bridge.mjs) to
 * the edge's gateways. Its workerd counts as the edge, its bridge as the bridge, the gateways as
 * the gateways.
 */
async function startCallFloorEdge(o, edge) {
  const { startCallFloor } = await import("./floor/start.mjs");
  const inspector = o.profile ? { edge: await freeTcpPort(), bridge: await freeTcpPort() } : undefined;
  const floor = await startCallFloor({
    listen: `127.0.0.1:${await freeUdpPort()}`, gateways: o.gateways, shards: o.floorShards,
    ...(inspector ? { inspectorPort: inspector.edge, nodeArgs: [`--inspect=127.0.0.1:${inspector.bridge}`] } : {}),
  });
  const pids = descendants(process.pid).filter((p) => commOf(p) === "workerd" && !edge.pids.includes(p) && !(echoFloor?.pids ?? []).includes(p));
  return {
    wsUrl: floor.wsUrl, domain: "localhost", pids, name: o.floorShards > 1 ? `sipfloor-${o.floorShards}` : "sipfloor", bridgePids: [floor.bridge.pid], uasPids: edge.uasPids, rtpenginePids: [],
    stop: floor.stop, inspector, linkCounts: floor.linkCounts,
  };
}

/** Spawns the load generator; `next()` resolves with its next stdout line. */
function loadgen(args) {
  const p = spawn(process.execPath, [join(HERE, "loadgen.mjs"), ...args, "--control", "stdin"], { stdio: ["pipe", "pipe", "inherit"] });
  const queue = [];
  const waiters = [];
  createInterface({ input: p.stdout }).on("line", (l) => { const w = waiters.shift(); if (w) w.resolve(l); else queue.push(l); });
  const exited = new Promise((r) => p.on("exit", (code) => { for (const w of waiters.splice(0)) w.reject(new Error(`loadgen exited ${code}`)); r(code); }));
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve, reject) => waiters.push({ resolve, reject })));
  return { p, next, exited };
}

// ------------------------------------------------------------------ one measurement
/** With --profile: a profiler on the edge's isolate and one on the bridge (when it runs). */
async function openProfilers(edge) {
  if (!edge.inspector) return [];
  const out = [{ name: "edge", ...(await profiler(edge.inspector.edge, /^core:user:/)) }];
  // Local D1 runs as another isolate of the same workerd process: its CPU is the edge's too.
  if (edge.name === "sipedge") out.push({ name: "d1", ...(await profiler(edge.inspector.edge, /^d1:db$/)) });
  if (edge.inspector.bridge) out.push({ name: "bridge", ...(await profiler(edge.inspector.bridge, /./)) });
  return out;
}

async function measure(edge, o, mode, conns, round) {
  const quiet = await quietMachine(o.quiet, o.quietWait);
  const lg = loadgen(["--url", edge.wsUrl, "--domain", edge.domain, "--mode", mode, "--conns", String(conns), ...(o.sdp ? ["--sdp", o.sdp] : []), ...(o.deflate === "yes" ? ["--deflate", "yes"] : []), ...(o.rate > 0 ? ["--rate", String(o.rate)] : []),
    ...(o.aors > 0 && mode === "reg" ? ["--aors", String(o.aors)] : []), "--expires", String(o.expires)]);
  activeLoadgen = lg;
  try {
    JSON.parse(await lg.next());
    const ws = Date.now() + o.warmup * 1000;
    const we = ws + o.duration * 1000;
    const profilers = await openProfilers(edge);
    // The probes' set-up (memProbe's 32 MB walk) before the window: this process's CPU counts as the host's.
    if (o.series === "yes") { cpuProbe(); memProbe(); }
    lg.p.stdin.write(`go ${ws} ${we}\n`);
    // Our own CPU is read inside the two /proc scans, so the scans do not count as the host's work.
    await sleep(ws - Date.now());
    for (const p of profilers) await p.start();
    const l0 = await edge.linkCounts?.();
    const cs0 = { edge: contextSwitches(edge.pids), loadgen: contextSwitches([lg.p.pid]) };
    const s0 = { all: processTable(), m: machine(), t: Date.now(), self: process.cpuUsage() };
    const series = o.series === "yes" ? await sampleSeries(edge.pids, ws, we, lg.p.pid, machine) : undefined;
    await sleep(we - Date.now());
    const s1 = { self: process.cpuUsage(), t: Date.now(), m: machine(), all: processTable() };
    const cs1 = { edge: contextSwitches(edge.pids), loadgen: contextSwitches([lg.p.pid]) };
    const l1 = await edge.linkCounts?.();
    const profiles = [];
    for (const p of profilers) profiles.push({ name: p.name, profile: await p.stop(join(o.profile, `${p.name}-${mode}-${conns}-r${round}.cpuprofile`)) });
    for (const p of profilers) {
      // A timeout: the D1 isolate's collection has been seen never to answer.
      const heap = await Promise.race([p.heapAfterGc(), sleep(5000)]).catch(() => undefined);
      if (heap) console.log(`${p.name} heap after a full GC, ${mode} ${conns} clients, round ${round}: ${(heap.usedSize / 1e6).toFixed(1)} MB used of ${(heap.totalSize / 1e6).toFixed(1)} MB`);
    }
    const r = JSON.parse(await lg.next());
    await lg.exited;
    // After the load generator ended: the snapshot stops the isolate for seconds.
    const snapshotted = o.heapSnapshot === "yes" ? profilers.filter((p) => p.name === "edge") : [];
    for (const p of snapshotted) await p.heapSnapshot(join(o.profile, `${p.name}-${mode}-${conns}-r${round}.heapsnapshot`));
    for (const p of profilers) p.close();
    for (const { name, profile } of profiles) console.log(topTable(`${name} profile, ${mode} ${conns} clients, round ${round}`, profile, r.ok));
    const link = l0 && l1 ? { frames: l1.frames - l0.frames, messages: l1.messages - l0.messages } : undefined;
    const run = account(edge, o, { mode, conns, round, quiet, r, s0, s1, link, loadgenPid: lg.p.pid });
    if (series) run.series = seriesRows(series, r.okPerSec ?? []);
    // Wake-ups per operation: fewer when one wake-up handles several messages (batching).
    const perOp = (a, b) => (r.ok ? +((b - a) / r.ok).toFixed(2) : null);
    run.edge_wakeups_per_op = perOp(cs0.edge.voluntary, cs1.edge.voluntary);
    run.edge_preempted_per_op = perOp(cs0.edge.involuntary, cs1.edge.involuntary);
    run.loadgen_wakeups_per_op = perOp(cs0.loadgen.voluntary, cs1.loadgen.voluntary);
    // WebSocket messages per operation at the client (REGISTER: 2 sent, 2 received).
    run.client_sent_per_op = perOp(0, r.sentWin ?? 0);
    run.client_received_per_op = perOp(0, r.recvWin ?? 0);
    return run;
  } finally {
    activeLoadgen = undefined;
    if (lg.p.exitCode === null) lg.p.kill();
  }
}

/** CPU of each party over the window, per operation where it is the edge's. */
function account(edge, o, { mode, conns, round, quiet, r, s0, s1, link, loadgenPid }) {
  const secs = (s1.t - s0.t) / 1000;
  const d = (pid) => { const a = s0.all.get(pid); const b = s1.all.get(pid); return a && b ? (b.ticks - a.ticks) / HZ : 0; };
  const edgeCpu = edge.pids.reduce((a, p) => a + d(p), 0);
  const bridgeCpu = edge.bridgePids.reduce((a, p) => a + d(p), 0);
  const uasCpu = edge.uasPids.reduce((a, p) => a + d(p), 0);
  const rtpengineCpu = edge.rtpenginePids.reduce((a, p) => a + d(p), 0);
  // This process hosts Miniflare (the Node side of the local stack) when the stack is ours.
  const hostCpu = edge.name === "sipedge" ? (s1.self.user + s1.self.system - s0.self.user - s0.self.system) / 1e6 : 0;
  const known = new Set([...edge.pids, ...edge.bridgePids, ...edge.uasPids, ...edge.rtpenginePids, process.pid, loadgenPid]);
  const others = [];
  let otherCpu = 0;
  for (const [pid, b] of s1.all) {
    if (known.has(pid)) continue;
    // A process born inside the window spent its whole life there (the rest is mostly ours).
    const c = (b.ticks - (s0.all.get(pid)?.ticks ?? 0)) / HZ / secs;
    otherCpu += c;
    if (c > 0.03) others.push(`${commOf(pid)}:${pid}=${c.toFixed(2)}`);
  }
  const perOp = (cpu) => (r.ok ? Math.round((cpu * 1e6) / r.ok) : null);
  const calls = (mode === "call" || mode === "callfloor") && edge.bridgePids.length + edge.uasPids.length > 0;
  return {
    target: edge.name, label: o.label, mode, conns, round, ok: r.ok, fail: r.fail, fail_reasons: r.reasons,
    rate_per_s: +(r.ok / secs).toFixed(1), p50_ms: r.p50, p90_ms: r.p90, p99_ms: r.p99, max_ms: r.max,
    total_p50_ms: r.total_p50 ?? null, total_p99_ms: r.total_p99 ?? null,
    offered_per_s: r.offered ?? null, late_starts: r.late ?? null,
    aors: r.aors ?? null, new_registrations: r.fresh ?? null, edge_rss_mb: rssMb(edge.pids),
    bridge_rss_mb: edge.bridgePids.length > 0 ? rssMb(edge.bridgePids) : null,
    edge_us_per_op: perOp(edgeCpu + hostCpu), workerd_us_per_op: perOp(edgeCpu), host_us_per_op: perOp(hostCpu),
    // The proxy's whole cost on a call is the edge's plus the bridge's (Kamailio does both jobs).
    bridge_us_per_op: calls ? perOp(bridgeCpu) : null, uas_us_per_op: calls ? perOp(uasCpu) : null,
    rtpengine_us_per_op: edge.rtpenginePids.length > 0 ? perOp(rtpengineCpu) : null,
    proxy_us_per_op: calls ? perOp(edgeCpu + hostCpu + bridgeCpu) : null,
    // The bridge link per call, both directions: frames (datagrams, control) and WebSocket messages.
    link_frames_per_op: link && r.ok ? +(link.frames / r.ok).toFixed(2) : null,
    link_messages_per_op: link && r.ok ? +(link.messages / r.ok).toFixed(2) : null,
    edge_cores: +(edgeCpu / secs).toFixed(2), host_cores: +(hostCpu / secs).toFixed(2),
    bridge_cores: +(bridgeCpu / secs).toFixed(2), uas_cores: +(uasCpu / secs).toFixed(2),
    loadgen_cores: +(d(loadgenPid) / secs).toFixed(2),
    machine_busy_cores: +((s1.m.busy - s0.m.busy) / HZ / secs).toFixed(2),
    machine_steal_cores: +((s1.m.steal - s0.m.steal) / HZ / secs).toFixed(2),
    other_cores: +otherCpu.toFixed(2), other_cpu: others.join(" "),
    // Upper bound of foreign load: machine busy time minus our processes. It also holds what no
    // process is charged with: the kernel's loopback work for our sockets, processes that ended.
    not_ours_cores: +((s1.m.busy - s0.m.busy) / HZ / secs - (edgeCpu + hostCpu + bridgeCpu + uasCpu + rtpengineCpu + d(loadgenPid)) / secs).toFixed(2),
    quiet_ok: quiet.ok, quiet_waited_s: quiet.waited, window_s: +secs.toFixed(2),
  };
}

// ------------------------------------------------------------------ report
const median = (a) => { const s = a.filter((x) => x !== null).sort((x, y) => x - y); return s.length ? s[(s.length - 1) >> 1] : null; };
const range = (a) => { const s = a.filter((x) => x !== null); return s.length > 1 ? ` (${Math.min(...s)}–${Math.max(...s)})` : ""; };

function summarize(runs, o) {
  const rows = [];
  for (const mode of o.modes) {
    for (const conns of o.connsList) {
      const rs = runs.filter((r) => r.mode === mode && r.conns === conns);
      const m = (k) => median(rs.map((r) => r[k]));
      rows.push({
        target: rs[0]?.target, mode, conns, runs: rs.length, fail: rs.reduce((a, r) => a + r.fail, 0),
        rate_per_s: m("rate_per_s"), p50_ms: m("p50_ms"), p99_ms: m("p99_ms"), total_p50_ms: m("total_p50_ms"), total_p99_ms: m("total_p99_ms"),
        edge_us_per_op: m("edge_us_per_op"), edge_us_range: range(rs.map((r) => r.edge_us_per_op)),
        workerd_us_per_op: m("workerd_us_per_op"), host_us_per_op: m("host_us_per_op"),
        bridge_us_per_op: m("bridge_us_per_op"), uas_us_per_op: m("uas_us_per_op"), rtpengine_us_per_op: m("rtpengine_us_per_op"),
        proxy_us_per_op: m("proxy_us_per_op"), proxy_us_range: range(rs.map((r) => r.proxy_us_per_op)),
        link_frames_per_op: m("link_frames_per_op"), link_messages_per_op: m("link_messages_per_op"),
        bridge_cores: m("bridge_cores"), uas_cores: m("uas_cores"),
        aors: m("aors"), new_registrations: m("new_registrations"), edge_rss_mb: m("edge_rss_mb"),
        edge_cores: m("edge_cores"), loadgen_cores: m("loadgen_cores"), machine_busy_cores: m("machine_busy_cores"),
        other_cores: m("other_cores"), not_ours_cores: m("not_ours_cores"), quiet: rs.filter((r) => r.quiet_ok).length,
      });
    }
  }
  return rows;
}

function printTable(rows, o) {
  const op = { reg: "registration", options: "OPTIONS", ping: "keep-alive", call: "call", u2u: "call between two WebSocket users", echo: "runtime floor: bare echo object", callfloor: "call floor: bare object and bridge", regfloor: "registration floor: bare object" };
  console.log(`\n${[...new Set(rows.map((r) => r.target))].join(", ")}: closed loop, ${o.duration} s window after ${o.warmup} s warm-up, medians of ${o.rounds} round(s)\n`);
  console.log("| mode | conns | ops/s | p50 ms | p99 ms | edge CPU µs/op (range) | workerd / host µs | edge cores | loadgen cores | machine busy /2 | other procs cores | not ours | quiet runs | failed |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.mode} (${op[r.mode] ?? r.mode}) | ${r.conns} | ${r.rate_per_s} | ${r.p50_ms} | ${r.p99_ms} | ${r.edge_us_per_op}${r.edge_us_range} | ` +
      `${r.workerd_us_per_op} / ${r.host_us_per_op} | ${r.edge_cores} | ${r.loadgen_cores} | ${r.machine_busy_cores} | ${r.other_cores} | ${r.not_ours_cores} | ${r.quiet}/${r.runs} | ${r.fail} |`);
  }
  printFloor(rows);
  const spread = rows.filter((r) => r.aors !== null);
  if (spread.length) {
    console.log("\n| --aors: AORs | conns | registrations in the window | of them new (Location object created) | edge µs/op | workerd RSS at the window's end, MB |");
    console.log("|---|---|---|---|---|---|");
    for (const r of spread) console.log(`| ${r.aors} | ${r.conns} | ${Math.round(r.rate_per_s * o.duration)} | ${r.new_registrations} | ${r.edge_us_per_op} | ${r.edge_rss_mb} |`);
  }
  const calls = rows.filter((r) => r.mode === "call" || r.mode === "callfloor");
  if (calls.length === 0) return;
  // Calls: p50/p99 above are call setup (first INVITE -> 200); the whole call and the other parties here.
  console.log("\n| call: conns | calls/s | setup p50 / p99 ms | whole call p50 / p99 ms | edge µs/call | bridge µs/call | edge + bridge µs/call (range) | sipp UASes µs/call | rtpengine µs/call | bridge cores | sipp cores | link frames / messages per call |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of calls) {
    console.log(`| ${r.mode === "callfloor" ? "call floor, " : ""}${r.conns} | ${r.rate_per_s} | ${r.p50_ms} / ${r.p99_ms} | ${r.total_p50_ms} / ${r.total_p99_ms} | ${r.edge_us_per_op} | ${r.bridge_us_per_op} | ` +
      `${r.proxy_us_per_op}${r.proxy_us_range} | ${r.uas_us_per_op} | ${r.rtpengine_us_per_op ?? "-"} | ${r.bridge_cores} | ${r.uas_cores} | ${r.link_frames_per_op ?? "-"} / ${r.link_messages_per_op ?? "-"} |`);
  }
}

/**
 * Each workload over the runtime floor: the echo round trip times the JavaScript-handled inbound
 * frames the operation needs (OPTIONS 1, registration 2, gateway call 9 of which 4 from the bridge,
 * call between users 8: INVITE, ACK, INVITE, ACK, BYE from the caller; 180, 200, 200 from the callee).
 */
function printFloor(rows) {
  printOwnFloors(rows);
  const frames = { options: 1, reg: 2, regfloor: 2, call: 9, u2u: 8 };
  const echo = median(rows.filter((r) => r.mode === "echo").map((r) => r.edge_us_per_op));
  if (echo === null) return;
  console.log(`\nruntime floor: ${echo} µs per JavaScript-handled round trip (bare hibernating echo object, median over client counts)`);
  console.log("| mode | conns | inbound frames | floor µs | edge µs/op | edge ÷ floor |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) {
    const n = frames[r.mode];
    if (!n || r.edge_us_per_op === null) continue;
    console.log(`| ${r.mode} | ${r.conns} | ${n} | ${n * echo} | ${r.edge_us_per_op} | ${(r.edge_us_per_op / (n * echo)).toFixed(2)} |`);
  }
}

/**
 * The registration and the gateway call over their own floors (regfloor, callfloor: the same flows
 * through a bare object, and for the call a bare bridge).
 */
function printOwnFloors(rows) {
  const ratio = (a, b) => (a !== null && b ? (a / b).toFixed(2) : "-");
  const regFloors = rows.filter((r) => r.mode === "regfloor");
  if (regFloors.length > 0) {
    console.log("\n| registration over its floor: conns | floor µs | registration µs | ÷ floor |");
    console.log("|---|---|---|---|");
    for (const f of regFloors) {
      const r = rows.find((x) => x.mode === "reg" && x.conns === f.conns);
      if (r) console.log(`| ${f.conns} | ${f.edge_us_per_op} | ${r.edge_us_per_op} | ${ratio(r.edge_us_per_op, f.edge_us_per_op)} |`);
    }
  }
  const floors = rows.filter((r) => r.mode === "callfloor");
  if (floors.length === 0) return;
  console.log("\n| gateway call over its floor: conns | floor edge + bridge µs | call edge + bridge µs | edge ÷ floor edge | bridge ÷ floor bridge | edge + bridge ÷ floor |");
  console.log("|---|---|---|---|---|---|");
  for (const f of floors) {
    const c = rows.find((r) => r.mode === "call" && r.conns === f.conns);
    if (!c) continue;
    console.log(`| ${f.conns} | ${f.edge_us_per_op} + ${f.bridge_us_per_op} = ${f.proxy_us_per_op} | ${c.edge_us_per_op} + ${c.bridge_us_per_op} = ${c.proxy_us_per_op} | ` +
      `${ratio(c.edge_us_per_op, f.edge_us_per_op)} | ${ratio(c.bridge_us_per_op, f.bridge_us_per_op)} | ${ratio(c.proxy_us_per_op, f.proxy_us_per_op)} |`);
  }
}

function logSeries(r) {
  if (!r.series) return;
  console.error(`  second: ops, workerd µs/op (busiest thread + other threads; in the kernel), the load generator's, machine busy cores, CPU probe µs (lower is a faster machine)`);
  for (const x of r.series) {
    console.error(`    ${String(x.s).padStart(3)}: ${String(x.ops).padStart(5)} ops ${String(x.edge_us).padStart(5)} µs (${x.main_us} + ${x.other_us}; kernel ${x.edge_sys_us}) ` +
      `loadgen ${x.loadgen_us} (kernel ${x.loadgen_sys_us}) machine ${x.machine_cores} probe ${x.probe_us} memory probe ${x.mem_probe_us}`);
  }
}

function logRun(r) {
  console.error(`  [r${r.round} ${r.mode} ${r.conns}] ${r.rate_per_s}/s${r.offered_per_s ? ` (offered ${r.offered_per_s}/s, ${r.late_starts} late)` : ""} p50=${r.p50_ms} p99=${r.p99_ms} edge=${r.edge_us_per_op} µs/op ` +
    `(workerd ${r.edge_cores} cores, host ${r.host_cores}) ` +
    (r.bridge_us_per_op !== null ? `bridge=${r.bridge_us_per_op} µs/op (${r.bridge_cores} cores, RSS ${r.bridge_rss_mb} MB) sipp=${r.uas_us_per_op} µs/op (${r.uas_cores} cores) ` : "") +
    `loadgen=${r.loadgen_cores} machine=${r.machine_busy_cores}/2 ` +
    `wakeups/op edge ${r.edge_wakeups_per_op} (preempted ${r.edge_preempted_per_op}) loadgen ${r.loadgen_wakeups_per_op} ` +
    `messages/op sent ${r.client_sent_per_op} received ${r.client_received_per_op} ` +
    `other=${r.other_cores} notOurs=${r.not_ours_cores}${r.other_cpu ? ` [${r.other_cpu}]` : ""}${r.fail ? ` FAILED=${JSON.stringify(r.fail_reasons)}` : ""}`);
}

// ------------------------------------------------------------------ main
let activeLoadgen;
let edge;
let echoFloor;
let callFloor;
async function stopAll() {
  if (activeLoadgen && activeLoadgen.p.exitCode === null) activeLoadgen.p.kill();
  if (echoFloor) { const f = echoFloor; echoFloor = undefined; await f.stop(); }
  if (callFloor) { const f = callFloor; callFloor = undefined; await f.stop(); }
  if (edge) { const e = edge; edge = undefined; await e.stop(); }
}
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { void stopAll().finally(() => process.exit(130)); });

const o = parseArgs(process.argv.slice(2));
if (o.profile) mkdirSync(o.profile, { recursive: true });
const started = Date.now();
edge = await startEdge(o);
console.error(`${edge.name}: ${edge.wsUrl}, edge processes ${edge.pids.map((p) => `${commOf(p)}:${p}`).join(" ")}` +
  (edge.bridgePids.length ? `, bridge ${edge.bridgePids.join(" ")}` : "") + (edge.uasPids.length ? `, sipp UASes ${edge.uasPids.join(" ")}` : "") +
  (edge.database ? `, D1 migrations ${edge.database.applied.length}, seeded ${edge.database.seeded} subscribers` : ""));
if (o.modes.includes("echo")) {
  echoFloor = await startFloorEdge(o, edge.pids);
  console.error(`floor (echo): ${echoFloor.wsUrl}, processes ${echoFloor.pids.map((p) => `${commOf(p)}:${p}`).join(" ")}`);
}
if (o.modes.includes("callfloor") || o.modes.includes("regfloor")) {
  callFloor = await startCallFloorEdge(o, edge);
  console.error(`call floor: ${callFloor.wsUrl}, processes ${callFloor.pids.map((p) => `${commOf(p)}:${p}`).join(" ")}, bridge ${callFloor.bridgePids.join(" ")}`);
}
const runs = [];
try {
  for (let round = 1; round <= o.rounds; round++) {
    const order = o.modes.flatMap((mode) => o.connsList.map((conns) => [mode, conns]));
    if (round % 2 === 0) order.reverse();
    for (const [mode, conns] of order) {
      const r = await measure(mode === "echo" ? echoFloor : mode === "callfloor" || mode === "regfloor" ? callFloor : edge, o, mode, conns, round);
      runs.push(r);
      logSeries(r);
      logRun(r);
      if (o.json) appendFileSync(o.json, JSON.stringify(r) + "\n");
    }
  }
} finally {
  await stopAll();
}
const rows = summarize(runs, o);
if (o.json) for (const r of rows) appendFileSync(o.json, JSON.stringify({ summary: true, ...r }) + "\n");
printTable(rows, o);
console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s`);
// A workload that completed nothing, or failed an operation, is broken, not slow (.ci/run's smoke).
const broken = runs.filter((r) => r.ok === 0 || r.fail > 0);
if (broken.length > 0) {
  console.error(`bench: ${broken.length} measurement(s) failed or completed nothing: ${broken.map((r) => `${r.mode}/${r.conns}/r${r.round}`).join(" ")}`);
  process.exitCode = 3;
}

// Object-map bench: runs the prototype worker (worker.js) in workerd through Miniflare directly,
// the bridge stand-in and the load generator as separate processes, and prints the table.
//   cd /work/main && npx node bench/objmap/run.mjs
// Environment: OBJMAP_ROUNDS (3), OBJMAP_WINDOW (5 s), OBJMAP_WARMUP (1.5 s), OBJMAP_SHARDS (4),
// OBJMAP_CONNS (50), OBJMAP_IDLE (400 idle sockets for the memory/connect step, 0 skips it),
// OBJMAP_JSON (append every run as a JSON line to this file), OBJMAP_STATE_DIR (where workerd
// keeps the objects' SQLite files, default the OS temp dir, i.e. on disk like `npm start`).
import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";

const HERE = dirname(fileURLToPath(import.meta.url));
const env = (k, d) => Number(process.env[k] ?? d);
const ROUNDS = env("OBJMAP_ROUNDS", 3);
const WINDOW = env("OBJMAP_WINDOW", 5);
const WARMUP = env("OBJMAP_WARMUP", 1.5);
const SHARDS = env("OBJMAP_SHARDS", 4);
const CONNS = env("OBJMAP_CONNS", 50);
const IDLE = env("OBJMAP_IDLE", 400);
const JSON_OUT = process.env.OBJMAP_JSON ?? "";
const HZ = 100; // USER_HZ: /proc ticks per second
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

// ------------------------------------------------------------------ /proc readings
function statFields(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch { return null; }
}
const ticks = (pid) => { const f = statFields(pid); return f ? Number(f[11]) + Number(f[12]) : 0; };
function allTicks() {
  const m = new Map();
  for (const p of readdirSync("/proc")) if (/^\d+$/.test(p)) m.set(Number(p), ticks(p));
  return m;
}
function machine() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3] - f[4] };
}
function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}
function descendants(root) {
  const kids = new Map();
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    const f = statFields(p);
    if (f) (kids.get(Number(f[1])) ?? kids.set(Number(f[1]), []).get(Number(f[1]))).push(Number(p));
  }
  const out = [];
  const walk = (p) => { for (const k of kids.get(p) ?? []) { out.push(k); walk(k); } };
  walk(root);
  return out;
}
const commOf = (pid) => { try { return readFileSync(`/proc/${pid}/comm`, "utf8").trim(); } catch { return ""; } };

// ------------------------------------------------------------------ processes
async function startEdge() {
  const dir = mkdtempSync(join(process.env.OBJMAP_STATE_DIR ?? tmpdir(), "sipedge-objmap-"));
  const script = join(dir, "worker.mjs");
  await build({ entryPoints: [join(HERE, "worker.js")], bundle: true, format: "esm", platform: "neutral", external: ["cloudflare:*"], outfile: script, logLevel: "warning" });
  const mf = new Miniflare(convertV4MiniflareOptions({
    host: "127.0.0.1", port: 0, modules: true, scriptPath: script, modulesRoot: dir,
    compatibilityDate: "2026-11-17", bindings: { SHARDS: String(SHARDS) },
    durableObjects: {
      SIP_CONNECTION: { className: "SipConnection", useSQLite: true },
      BRIDGE_HUB: { className: "BridgeHub", useSQLite: true },
      LOCATION: { className: "Location", useSQLite: true },
    },
    resourcePersistencePath: dir,
  }));
  try {
    const url = await mf.ready;
    const pid = descendants(process.pid).find((p) => commOf(p) === "workerd");
    if (pid === undefined) throw new Error("workerd process not found");
    return { mf, pid, dir, ws: `ws://127.0.0.1:${url.port}` };
  } catch (e) {
    await mf.dispose().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
async function stopEdge(edge) {
  await edge.mf.dispose();
  rmSync(edge.dir, { recursive: true, force: true });
}

/** Spawn a Node child; `next()` resolves with its next stdout line. */
function child(script, args) {
  const p = spawn(process.execPath, [join(HERE, script), ...args], { stdio: ["pipe", "pipe", "inherit"] });
  const queue = [];
  const waiters = [];
  createInterface({ input: p.stdout }).on("line", (l) => { const w = waiters.shift(); if (w) w(l); else queue.push(l); });
  const exited = new Promise((r) => p.on("exit", r));
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r, j) => {
    waiters.push(r);
    void exited.then(() => j(new Error(`${script} exited`)));
  }));
  return { p, next, exited };
}

async function startBridge(edge) {
  const b = child("bridge.mjs", [edge.ws, String(SHARDS)]);
  if ((await b.next()) !== "ready") throw new Error("bridge did not start");
  return b;
}

/** Wait (up to 3 s) for a second in which other work on the machine stays under 0.3 cores. */
async function quietMachine() {
  for (let i = 0; i < 3; i++) {
    const a = machine().busy; await sleep(1000);
    if ((machine().busy - a) / HZ < 0.3) return;
  }
}

// ------------------------------------------------------------------ one measured run
async function measure(edge, bridge, cfg) {
  await quietMachine();
  const lg = child("loadgen.mjs", ["--url", `${edge.ws}/?${cfg.query}`, "--mode", cfg.mode, "--conns", String(CONNS)]);
  JSON.parse(await lg.next());
  const ws = Date.now() + WARMUP * 1000;
  const we = ws + WINDOW * 1000;
  lg.p.stdin.write(`go ${ws} ${we}\n`);
  const pids = { workerd: edge.pid, bridge: bridge.p.pid, loadgen: lg.p.pid };
  const snap = () => ({ t: Date.now(), m: machine().busy, all: allTicks(), self: process.cpuUsage() });
  await sleep(ws - Date.now());
  const s0 = snap();
  await sleep(we - Date.now());
  const s1 = snap();
  const r = JSON.parse(await lg.next());
  await lg.exited;
  const secs = (s1.t - s0.t) / 1000;
  const d = (pid) => ((s1.all.get(pid) ?? 0) - (s0.all.get(pid) ?? 0)) / HZ;
  let other = 0;
  const known = new Set([...Object.values(pids), process.pid]);
  for (const [p, t] of s1.all) if (!known.has(p)) other += (t - (s0.all.get(p) ?? t)) / HZ;
  const selfCpu = (s1.self.user + s1.self.system - s0.self.user - s0.self.system) / 1e6;
  const out = {
    workload: cfg.workload, map: cfg.map, ok: r.ok, fail: r.fail, reasons: r.reasons,
    opsPerS: +(r.ok / secs).toFixed(1),
    cpuUsPerOp: r.ok ? Math.round((d(edge.pid) * 1e6) / r.ok) : null,
    p50: r.p50, p99: r.p99, setupP50: r.setupP50,
    workerdCores: +(d(edge.pid) / secs).toFixed(2), bridgeCores: +(d(bridge.p.pid) / secs).toFixed(2),
    loadgenCores: +(d(lg.p.pid) / secs).toFixed(2), hostCores: +(selfCpu / secs).toFixed(2),
    otherCores: +(other / secs).toFixed(2), machineBusy: +((s1.m - s0.m) / HZ / secs).toFixed(2),
  };
  // Upper bound of foreign load: whole-machine busy time minus our four processes (what is left
  // also holds the kernel's loopback network work for our own sockets).
  out.notOurs = +(out.machineBusy - out.workerdCores - out.bridgeCores - out.loadgenCores - out.hostCores).toFixed(2);
  if (JSON_OUT) appendFileSync(JSON_OUT, JSON.stringify(out) + "\n");
  console.error(`  ${cfg.workload} map ${cfg.map}: ${out.opsPerS}/s ${out.cpuUsPerOp} µs/op p50=${out.p50} p99=${out.p99}` +
    ` workerd=${out.workerdCores} bridge=${out.bridgeCores} loadgen=${out.loadgenCores} host=${out.hostCores} machine=${out.machineBusy}/2 notOurs=${out.notOurs} otherProcs=${out.otherCores}` + (r.fail ? ` FAIL=${JSON.stringify(r.reasons)}` : ""));
  return out;
}

// ------------------------------------------------------------------ idle sockets: memory, connect cost
async function idleCost(map) {
  const edge = await startEdge();
  try {
    const warm = child("loadgen.mjs", ["--url", `${edge.ws}/?map=${map}`, "--mode", "idle", "--conns", "20"]);
    await warm.next(); warm.p.stdin.end(); await warm.exited; await sleep(1500);
    const rss0 = rssKb(edge.pid);
    const t0 = ticks(edge.pid);
    const lg = child("loadgen.mjs", ["--url", `${edge.ws}/?map=${map}`, "--mode", "idle", "--conns", String(IDLE)]);
    const ready = JSON.parse(await lg.next());
    const cpu = (ticks(edge.pid) - t0) / HZ;
    await sleep(3000);
    const rss3 = rssKb(edge.pid);
    await sleep(9000);
    const rss12 = rssKb(edge.pid);
    lg.p.stdin.end(); await lg.exited;
    const per = (kb) => Math.round((kb - rss0) / IDLE);
    const out = {
      map, sockets: IDLE, connectCpuUs: Math.round((cpu * 1e6) / IDLE),
      connectsPerS: Math.round(IDLE / (ready.connectMs / 1000)), kbPerSocket3s: per(rss3), kbPerSocket12s: per(rss12),
    };
    console.error(`  idle map ${map}: ${JSON.stringify(out)}`);
    return out;
  } finally { await stopEdge(edge); }
}

// ------------------------------------------------------------------ main
const CONFIGS = [
  { workload: "REGISTER, binding written via Location DO", mode: "reg", maps: ["A", "B"], q: "reg=write" },
  { workload: "REGISTER refresh from cache", mode: "reg", maps: ["A", "B"], q: "reg=cache" },
  { workload: "gateway call leg", mode: "call", maps: ["A", "B", "C"], q: "" },
];
const median = (a) => { const s = a.filter((x) => x !== null).sort((x, y) => x - y); return s.length ? s[(s.length - 1) >> 1] : null; };

const started = Date.now();
const edge = await startEdge();
const bridge = await startBridge(edge);
console.error(`workerd pid ${edge.pid}, edge ${edge.ws}, ${SHARDS} shards, ${CONNS} clients, ${ROUNDS} rounds of ${WINDOW} s`);
const runs = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    console.error(`round ${round + 1}/${ROUNDS}`);
    for (const c of CONFIGS) {
      const maps = round % 2 ? [...c.maps].reverse() : c.maps;
      for (const map of maps) {
        runs.push(await measure(edge, bridge, { workload: c.workload, map, mode: c.mode, query: `map=${map}${c.q ? "&" + c.q : ""}` }));
      }
    }
  }
} finally {
  bridge.p.stdin.end();
  await bridge.exited;
  await stopEdge(edge);
}
const idle = [];
if (IDLE > 0) for (const map of ["A", "B"]) idle.push(await idleCost(map));

const rows = ["| workload | map | CPU µs/op (workerd) | ops/s | p50 ms | p99 ms | runs | workerd cores | machine busy /2 | not ours | other procs |",
  "|---|---|---|---|---|---|---|---|---|---|---|"];
for (const c of CONFIGS) {
  for (const map of c.maps) {
    const rs = runs.filter((r) => r.workload === c.workload && r.map === map);
    const m = (k) => median(rs.map((r) => r[k]));
    const fails = rs.reduce((a, r) => a + r.fail, 0);
    rows.push(`| ${c.workload} | ${map} | ${m("cpuUsPerOp")} | ${m("opsPerS")} | ${m("p50")} | ${m("p99")} | ${rs.length}${fails ? ` (${fails} failed ops)` : ""} | ${m("workerdCores")} | ${m("machineBusy")} | ${m("notOurs")} | ${m("otherCores")} |`);
  }
}
console.log(`\nObject-map bench: ${CONNS} clients, closed loop, ${SHARDS} shards, medians of ${ROUNDS} interleaved rounds of ${WINDOW} s\n`);
console.log(rows.join("\n"));
if (idle.length) {
  console.log(`\n| map | idle sockets | workerd CPU µs per connect | connects/s (50 in flight) | RSS KB per socket after 3 s | after 12 s |\n|---|---|---|---|---|---|`);
  for (const i of idle) console.log(`| ${i.map} | ${i.sockets} | ${i.connectCpuUs} | ${i.connectsPerS} | ${i.kbPerSocket3s} | ${i.kbPerSocket12s} |`);
}
console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s`);

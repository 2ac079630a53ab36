// What the edge's isolate keeps past the young generation, by allocation site: V8's sampling heap
// profiler over workerd's DevTools inspector (`HeapProfiler.startSampling`) during a load window,
// counting objects still alive at the window's end plus those a major GC collected, but not those
// a scavenge collected (`includeObjectsCollectedByMinorGC: false`). So it shows what was promoted
// to old space, whether it died later or not: the bytes behind the mark-compacts and the
// "embedded weak objects cleared" deopts after them (bench/README.md, "The two modes, round 9").
// `--live yes` leaves out what major GCs collected: only what is still referenced at the end.
//
//   node bench/promoted.mjs --bundle DIR [--mode reg] [--conns 50] [--secs 10] [--live no] [--top 25]
//   node bench/promoted.mjs --mode echo [--script VARIANT.js]   the runtime floor (bench/floor), or a variant of it
//   (in your network namespace; prints bytes per operation by allocating function, and by stack)
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { session, target } from "./profile.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({ options: {
  bundle: { type: "string" }, mode: { type: "string", default: "reg" }, conns: { type: "string", default: "50" },
  secs: { type: "string", default: "10" }, live: { type: "string", default: "no" }, top: { type: "string", default: "25" },
  interval: { type: "string", default: "4096" }, out: { type: "string" }, script: { type: "string" },
} });
const secs = Number(o.secs);
const freePort = () => new Promise((resolve) => { const s = createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); }); });
const work = mkdtempSync(join(tmpdir(), "sipedge-promoted-"));
const inspectorPort = await freePort();
const vars = { PIKE_DENSITY: "0", MAX_CONNECTIONS_PER_ADDRESS: "0", LOG_LEVEL: "warn" };
const edge = o.mode === "echo"
  ? await (await import("./floor/start.mjs")).startFloor({ inspectorPort, ...(o.script ? { scriptPath: o.script } : {}) })
  : await (await import("../scripts/stack.mjs")).startStack({ port: 0, stateDir: join(work, "state"), outdir: o.bundle, build: false, vars, benchUsers: 1000, inspectorPort });
const s = await session(await target(inspectorPort, /^core:user:/));
await s.send("HeapProfiler.enable");

const lg = spawn(process.execPath, [join(HERE, "loadgen.mjs"), "--url", edge.wsUrl, "--mode", o.mode, "--conns", o.conns, "--warmup", "3", "--duration", String(secs)], { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
lg.stdout.on("data", (d) => (out += d));
await new Promise((r) => setTimeout(r, 3000));
await s.send("HeapProfiler.startSampling", {
  samplingInterval: Number(o.interval),
  includeObjectsCollectedByMajorGC: o.live !== "yes",
  includeObjectsCollectedByMinorGC: false,
});
await new Promise((r) => setTimeout(r, secs * 1000));
const { profile } = await s.send("HeapProfiler.stopSampling");
await new Promise((r) => lg.on("exit", r));
s.close();
const result = JSON.parse(out.trim().split("\n").pop());
await edge.stop();
rmSync(work, { recursive: true, force: true });
if (o.out) writeFileSync(o.out, JSON.stringify(profile));

// Each sample is one sampled allocation of `size` bytes standing for ~interval bytes: V8 scales
// nothing itself, so the node's selfSize is sampled bytes, an estimate of the bytes allocated there.
const bySite = new Map();
const byStack = new Map();
let total = 0;
const walk = (node, stack) => {
  const cf = node.callFrame;
  const file = cf.url ? cf.url.slice(cf.url.lastIndexOf("/") + 1) : "";
  const name = `${cf.functionName || "(anonymous)"}${file ? ` ${file}:${cf.lineNumber + 1}` : ""}`;
  const here = [...stack, name];
  if (node.selfSize > 0) {
    bySite.set(name, (bySite.get(name) ?? 0) + node.selfSize);
    const key = here.slice(-5).join(" < ");
    byStack.set(key, (byStack.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
  }
  for (const c of node.children) walk(c, here);
};
walk(profile.head, []);
const ops = result.ok;
const top = Number(o.top);
console.log(`${o.mode}, ${o.conns} clients: ${result.rate}/s over ${secs} s (${ops} operations, ${result.fail} failed); ` +
  `sampled ${o.live === "yes" ? "live at the end" : "promoted (alive at the end or collected by a major GC)"}: ${(total / 1e6).toFixed(2)} MB, ${(total / Math.max(1, ops)).toFixed(0)} bytes per operation`);
console.log("\n| bytes/op | share | allocated in |\n|---|---|---|");
for (const [k, v] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${(v / ops).toFixed(0)} | ${((100 * v) / total).toFixed(1)} % | ${k} |`);
console.log("\n| bytes/op | stack (innermost last) |\n|---|---|");
for (const [k, v] of [...byStack].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${(v / ops).toFixed(0)} | ${k} |`);
process.exit(0);

// Where workerd's CPU goes below JavaScript, per operation: the workerd process's CPU by thread
// (/proc, 10 ms ticks) during a load window, and with --perf FILE a `perf record -e cpu-clock`
// profile of it (a software clock: this VM has no PMU, so no instruction counts) summed into
// categories: kernel, JIT code, V8 builtins, V8 runtime, V8 GC, V8 compiler, KJ I/O, workerd,
// malloc. workerd's binary has symbols; JIT frames have none (workerd writes no perf map).
// Shares in a profile are steadier than CPU µs on a loaded box (bench/README.md, round 8).
//
//   node bench/bisect/native.mjs --bundle DIR [--mode reg|echo] [--secs 8] [--perf FILE]
//   (in your network namespace; --mode echo runs the runtime floor, bench/floor, and ignores --bundle)
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({ options: { bundle: { type: "string" }, mode: { type: "string", default: "reg" }, secs: { type: "string", default: "8" }, perf: { type: "string" }, conns: { type: "string", default: "50" } } });
const secs = Number(o.secs);
const work = mkdtempSync(join(tmpdir(), "sipedge-native-"));
const vars = { PIKE_DENSITY: "0", MAX_CONNECTIONS_PER_ADDRESS: "0", LOG_LEVEL: "warn" };
const edge = o.mode === "echo"
  ? await (await import("../floor/start.mjs")).startFloor({})
  : await (await import("../../scripts/stack.mjs")).startStack({ port: 0, stateDir: join(work, "state"), outdir: o.bundle, build: false, vars, benchUsers: 1000 });

/** This process's workerd descendants. */
function workerdPids() {
  const out = [];
  const walk = (pid) => {
    let children = [];
    try { children = execFileSync("pgrep", ["-P", String(pid)]).toString().trim().split("\n").filter(Boolean); } catch { /* none */ }
    for (const c of children) {
      try { if (readFileSync(`/proc/${c}/comm`, "utf8").trim() === "workerd") out.push(c); } catch { /* gone */ }
      walk(c);
    }
  };
  walk(process.pid);
  return out;
}

/** CPU ticks (user + system) per workerd thread. */
function threads(pids) {
  const m = new Map();
  for (const p of pids) for (const t of readdirSync(`/proc/${p}/task`)) {
    try {
      const s = readFileSync(`/proc/${p}/task/${t}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      m.set(`${p}/${t}`, { comm: s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")), ticks: Number(f[11]) + Number(f[12]) });
    } catch { /* thread gone */ }
  }
  return m;
}

const pids = workerdPids();
const lg = spawn(process.execPath, [join(HERE, "../loadgen.mjs"), "--url", edge.wsUrl, "--mode", o.mode, "--conns", o.conns, "--warmup", "2", "--duration", String(secs)], { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
lg.stdout.on("data", (d) => (out += d));
// The measured span: from 0.5 s into the window to 1 s before its end.
await new Promise((r) => setTimeout(r, 2500));
const before = threads(pids);
const perf = o.perf ? spawn("perf", ["record", "-q", "-e", "cpu-clock", "-F", "4000", "-g", "-p", pids.join(","), "-o", o.perf, "--", "sleep", String(secs - 1.5)], { stdio: "inherit" }) : undefined;
await new Promise((r) => setTimeout(r, (secs - 1.5) * 1000));
const after = threads(pids);
await new Promise((r) => lg.on("exit", r));
if (perf && perf.exitCode === null) await new Promise((r) => perf.on("exit", r));
const result = JSON.parse(out.trim().split("\n").pop());
const ops = result.rate * (secs - 1.5);
const rows = [...after].map(([k, v]) => ({ k, comm: v.comm, ticks: v.ticks - (before.get(k)?.ticks ?? 0) })).filter((r) => r.ticks > 0).sort((a, b) => b.ticks - a.ticks);
const total = rows.reduce((s, r) => s + r.ticks, 0);
const perOp = (ticks) => ((ticks * 10_000) / ops).toFixed(1);
console.log(`${o.mode}: ${result.rate}/s, ${result.fail} failed; workerd ${perOp(total)} µs CPU per operation`);
for (const r of rows.slice(0, 6)) console.log(`  thread ${r.k} ${r.comm}: ${perOp(r.ticks)} µs (${((100 * r.ticks) / total).toFixed(1)} %)`);
if (o.perf) printCategories(o.perf, (total * 10_000) / ops);
await edge.stop();
rmSync(work, { recursive: true, force: true });

/** The profile's samples summed by category, as shares and as µs of the measured CPU per operation. */
function printCategories(file, usPerOp) {
  const report = execFileSync("perf", ["report", "-i", file, "--no-children", "--sort", "dso,sym", "--stdio", "-g", "none"], { maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "ignore"] }).toString();
  const sums = new Map();
  for (const line of report.split("\n")) {
    const m = /^\s+([\d.]+)%\s+(.+?)\s+\[(.)\]\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pct, dso, kind, sym] = m;
    const category = categoryOf(dso, kind, sym);
    sums.set(category, (sums.get(category) ?? 0) + Number(pct));
  }
  for (const [category, pct] of [...sums].sort((a, b) => b[1] - a[1])) console.log(`  ${category.padEnd(16)} ${pct.toFixed(1).padStart(5)} %  ${((pct * usPerOp) / 100).toFixed(1).padStart(6)} µs`);
}

function categoryOf(dso, kind, sym) {
  if (kind === "k" || dso.includes("kernel")) return "kernel";
  if (dso.startsWith("[JIT]")) return "JIT code";
  if (/tcmalloc|TCMalloc/.test(sym) || dso.startsWith("libc")) return "malloc/libc";
  if (/Scaveng|MarkCompact|Marking|Sweep|v8::internal::Heap::|Evacuat|cppgc|WriteBarrier|RecordWrite/.test(sym)) return "V8 GC/barriers";
  if (/compiler::|Compile|Parser|Maglev|baseline|interpreter::/.test(sym)) return "V8 compiler";
  if (sym.startsWith("Builtins_")) return "V8 builtins";
  if (sym.includes("v8::")) return "V8 runtime/API";
  if (/kj::|kj_|tokio|capnp/.test(sym)) return "kj/io";
  if (sym.includes("workerd::")) return "workerd";
  return "other";
}
process.exit(0);

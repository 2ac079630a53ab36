// bench/run.mjs --series and its per-run counters: the edge's threads read from /proc once per
// second of the window, beside two probes of the machine itself (a CPU loop and a memory walk),
// to tell our code's cost from the box's speed (bench/README.md, "The two modes, round 9").
import { readdirSync, readFileSync } from "node:fs";

const HZ = 100; // USER_HZ: /proc/*/stat ticks per second
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Context switches of these processes, all threads summed: voluntary (a thread waited for I/O or
 * a lock: each is a wake-up, so per operation they say how many messages one wake-up carried)
 * and involuntary (preempted).
 */
export function contextSwitches(pids) {
  let voluntary = 0;
  let involuntary = 0;
  eachThread(pids, (dir) => {
    const st = readFileSync(`${dir}/status`, "utf8");
    voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
    involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
  });
  return { voluntary, involuntary };
}

/** Calls `read` with each thread's /proc directory and its "pid/tid"; a thread that ended meanwhile is skipped. */
function eachThread(pids, read) {
  for (const p of pids) {
    let tids = [];
    try { tids = readdirSync(`/proc/${p}/task`); } catch { continue; }
    for (const t of tids) {
      try { read(`/proc/${p}/task/${t}`, `${p}/${t}`); } catch { /* the thread ended */ }
    }
  }
}

/** CPU ticks (user + system) per thread of these processes, keyed "pid/tid". */
function threadTicks(pids) {
  const m = new Map();
  eachThread(pids, (dir, key) => {
    const s = readFileSync(`${dir}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    m.set(key, Number(f[11]) + Number(f[12]));
    m.set(`sys ${key}`, Number(f[12]));
  });
  return m;
}

/**
 * --series: the edge's threads and the machine read once per second of the window, each sample
 * on the window's second boundaries (the load generator counts completions per second from the
 * window's start). `machine` reads the machine's busy ticks. Resolves with the samples once the
 * window has ended.
 */
export async function sampleSeries(pids, ws, we, loadgenPid, machine) {
  cpuProbe(); // compiled before the first sample
  memProbe();
  const sample = () => ({ th: threadTicks(pids), lg: threadTicks([loadgenPid]), m: machine() });
  const samples = [sample()];
  for (let t = ws + 1000; t <= we; t += 1000) {
    await sleep(t - Date.now());
    samples.push({ ...sample(), probe: cpuProbe(), memProbe: memProbe() });
  }
  return samples;
}

/** Ticks summed over threads between two threadTicks maps: [all, of them in the kernel]. */
function tickDelta(a, b) {
  let all = 0;
  let sys = 0;
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? v);
    if (k.startsWith("sys ")) sys += d;
    else all += d;
  }
  return [all, sys];
}

/** A random cycle over 32 MB (pointer chasing: every step a cache and TLB miss) for memProbe. */
let chase;
export function memProbe() {
  if (chase === undefined) {
    const n = 1 << 23;
    chase = new Int32Array(n);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); const t = order[i]; order[i] = order[j]; order[j] = t; }
    for (let i = 0; i < n; i++) chase[order[i]] = order[(i + 1) % n];
  }
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    let p = r;
    for (let i = 0; i < 20_000; i++) p = chase[p];
    const us = (performance.now() - t0) * 1000;
    if (p === -1) best = 0; // keeps the walk's result alive
    best = Math.min(best, us);
  }
  return Math.round(best);
}

/**
 * The machine's speed now: the fastest of three runs of a fixed integer loop (no allocation, no
 * I/O), in µs of wall time. Preemption only lengthens a run, so the minimum is what the core
 * delivers; if it rises when every process's CPU per operation rises, the machine (the VM's host)
 * got slower, not our code. ~3 ms of this process's CPU per second (counted as the host's).
 */
export function cpuProbe() {
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    let x = 0x9e3779b9;
    for (let i = 0; i < 200_000; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; }
    const us = (performance.now() - t0) * 1000;
    if (x === 0) best = 0; // keeps the loop's result alive
    best = Math.min(best, us);
  }
  return Math.round(best);
}

/**
 * One row per second: operations completed, the edge's CPU per operation, the share of its
 * busiest thread over the window (the isolate's: workerd runs our JavaScript on one thread) and of the others
 * (V8's background compilation and GC helpers, KJ's I/O), and the machine's busy cores.
 */
export function seriesRows(samples, okPerSec) {
  const first = samples[0].th;
  const last = samples[samples.length - 1].th;
  // The isolate's thread: the busiest over the whole window.
  const main = [...last].filter(([k]) => !k.startsWith("sys ")).sort((x, y) => (y[1] - (first.get(y[0]) ?? y[1])) - (x[1] - (first.get(x[0]) ?? x[1])))[0]?.[0];
  const rows = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1].th;
    const b = samples[i].th;
    const [all, sys] = tickDelta(a, b);
    const [lgAll, lgSys] = tickDelta(samples[i - 1].lg, samples[i].lg);
    const mainTicks = main && b.has(main) ? b.get(main) - (a.get(main) ?? b.get(main)) : 0;
    const ops = okPerSec[i - 1] ?? 0;
    const us = (ticks) => (ops ? Math.round((ticks * 1e6) / HZ / ops) : null);
    const m = ((samples[i].m.busy - samples[i - 1].m.busy) / HZ).toFixed(2);
    rows.push({
      s: i, ops, edge_us: us(all), main_us: us(mainTicks), other_us: us(all - mainTicks), edge_sys_us: us(sys),
      loadgen_us: us(lgAll), loadgen_sys_us: us(lgSys), machine_cores: +m, probe_us: samples[i].probe, mem_probe_us: samples[i].memProbe,
    });
  }
  return rows;
}

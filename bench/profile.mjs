// `npm run bench -- --profile DIR`: CPU profiles of the edge's isolate (and the bridge) over the
// measurement window only, through the Chrome DevTools protocol's Profiler domain.
//
// workerd serves the DevTools inspector (Miniflare's `inspectorPort`, workerd's
// `--inspector-addr`); its /json list names one target per worker, `core:user:<name>` being ours.
// Node serves the same protocol with `--inspect`, so the bridge is profiled the same way and over
// the same window (`--cpu-prof` would also record its start-up and write only at a clean exit).
// A profile is a `.cpuprofile` file (Chrome DevTools and VS Code open it); the table printed from
// it is self time per function, divided by the operations the window completed.
import { writeFileSync } from "node:fs";
import WebSocket from "ws";

/** The inspector target whose id matches `want` (a RegExp), from `http://host:port/json/list`. */
export async function target(port, want) {
  for (let i = 0; i < 50; i++) {
    try {
      const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      const t = list.find((x) => want.test(x.id) || want.test(x.title ?? ""));
      if (t) return t.webSocketDebuggerUrl;
    } catch {
      // not listening yet (the bridge's inspector opens as it starts)
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no inspector target ${want} on port ${port}`);
}

/** A minimal CDP session: `send(method, params)` resolves with the result. */
export async function session(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  let next = 0;
  const pending = new Map();
  const listeners = new Map();
  ws.on("message", (data) => {
    const m = JSON.parse(String(data));
    if (m.id === undefined) listeners.get(m.method)?.(m.params);
    const p = m.id !== undefined ? pending.get(m.id) : undefined;
    if (!p) return; // other events (Runtime.consoleAPICalled ...) are not needed
    pending.delete(m.id);
    if (m.error) p.reject(new Error(`${p.method}: ${m.error.message}`));
    else p.resolve(m.result);
  });
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = ++next;
    pending.set(id, { resolve, reject, method });
    ws.send(JSON.stringify({ id, method, params }));
  });
  /** `fn` hears each event named `method` (one listener per method). */
  const on = (method, fn) => listeners.set(method, fn);
  return { send, on, close: () => ws.close() };
}

/**
 * Connects to the inspector on `port` (target id matching `want`) and readies the profiler.
 * `start()` begins sampling; `stop(file)` ends it, writes the `.cpuprofile` and returns it.
 */
export async function profiler(port, want, { intervalUs = 250 } = {}) {
  const s = await session(await target(port, want));
  await s.send("Profiler.enable");
  // Sampling every 250 µs keeps the profiler's own cost small beside a ~100 µs message, and still
  // gives tens of thousands of samples in a 10 s window.
  await s.send("Profiler.setSamplingInterval", { interval: intervalUs });
  return {
    start: () => s.send("Profiler.start"),
    async stop(file) {
      const { profile } = await s.send("Profiler.stop");
      writeFileSync(file, JSON.stringify(profile));
      return profile;
    },
    /**
     * The isolate's heap after a full collection (`HeapProfiler.collectGarbage`, then
     * `Runtime.getHeapUsage`): what the objects still referenced take, e.g. the transactions that
     * Timers L and M keep for 32 s. Taken after the window, so the collection costs it nothing.
     */
    async heapAfterGc() {
      await s.send("HeapProfiler.collectGarbage");
      const { usedSize, totalSize } = await s.send("Runtime.getHeapUsage");
      return { usedSize, totalSize };
    },
    /**
     * A heap snapshot (`HeapProfiler.takeHeapSnapshot`, streamed in chunks) written to `file`:
     * Chrome DevTools' Memory tab opens it and shows what holds what.
     */
    async heapSnapshot(file) {
      const chunks = [];
      s.on("HeapProfiler.addHeapSnapshotChunk", ({ chunk }) => chunks.push(chunk));
      await s.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      writeFileSync(file, chunks.join(""));
    },
    close: () => s.close(),
  };
}

/**
 * Self time per function in `profile`, largest first: rows of { name, where, selfMs, share }.
 * Each sample's time is the delta to the next sample (how DevTools attributes it).
 */
export function selfTimes(profile) {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const { samples, timeDeltas } = profile;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const dt = (i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0) / 1000;
    const n = byNode.get(samples[i]);
    const cf = n.callFrame;
    const file = cf.url ? cf.url.slice(cf.url.lastIndexOf("/") + 1) : "";
    const where = file ? `${file}:${cf.lineNumber + 1}` : "";
    const key = `${cf.functionName || "(anonymous)"}\u0000${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  return [...self].map(([k, selfMs]) => {
    const [name, where] = k.split("\u0000");
    return { name, where, selfMs, share: total ? selfMs / total : 0 };
  }).sort((a, b) => b.selfMs - a.selfMs);
}

/** A markdown table of the top `n` functions by self time, with µs per operation. */
export function topTable(title, profile, ops, n = 20) {
  const rows = selfTimes(profile);
  const busy = rows.filter((r) => r.name !== "(idle)").reduce((a, r) => a + r.selfMs, 0);
  const lines = [
    `\n${title}: ${ops} operations, ${busy.toFixed(0)} ms sampled busy (not idle), ${(busy * 1000 / Math.max(1, ops)).toFixed(1)} µs/op`,
    "| # | self ms | share | µs/op | function | where |",
    "|---|---|---|---|---|---|",
  ];
  rows.slice(0, n).forEach((r, i) => {
    lines.push(`| ${i + 1} | ${r.selfMs.toFixed(1)} | ${(r.share * 100).toFixed(1)} % | ${(r.selfMs * 1000 / Math.max(1, ops)).toFixed(1)} | ${r.name} | ${r.where} |`);
  });
  return lines.join("\n");
}

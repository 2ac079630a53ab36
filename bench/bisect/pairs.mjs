// Per variant label of a bench/bisect/ab-call.sh JSON file: medians of edge, bridge and edge +
// bridge CPU µs per call, link frames and WebSocket messages per call, calls/s; then each
// variant's n-th run against BASE's n-th run (same round, neighbouring minutes): the ratios and
// their median. On a shared box only these paired ratios mean something.
//
//   node bench/bisect/pairs.mjs OUT.jsonl BASE
import { readFileSync } from "node:fs";

const [file, base] = process.argv.slice(2);
const rows = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((r) => !r.summary);
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const labels = [...new Set(rows.map((r) => r.label))];
const of = (label) => rows.filter((r) => r.label === label);
for (const label of labels) {
  const rs = of(label);
  const m = (key, digits = 0) => +median(rs.map((r) => r[key])).toFixed(digits);
  console.log(`${label.padEnd(10)} runs ${rs.length}: edge ${m("edge_us_per_op")} + bridge ${m("bridge_us_per_op")} = ${m("proxy_us_per_op")} µs/call, ` +
    `frames ${m("link_frames_per_op", 2)} / messages ${m("link_messages_per_op", 2)} per call, ${m("rate_per_s", 1)} calls/s, p99 ${m("p99_ms", 1)} ms, ` +
    `not ours ${m("not_ours_cores", 2)} cores, failed ${rs.reduce((s, r) => s + r.fail, 0)}`);
}
const baseRuns = of(base);
for (const label of labels.filter((l) => l !== base)) {
  const pairs = of(label).map((r, i) => [r, baseRuns[i]]).filter(([, b]) => b !== undefined);
  const ratio = (key) => pairs.map(([r, b]) => r[key] / b[key]);
  const show = (a) => `median ${median(a).toFixed(3)} [${a.map((x) => x.toFixed(2)).join(" ")}]`;
  console.log(`${label} ÷ ${base}, ${pairs.length} pairs: edge ${show(ratio("edge_us_per_op"))}; edge + bridge ${show(ratio("proxy_us_per_op"))}`);
}

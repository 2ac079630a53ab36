// Per variant label in a bench/bisect/ab.sh JSON file: CPU µs per operation of every run with its
// foreign load ("not ours" cores), the median, and the median of the quiet runs (≤ QUIET cores).
//
//   node bench/bisect/summary.mjs OUT.jsonl [QUIET=0.3]
import { readFileSync } from "node:fs";

const [file, quietArg = "0.3"] = process.argv.slice(2);
const quiet = Number(quietArg);
const rows = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((r) => !r.summary);
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  return n === 0 ? "-" : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const labels = [...new Set(rows.map((r) => r.label))];
for (const label of labels) {
  const rs = rows.filter((r) => r.label === label);
  const calm = rs.filter((r) => r.not_ours_cores <= quiet);
  const fails = rs.reduce((s, r) => s + r.fail, 0);
  console.log(`${label.padEnd(12)} median ${String(median(rs.map((r) => r.edge_us_per_op))).padStart(5)} | quiet median ${String(median(calm.map((r) => r.edge_us_per_op))).padStart(5)} (${calm.length}) | ` +
    rs.map((r) => `${r.edge_us_per_op}@${r.not_ours_cores}`).join(" ") + (fails ? ` | ${fails} failed` : ""));
}

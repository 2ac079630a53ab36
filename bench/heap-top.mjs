// `node bench/heap-top.mjs FILE.heapsnapshot [N]`: the N (default 30) kinds of object that take
// the most of a heap snapshot (as `bench/run.mjs --profile DIR --heap-snapshot yes` writes), by
// self size: what a call leaves behind shows as counts near a multiple of the calls made.
import { readFileSync } from "node:fs";

const [file, n = "30"] = process.argv.slice(2);
if (!file) {
  console.error("usage: node bench/heap-top.mjs FILE.heapsnapshot [N]");
  process.exit(2);
}
const snap = JSON.parse(readFileSync(file, "utf8"));
const meta = snap.snapshot.meta;
const fields = meta.node_fields;
const types = meta.node_types[0];
const width = fields.length;
const at = { type: fields.indexOf("type"), name: fields.indexOf("name"), size: fields.indexOf("self_size") };
const rows = new Map();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + at.type]];
  const size = snap.nodes[i + at.size];
  // Strings are grouped by kind, not by text; objects by constructor name.
  const name = type === "object" || type === "closure" || type === "native" ? snap.strings[snap.nodes[i + at.name]] : "";
  const key = `${type}\t${name.slice(0, 60)}`;
  const row = rows.get(key) ?? { count: 0, size: 0 };
  row.count++;
  row.size += size;
  total += size;
  rows.set(key, row);
}
console.log(`${(total / 1e6).toFixed(1)} MB in ${snap.nodes.length / width} nodes`);
console.log("| self KB | count | type | name |\n|---|---|---|---|");
for (const [key, r] of [...rows].sort((a, b) => b[1].size - a[1].size).slice(0, Number(n))) {
  const [type, name] = key.split("\t");
  console.log(`| ${(r.size / 1024).toFixed(0)} | ${r.count} | ${type} | ${name} |`);
}

// What an acc batch costs the local D1 (workerd's SQLite behind Miniflare, on the edge's thread in
// `npm start` and the benchmarks): workerd's CPU per batch for a bare D1 call (`SELECT 1`), a
// one-row acc batch and an N-row one, written as src/modules/acc/writer.ts writes them (one
// INSERT … SELECT over `json_each`, 18 columns). The schema is migrations/ of the tree given
// (default: this one), so two trees compare two schemas. Variants alternate, every other round
// reversed; figures are medians. The machine should be quiet: this is a CPU measurement.
//
//   node bench/acc-d1.mjs [--root DIR] [--rows 60] [--iters 100] [--rounds 3]
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({ options: { root: { type: "string" }, rows: { type: "string", default: "60" }, iters: { type: "string", default: "100" }, rounds: { type: "string", default: "3" } } });
const root = resolve(o.root ?? join(HERE, ".."));
// The acc writer's columns and statement (src/modules/acc/writer.ts), and a gateway call's row.
const COLUMNS = ["method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time", "time_ms", "end_ms", "src_user", "src_domain", "src_ip", "dst_ouser", "dst_user", "dst_domain", "dst", "branches", "shard"];
const worker = `
const INSERT = "INSERT INTO acc (${COLUMNS.join(", ")}) SELECT ${COLUMNS.map((_, i) => `json_extract(value, '$[${i}]')`).join(", ")} FROM json_each(?1)";
function row(i, method) {
  const t = Date.now(), n = "+4930" + (1000000 + Math.floor(Math.random() * 9000000));
  return [method, "f" + Math.random().toString(36).slice(2), "t" + Math.random().toString(36).slice(2), Math.random().toString(36).slice(2) + "-" + i + "@192.0.2.7", "200", "OK",
    new Date(t).toISOString().slice(0, 19).replace("T", " "), t - 3000, t, "user" + (i % 1000), "sip.example.test", "127.0.0.2", n, n, "sip.example.test", "127.0.1.1:7070",
    JSON.stringify([{ uri: "sip:" + n + "@127.0.1.1:7070", dst: "127.0.1.1:7070", status: 200, timedOut: false }]), String(i % 16)];
}
export default { async fetch(req, env) {
  const u = new URL(req.url), kind = u.searchParams.get("kind"), n = Number(u.searchParams.get("n"));
  const rows = Array.from({ length: n }, (_, i) => row(i, i % 2 ? "BYE" : "INVITE"));
  if (kind === "select") await env.DB.batch([env.DB.prepare("SELECT 1")]);
  else if (kind === "insert") await env.DB.batch([env.DB.prepare(INSERT).bind(JSON.stringify(rows))]);
  return new Response("ok");
} };`;

const mf = new Miniflare(convertV4MiniflareOptions({ name: "acc-d1", modules: true, script: worker, d1Databases: ["DB"], compatibilityDate: "2025-09-01" }));
await mf.ready;
const db = await mf.getD1Database("DB");
const dir = join(root, "migrations");
for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
  for (const stmt of readFileSync(join(dir, file), "utf8").replace(/--.*$/gm, "").split(";")) if (stmt.trim()) await db.prepare(stmt).run();
}
const indexes = await db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'acc' AND sql IS NOT NULL").all();

/** CPU ms of this process's children (workerd), from /proc. */
function childCpuMs() {
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(f[1]) === process.pid) ticks += Number(f[11]) + Number(f[12]);
    } catch { /* gone */ }
  }
  return ticks * 10;
}

const rows = Number(o.rows), iters = Number(o.iters);
const variants = [["empty request", "none", 0], ["D1 call (SELECT 1)", "select", 0], ["1 acc row", "insert", 1], [`${rows} acc rows`, "insert", rows]];
const results = new Map(variants.map(([name]) => [name, []]));
for (let r = 0; r < Number(o.rounds); r++) {
  for (const [name, kind, n] of r % 2 ? [...variants].reverse() : variants) {
    const url = `http://acc.test/?kind=${kind}&n=${n}`;
    for (let i = 0; i < 10; i++) await (await mf.dispatchFetch(url)).text();
    const before = childCpuMs();
    for (let i = 0; i < iters; i++) await (await mf.dispatchFetch(url)).text();
    results.get(name).push(((childCpuMs() - before) * 1000) / iters);
  }
}
await mf.dispose();
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`acc indexes (${root}/migrations): ${indexes.results.map((i) => i.sql).join("; ")}`);
for (const [name, us] of results) console.log(`${name.padEnd(22)} ${String(Math.round(median(us))).padStart(6)} µs of workerd CPU per request (${us.map(Math.round).join(", ")})`);
const [empty, , one, many] = [...results.values()].map(median);
console.log(`per acc row: ${((many - one) / (rows - 1)).toFixed(1)} µs; per batch beyond its rows: ${Math.round(one - empty - (many - one) / (rows - 1))} µs`);

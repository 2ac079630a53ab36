// The D1 registration index (durable-objects/location-index.ts) on a real SQLite behind the D1
// interface: batched changes from several shards, applied by version whatever their order.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { IndexBatcher, indexStatements, logBindingChanges } from "../../../durable-objects/location-index.ts";
import { createLogger } from "../../../src/log.ts";
import type { Binding } from "../../../src/modules/registrar/index.ts";
import { applyMigrations } from "../../../src/provisioning/migrate.ts";
import { SqliteD1 } from "../provisioning/sqlite-db.ts";

const MIGRATIONS = path.resolve(import.meta.dirname, "../../../migrations");
const NOW = Date.now();
const AOR = "alice@sip.example.test";

async function database(): Promise<SqliteD1> {
  const db = new SqliteD1();
  const files = readdirSync(MIGRATIONS).filter((n) => n.endsWith(".sql")).sort();
  await applyMigrations(db, files.map((name) => ({ name, sql: readFileSync(path.join(MIGRATIONS, name), "utf8") })));
  return db;
}

const binding = (name: string, flow: string, extra: Partial<Binding> = {}): Binding => ({
  aor: AOR, contact: `sip:${name}@h.invalid;transport=ws`, expires: NOW + 600_000, q: -1, callId: "c", cseq: 1, lastModified: NOW, flowToken: flow, userAgent: "JsSIP 3.13", ...extra,
});

function batcher(db: SqliteD1) {
  const lines: Record<string, unknown>[] = [];
  const flushes: Promise<unknown>[] = [];
  const b = new IndexBatcher({ db, log: createLogger("info", (l) => lines.push(JSON.parse(l))), waitUntil: (p) => flushes.push(p), flushMs: 10_000 });
  return { b, lines };
}

const rows = async (db: SqliteD1) =>
  (await db.prepare("SELECT aor, contact, flow_token, flow_shard, user_agent, version FROM location_index ORDER BY contact").all<{ contact: string; flow_token: string; flow_shard: string; version: number }>()).results;

describe("registration index", () => {
  it("keeps its rows when migrations/0006 rebuilds its tables WITHOUT ROWID, and its flow index", async () => {
    const db = new SqliteD1();
    const files = readdirSync(MIGRATIONS).filter((n) => n.endsWith(".sql")).sort();
    const load = (name: string) => ({ name, sql: readFileSync(path.join(MIGRATIONS, name), "utf8") });
    await applyMigrations(db, files.filter((n) => n < "0006").map(load));
    await db.batch(indexStatements(db, [{ kind: "set", aor: AOR, version: 3, bindings: [binding("a", "0.fa"), binding("b", "1.fb")] }], NOW));
    const before = await rows(db);
    await applyMigrations(db, files.map(load));
    expect(await rows(db)).toEqual(before);
    expect(before).toHaveLength(2);
    expect(db.db.prepare("SELECT version FROM location_index_version WHERE aor = ?").get(AOR)).toEqual({ version: 3 });
    const tables = db.db.prepare("SELECT name, sql FROM sqlite_master WHERE name LIKE 'location_index%' ORDER BY name").all() as { name: string; sql: string }[];
    expect(tables.map((t) => t.name)).toEqual(["location_index", "location_index_flow_idx", "location_index_version"]);
    for (const t of tables.filter((x) => x.name !== "location_index_flow_idx")) expect(t.sql).toMatch(/WITHOUT ROWID$/);
    expect(db.db.prepare("EXPLAIN QUERY PLAN DELETE FROM location_index WHERE flow_token IN ('0.fa')").all().map((r) => (r as { detail: string }).detail).join()).toContain("location_index_flow_idx");
  });

  it("writes a changed set, and deletes a closed flow's rows", async () => {
    const db = await database();
    const { b } = batcher(db);
    b.set(AOR, 1, [binding("a", "3.f1"), binding("b", "5.f2")]);
    expect(b.pending).toBe(1);
    await b.flush();
    expect((await rows(db)).map((r) => [r.contact, r.flow_shard, r.version])).toEqual([
      ["sip:a@h.invalid;transport=ws", "3", 1],
      ["sip:b@h.invalid;transport=ws", "5", 1],
    ]);
    b.flowGone(AOR, 2, "3.f1");
    await b.flush();
    expect((await rows(db)).map((r) => r.flow_token)).toEqual(["5.f2"]);
  });

  it("applies each AOR's newest set whatever order the shards flush in", async () => {
    const db = await database();
    const shardA = batcher(db).b;
    const shardB = batcher(db).b;
    shardB.set(AOR, 3, [binding("new", "2.f9")]);
    shardA.set(AOR, 2, [binding("old", "1.f1")]);
    await shardB.flush();
    await shardA.flush(); // late and older: not applied
    expect((await rows(db)).map((r) => [r.contact, r.version])).toEqual([["sip:new@h.invalid;transport=ws", 3]]);
    // A closed flow outranks an older set that still had it.
    const shardC = batcher(db).b;
    shardC.flowGone(AOR, 4, "2.f9");
    await shardC.flush();
    shardA.set(AOR, 3, [binding("new", "2.f9")]);
    await shardA.flush();
    expect(await rows(db)).toEqual([]);
  });

  it("coalesces a busy AOR into one change per flush, in a fixed number of statements for any number of AORs", async () => {
    const db = await database();
    const { b } = batcher(db);
    b.set(AOR, 1, [binding("a", "3.f1"), binding("b", "3.f2")]);
    b.flowGone(AOR, 2, "3.f1");
    b.set(AOR, 1, [binding("stale", "3.f0")]); // older than what is pending: ignored
    for (let i = 0; i < 300; i++) b.set(`user${i}@sip.example.test`, 1, [binding(`u${i}`, `4.g${i}`, { aor: `user${i}@sip.example.test` })]);
    expect(b.pending).toBe(301);
    const before = db.queries;
    await b.flush();
    expect(db.queries - before).toBe(3); // versions, sets, rows (no flow deletes pending)
    const mine = (await rows(db)).filter((r) => r.flow_token.startsWith("3."));
    expect(mine.map((r) => [r.contact, r.version])).toEqual([["sip:b@h.invalid;transport=ws", 2]]);
    expect((await db.prepare("SELECT count(*) AS n FROM location_index").first<{ n: number }>())?.n).toBe(301);
    expect(indexStatements(db, [])).toEqual([]);
  });

  it("waits longer after a large write (a reconnect storm), and a second again once writes are small", async () => {
    const db = await database();
    const b = new IndexBatcher({ db, log: createLogger("error"), waitUntil: () => undefined, flushMs: 1000, busyFlushMs: 5000, busyAors: 8 });
    expect(b.wait).toBe(1000);
    for (let i = 0; i < 8; i++) b.set(`user${i}@sip.example.test`, 1, [binding(`u${i}`, `4.g${i}`, { aor: `user${i}@sip.example.test` })]);
    await b.flush();
    expect(b.wait).toBe(1000); // 8 AORs: not busy
    for (let i = 0; i < 9; i++) b.set(`user${i}@sip.example.test`, 2, [binding(`v${i}`, `4.h${i}`, { aor: `user${i}@sip.example.test` })]);
    await b.flush();
    expect(b.wait).toBe(5000);
    b.set(AOR, 1, [binding("a", "3.f1")]);
    await b.flush();
    expect(b.wait).toBe(1000);
    expect((await db.prepare("SELECT count(*) AS n FROM location_index").first<{ n: number }>())?.n).toBe(10);
  });

  it("schedules the next write by that wait", async () => {
    const db = await database();
    vi.useFakeTimers();
    try {
      const flushes: Promise<unknown>[] = [];
      const b = new IndexBatcher({ db, log: createLogger("error"), waitUntil: (p) => flushes.push(p), flushMs: 1000, busyFlushMs: 5000, busyAors: 2 });
      for (let i = 0; i < 3; i++) b.set(`user${i}@sip.example.test`, 1, [binding(`u${i}`, `4.g${i}`, { aor: `user${i}@sip.example.test` })]);
      vi.advanceTimersByTime(999);
      expect(flushes).toHaveLength(0);
      vi.advanceTimersByTime(1);
      expect(flushes).toHaveLength(1);
      await flushes[0];
      b.set(AOR, 1, [binding("a", "3.f1")]);
      vi.advanceTimersByTime(4999);
      expect(flushes).toHaveLength(1);
      vi.advanceTimersByTime(1);
      expect(flushes).toHaveLength(2);
      await flushes[1];
      expect(b.pending).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("keeps changes through a D1 failure; a missing table is reported once and turns the index off", async () => {
    const db = await database();
    let down = true;
    const flaky = { prepare: (q: string) => db.prepare(q), batch: (s: Parameters<SqliteD1["batch"]>[0]) => (down ? Promise.reject(new Error("D1 unavailable")) : db.batch(s)) };
    const lines: Record<string, unknown>[] = [];
    const b = new IndexBatcher({ db: flaky, log: createLogger("info", (l) => lines.push(JSON.parse(l))), waitUntil: () => undefined, flushMs: 10_000 });
    b.set(AOR, 1, [binding("a", "3.f1")]);
    await b.flush();
    expect(lines[0]).toMatchObject({ level: "warn", msg: "location index write failed, kept for the next flush", pending: 1 });
    down = false;
    await b.flush();
    expect(await rows(db)).toHaveLength(1);
    const bare = new SqliteD1();
    const errors: Record<string, unknown>[] = [];
    const off = new IndexBatcher({ db: bare, log: createLogger("info", (l) => errors.push(JSON.parse(l))), waitUntil: () => undefined });
    off.set(AOR, 1, [binding("a", "3.f1")]);
    await off.flush();
    off.set(AOR, 2, [binding("b", "3.f2")]);
    await off.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toMatch(/apply the D1 migrations/);
    expect(off.pending).toBe(0);
  });

  it("logs one info line per binding registered or removed, not per refresh", () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger("info", (l) => lines.push(JSON.parse(l)));
    const a = binding("a", "3.f1");
    logBindingChanges(log, AOR, [], [a], NOW);
    logBindingChanges(log, AOR, [a], [{ ...a, expires: a.expires + 60_000, cseq: 2 }], NOW);
    logBindingChanges(log, AOR, [a], [], NOW);
    logBindingChanges(log, AOR, [{ ...a, expires: NOW - 1 }], [], NOW);
    expect(lines.map((l) => [l.msg, l.reason])).toEqual([["registered", undefined], ["unregistered", "removed"], ["unregistered", "expired"]]);
    expect(lines[0]).toMatchObject({ aor: AOR, contact: a.contact, expiresS: 600, userAgent: "JsSIP 3.13" });
  });
});

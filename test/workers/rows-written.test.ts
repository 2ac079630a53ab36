// Rows written are what the platform bills for storage ($1.00 per million beyond the included
// 50 million, for D1 and for Durable Objects' SQLite alike), and every index entry a write adds
// or changes is one more row. These count them, as the runtime does, on the real write paths:
// the Location object's SQLite (`cursor.rowsWritten`, and `setAlarm`, billed as one row), and the
// D1 statements of accounting and of the registration index (`meta.rows_written`). The README's
// capacity model takes its storage prices from these figures.
import initSql from "../../migrations/0001_init.sql?raw";
import indexAccSql from "../../migrations/0003_location_index_acc.sql?raw";
import accTimeSql from "../../migrations/0005_acc_invite_time_idx.sql?raw";
import indexRowsSql from "../../migrations/0006_location_index_without_rowid.sql?raw";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { locationOf, type Location } from "../../durable-objects/location.ts";
import { meteredStorage } from "../../durable-objects/metered-storage.ts";
import { indexStatements } from "../../durable-objects/location-index.ts";
import { AccWriter, type AccRecord } from "../../src/modules/acc/index.ts";
import type { Binding, RegisterInput } from "../../src/modules/registrar/index.ts";
import { applyMigrations } from "../../src/provisioning/migrate.ts";
import type { SqlDatabase } from "../../src/provisioning/db.ts";

beforeAll(async () => {
  await applyMigrations(env.DB, [
    { name: "0001_init.sql", sql: initSql },
    { name: "0003_location_index_acc.sql", sql: indexAccSql },
    { name: "0005_acc_invite_time_idx.sql", sql: accTimeSql },
    { name: "0006_location_index_without_rowid.sql", sql: indexRowsSql },
  ]);
});

/** The rows a Location object writes from now on: its SQL statements' and its alarms'. */
async function meter(aor: string): Promise<{ rows: () => Promise<number> }> {
  const stub = locationOf(env.LOCATION, aor);
  await runInDurableObject(stub, (instance: Location, state) => {
    const counted = instance as unknown as { sql: SqlStorage; rowsWritten: number };
    counted.rowsWritten = 0;
    const sql = state.storage.sql;
    counted.sql = {
      exec: (query: string, ...bindings: unknown[]) => {
        const cursor = sql.exec(query, ...bindings);
        const rows = cursor.toArray();
        counted.rowsWritten += cursor.rowsWritten;
        return Object.assign(rows[Symbol.iterator](), { toArray: () => rows, one: () => rows[0], rowsWritten: cursor.rowsWritten });
      },
    } as unknown as SqlStorage;
    const setAlarm = state.storage.setAlarm.bind(state.storage);
    state.storage.setAlarm = (at: number | Date) => {
      counted.rowsWritten += 1;
      return setAlarm(at);
    };
  });
  return {
    rows: () => runInDurableObject(stub, (instance: Location) => (instance as unknown as { rowsWritten: number }).rowsWritten),
  };
}

/**
 * The rows `step` made the object write, as counted here; the reply's own `rowsWritten` (what the
 * shard adds to its metric) must say the same.
 */
async function measured(aor: string, step: () => Promise<object>): Promise<number> {
  const m = await meter(aor);
  const reply = (await step()) as { rowsWritten?: number };
  const rows = await m.rows();
  expect(reply.rowsWritten).toBe(rows);
  return rows;
}

function register(aor: string, cseq: number, contact: string, expires: number, flowToken = "0.flow-a"): RegisterInput {
  return { aor, callId: `reg-${aor}`, cseq, contacts: [{ uri: contact, expires }], flowToken };
}

describe("rows written: the Location object", () => {
  it("an AOR's first registration, a second device, refreshes and a removal", async () => {
    const aor = `rows-${crypto.randomUUID().slice(0, 8)}@localhost`;
    const loc = locationOf(env.LOCATION, aor);
    // A first registration also creates the object's tables (CREATE TABLE writes the schema).
    await loc.lookup();
    const first = await measured(aor, () => loc.save(register(aor, 1, "sip:a@127.0.0.2;transport=ws", 600)));
    // The binding (1), the meta rows schema, version and aor (1 each), the expiry alarm (1), and
    // the two tables' creation (4). Before the tables were WITHOUT ROWID (schema 1) each row also
    // had its primary-key entry: 15 in all.
    expect(first).toBe(9);

    // A second device: its binding (1; 2 in schema 1), the version updated in place (1). Its
    // expiry is no earlier than the alarm's, so no alarm is set.
    expect(await measured(aor, () => loc.save(register(aor, 2, "sip:b@127.0.0.3;transport=ws", 600, "0.flow-b")))).toBe(2);

    // A refresh within 30 s of the last on its flow gets a copy of the binding list for its
    // shard's cache, and the object records how long such copies may live: a new meta row (1),
    // rewritten at most once every 30 s, only for clients that refresh that often.
    expect(await measured(aor, () => loc.save(register(aor, 3, "sip:a@127.0.0.2;transport=ws", 600)))).toBe(1);
    // A refresh whose stored expiry is still more than half the new one away writes nothing.
    expect(await measured(aor, () => loc.save(register(aor, 4, "sip:a@127.0.0.2;transport=ws", 600)))).toBe(0);

    // A refresh past that horizon updates the binding's row in place: one row, not a delete and
    // an insert of the row and its primary-key entry (two, with INSERT OR REPLACE).
    expect(await measured(aor, () => loc.save(register(aor, 5, "sip:a@127.0.0.2;transport=ws", 3600)))).toBe(1);

    // Removing a device: the row deleted (1) and the version (1).
    expect(await measured(aor, () => loc.save(register(aor, 6, "sip:b@127.0.0.3;transport=ws", 0, "0.flow-b")))).toBe(2);

    // A closed flow takes its bindings: the row (1) and the version (1); a flow with none, nothing.
    expect(await measured(aor, () => loc.removeFlow("0.flow-a"))).toBe(2);
    expect(await measured(aor, () => loc.removeFlow("0.flow-a"))).toBe(0);
  });
});

/** A D1 database that adds up the rows its batches wrote, as D1 reports them. */
function meteredD1(): SqlDatabase & { written: number } {
  const db = {
    written: 0,
    prepare: (query: string) => env.DB.prepare(query),
    async batch(statements: Parameters<SqlDatabase["batch"]>[0]) {
      const results = await env.DB.batch(statements as D1PreparedStatement[]);
      for (const r of results) db.written += r.meta.rows_written;
      return results;
    },
  };
  return db;
}

function accRecord(method: "INVITE" | "BYE", callId: string, at: number): AccRecord {
  return {
    method, fromTag: "ft", toTag: "tt", callId, sipCode: 200, sipReason: "OK", timeMs: at, endMs: at + 40,
    srcUser: "alice", srcDomain: "sip.example.test", srcIp: "127.0.2.1", dstOuser: "15551234567", dstUser: "15551234567",
    dstDomain: "sip.example.test", dst: "127.0.1.1:7070", branches: [], shard: "0",
  };
}

describe("rows written: D1", () => {
  it("accounting: an answered call's two records write five rows (INVITE: row, time and Call-ID entries; BYE: row, Call-ID entry)", async () => {
    const db = meteredD1();
    let reported = 0;
    const writer = new AccWriter({ db, flushMs: 60_000, onWritten: (_records, rows) => (reported += rows) });
    const calls = 50;
    for (let i = 0; i < calls; i++) writer.push(accRecord("INVITE", `rows-call-${i}`, 1_000 + i));
    for (let i = 0; i < calls; i++) writer.push(accRecord("BYE", `rows-call-${i}`, 5_000 + i));
    await writer.flush();
    // One statement of 100 records: 5 rows per call, and AUTOINCREMENT's counter once.
    expect(db.written).toBe(5 * calls + 1);
    // What the shard adds to sipedge_storage_rows_written_total{store="acc"}.
    expect(reported).toBe(db.written);
  });

  it("the registration index: a new AOR's binding writes three rows, a re-registration on a new flow four", async () => {
    const db = meteredD1();
    const now = Date.now();
    const aor = `rows-index-${crypto.randomUUID().slice(0, 8)}@localhost`;
    const binding = (flowToken: string): Binding => ({
      aor, contact: "sip:a@127.0.0.2;transport=ws", expires: now + 600_000, q: 1, callId: "c", cseq: 1, lastModified: now, flowToken,
    });
    // WITHOUT ROWID tables (migrations/0006): the version row (1), the binding row (1) and its
    // flow entry (1); with a rowid beside each primary key they were 2 + 3.
    await db.batch(indexStatements(db, [{ kind: "set", aor, version: 1, bindings: [binding("0.flow-a")] }], now));
    expect(db.written).toBe(3);
    // The version updated in place (1), the old row deleted (1), the new one inserted (2).
    db.written = 0;
    await db.batch(indexStatements(db, [{ kind: "set", aor, version: 2, bindings: [binding("0.flow-b")] }], now));
    expect(db.written).toBe(4);
  });
});

describe("rows written: a shard's key-value storage and alarm", () => {
  it("counts one row per key put or deleted and one per setAlarm, and stores what it is given", async () => {
    const stub = locationOf(env.LOCATION, `rows-kv-${crypto.randomUUID().slice(0, 8)}@localhost`);
    await runInDurableObject(stub, async (_: Location, state) => {
      let rows = 0;
      const storage = meteredStorage(state.storage, (n) => (rows += n));
      await storage.put("one", 1);
      await storage.put({ a: 1, b: 2, c: 3 });
      expect(rows).toBe(4);
      expect(await storage.get(["one", "a", "b", "c"])).toEqual(new Map([["a", 1], ["b", 2], ["c", 3], ["one", 1]]));
      await storage.delete("one");
      await storage.delete(["a", "b"]);
      expect(rows).toBe(7);
      await storage.setAlarm(Date.now() + 60_000);
      expect(rows).toBe(8);
      expect(await storage.getAlarm()).not.toBeNull();
      await storage.deleteAlarm();
      // Reads and the rest pass through uncounted.
      expect(await storage.get("c")).toBe(3);
      expect(rows).toBe(8);
    });
  });
});

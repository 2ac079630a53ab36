// The D1 registration index a Location object keeps (durable-objects/location-index.ts), on a real
// SQLite behind the D1 interface: rows follow binding-set changes in order, a busy spell writes the
// latest set once, and a database without the table leaves the object working.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LocationIndex } from "../../../durable-objects/location-index.ts";
import { createLogger } from "../../../src/log.ts";
import type { Binding } from "../../../src/modules/registrar/index.ts";
import { applyMigrations } from "../../../src/provisioning/migrate.ts";
import { SqliteD1 } from "../provisioning/sqlite-db.ts";

const MIGRATIONS = path.resolve(import.meta.dirname, "../../../migrations");
const NOW = 1_800_000_000_000;

async function database(): Promise<SqliteD1> {
  const db = new SqliteD1();
  const files = readdirSync(MIGRATIONS).filter((n) => n.endsWith(".sql")).sort();
  await applyMigrations(db, files.map((name) => ({ name, sql: readFileSync(path.join(MIGRATIONS, name), "utf8") })));
  return db;
}

const binding = (contact: string, extra: Partial<Binding> = {}): Binding => ({
  aor: "alice@sip.example.test", contact, expires: NOW + 600_000, q: -1, callId: "c", cseq: 1, lastModified: NOW, flowToken: "3.abc", userAgent: "JsSIP 3.13", ...extra,
});

function index(db: SqliteD1 | undefined) {
  const lines: Record<string, unknown>[] = [];
  const pending: Promise<unknown>[] = [];
  const idx = new LocationIndex({ db, log: createLogger("info", (l) => lines.push(JSON.parse(l))), waitUntil: (p) => pending.push(p), keyOf: (b) => `c:${b.contact}` });
  return { idx, lines, settle: () => Promise.all(pending) };
}

const rows = async (db: SqliteD1) => (await db.prepare("SELECT aor, contact, flow_shard, user_agent, version FROM location_index ORDER BY contact").all()).results;

describe("registration index", () => {
  it("writes the AOR's bindings on a change and removes them when the set empties, logging each registration", async () => {
    const db = await database();
    const { idx, lines, settle } = index(db);
    const a = binding("sip:a@h.invalid;transport=ws");
    idx.changed("alice@sip.example.test", [], [a], 1, NOW);
    await settle();
    expect(await rows(db)).toEqual([{ aor: "alice@sip.example.test", contact: a.contact, flow_shard: "3", user_agent: "JsSIP 3.13", version: 1 }]);
    expect(lines[0]).toMatchObject({ level: "info", msg: "registered", aor: "alice@sip.example.test", contact: a.contact, expiresS: 600, userAgent: "JsSIP 3.13" });
    idx.changed("alice@sip.example.test", [a], [], 2, NOW);
    await settle();
    expect(await rows(db)).toEqual([]);
    expect(lines[1]).toMatchObject({ msg: "unregistered", reason: "removed" });
    idx.changed("alice@sip.example.test", [{ ...a, expires: NOW - 1 }], [], 3, NOW);
    expect(lines[2]).toMatchObject({ msg: "unregistered", reason: "expired" });
  });

  it("writes only the latest set after changes made while a write was running, never an older one last", async () => {
    const db = await database();
    const { idx, settle } = index(db);
    const sets = [["a"], ["a", "b"], ["b"], ["b", "c"]].map((names) => names.map((n) => binding(`sip:${n}@h.invalid`)));
    let before: Binding[] = [];
    const queries = db.queries;
    sets.forEach((set, i) => {
      idx.changed("alice@sip.example.test", before, set, i + 1, NOW);
      before = set;
    });
    await settle();
    const written = db.queries - queries;
    expect((await rows(db)).map((r) => [r.contact, r.version])).toEqual([
      ["sip:b@h.invalid", 4],
      ["sip:c@h.invalid", 4],
    ]);
    // One write for the first change (delete + 1 insert), one for the latest (delete + 2
    // inserts): the two in between were never written.
    expect(written).toBe(5);
  });

  it("leaves the Location object working when the table is missing, and says to apply the migrations", async () => {
    const db = new SqliteD1();
    const { idx, lines, settle } = index(db);
    idx.changed("alice@sip.example.test", [], [binding("sip:a@h.invalid")], 1, NOW);
    await settle();
    expect(lines.find((l) => l.level === "error")?.msg).toMatch(/apply the D1 migrations/);
    idx.changed("alice@sip.example.test", [], [binding("sip:b@h.invalid")], 2, NOW);
    await settle();
    expect(lines.filter((l) => l.level === "error")).toHaveLength(1);
  });
});

import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { applyMigrations, splitStatements } from "../../../src/provisioning/migrate.ts";
import { SqliteD1 } from "./sqlite-db.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const init = { name: "0001_init.sql", sql: await readFile(path.join(ROOT, "migrations/0001_init.sql"), "utf8") };

describe("splitStatements", () => {
  it("splits at semicolons outside quotes and comments, as wrangler applies a migration file", () => {
    const sql = "-- a comment; not a statement\nCREATE TABLE t (a TEXT DEFAULT 'x;y');\n/* block; */ INSERT INTO t VALUES ('it''s; fine');\nSELECT \"a;b\" FROM t";
    expect(splitStatements(sql)).toEqual(["CREATE TABLE t (a TEXT DEFAULT 'x;y')", "INSERT INTO t VALUES ('it''s; fine')", 'SELECT "a;b" FROM t']);
  });

  it("finds every CREATE and INSERT of the initial migration", () => {
    const statements = splitStatements(init.sql);
    const expected = (init.sql.match(/^(CREATE|INSERT)\b/gm) ?? []).length;
    expect(statements.length).toBe(expected);
    expect(statements.every((s) => /^(CREATE|INSERT)\b/.test(s))).toBe(true);
  });
});

describe("applyMigrations", () => {
  it("creates Kamailio's tables with their version rows and records the file in d1_migrations", async () => {
    const db = new SqliteD1();
    expect(await applyMigrations(db, [init])).toEqual(["0001_init.sql"]);
    const versions = db.db.prepare("SELECT table_name, table_version FROM version ORDER BY table_name").all();
    expect(versions).toContainEqual({ table_name: "subscriber", table_version: 7 });
    expect(versions).toContainEqual({ table_name: "dispatcher", table_version: 4 });
    expect(db.db.prepare("SELECT name FROM d1_migrations").all()).toEqual([{ name: "0001_init.sql" }]);
  });

  it("applies nothing on a second run (a restart of npm start)", async () => {
    const db = new SqliteD1();
    await applyMigrations(db, [init]);
    expect(await applyMigrations(db, [init])).toEqual([]);
  });

  it("applies a failing migration not at all, and records nothing", async () => {
    const db = new SqliteD1();
    await applyMigrations(db, [init]);
    const bad = { name: "0002_bad.sql", sql: "CREATE TABLE extra (a INTEGER);\nINSERT INTO no_such_table VALUES (1);" };
    await expect(applyMigrations(db, [init, bad])).rejects.toThrow(/no_such_table/);
    expect(db.db.prepare("SELECT name FROM sqlite_master WHERE name = 'extra'").all()).toEqual([]);
    expect(db.db.prepare("SELECT count(*) AS n FROM d1_migrations").get()).toEqual({ n: 1 });
  });
});

import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { importText } from "../../../src/provisioning/import.ts";
import { applyMigrations } from "../../../src/provisioning/migrate.ts";
import { SqliteD1 } from "./sqlite-db.ts";

// The seed's own db_text files (test/fixtures/seed, copied from the seed as data) import as they
// are; what they load is what the OpenSIPS configuration in the seed would read from them.
const ROOT = path.resolve(import.meta.dirname, "../../..");
const SEED = path.join(ROOT, "test/fixtures/seed");
const init = { name: "0001_init.sql", sql: await readFile(path.join(ROOT, "migrations/0001_init.sql"), "utf8") };

let db: SqliteD1;
beforeEach(async () => {
  db = new SqliteD1();
  await applyMigrations(db, [init]);
});

async function load(file: string) {
  return importText(db, await readFile(path.join(SEED, file), "utf8"), { file, domain: "sip.example.test" });
}

describe("the seed's db_text files import unchanged", () => {
  it.each([
    ["tables/version", "version", 3],
    ["minimal/subscriber", "subscriber", 1],
    ["tables/subscriber", "subscriber", 0],
    ["minimal/location", "location", 0],
    ["tables/location", "location", 0],
    ["tables/aliases", "aliases", 0],
    ["tables/dispatcher", "dispatcher", 2],
    ["dispatcher.list", "dispatcher", 5],
  ])("%s → %s, %i rows", async (file, table, count) => {
    const r = await load(file);
    expect(r).toMatchObject({ ok: true, value: { table, rows: count } });
  });

  it("the seed's subscriber row authenticates with its password: ha1 computed over the xxx placeholders", async () => {
    await load("minimal/subscriber");
    const [row] = db.db.prepare("SELECT username, domain, password, ha1 FROM subscriber").all() as { ha1: string }[];
    expect(row).toMatchObject({ username: "suser", domain: "alpha.org", password: "supasswd" });
    expect(row?.ha1).toMatch(/^[0-9a-f]{32}$/);
  });

  it("reports the OpenSIPS-only columns of the long subscriber definition as not kept", async () => {
    const r = await load("tables/subscriber");
    expect(r.ok && r.value.ignoredColumns).toContain("first_name");
  });
});

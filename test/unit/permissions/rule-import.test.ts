import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { compilePermissionsFromD1 } from "../../../src/modules/permissions/script.ts";
import { formatOfFile, importText } from "../../../src/provisioning/import.ts";
import { applyMigrations } from "../../../src/provisioning/migrate.ts";
import { SqliteD1 } from "../provisioning/sqlite-db.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const migration = async (name: string) => ({ name, sql: await readFile(path.join(ROOT, "migrations", name), "utf8") });
const MIGRATIONS = [await migration("0001_init.sql"), await migration("0002_permissions_rules.sql")];

// Kamailio's permissions module documentation examples (hosts.allow syntax): the caller's From
// URI on the left, the Request-URI (allow_routing) or Contact (allow_register) on the right.
const RULES_ALLOW = ['# only local users may call premium numbers', 'ALL EXCEPT "^sip:.*@evil\\.example$" : "^sip:1900[0-9]*@"', ""].join("\n");
const RULES_DENY = ['ALL : "^sip:1900[0-9]*@"', ""].join("\n");
const REGISTER_DENY = ['ALL : "^sip:.*@10\\."', ""].join("\n");

let db: SqliteD1;
beforeEach(async () => {
  db = new SqliteD1();
  await applyMigrations(db, MIGRATIONS);
});

const stored = () => db.db.prepare("SELECT name, rules FROM permissions_rules ORDER BY name").all();
const load = (name: string, text: string) => importText(db, text, { file: name, domain: "localhost" });

describe("permissions rule files imported into D1 (permissions_rules)", () => {
  it.each([
    ["rules.allow", "permissions"],
    ["/etc/kamailio/register.deny", "permissions"],
    ["permissions.allow.txt", undefined],
  ])("the file name %s names the format %s", (file, format) => {
    expect(formatOfFile(file)).toBe(format);
  });

  it("a file is stored whole under its base name with its rule count, and a new import replaces it", async () => {
    const first = await load("/etc/kamailio/rules.allow", RULES_ALLOW);
    expect(first).toMatchObject({ ok: true, value: { table: "permissions_rules", format: "permissions", rows: 1 } });
    expect(await load("rules.allow", RULES_ALLOW + 'ALL : "^sip:911@"\n')).toMatchObject({ ok: true, value: { rows: 2 } });
    expect(stored()).toEqual([{ name: "rules.allow", rules: 2 }]);
  });

  it("a malformed line is refused with file, line and field, and nothing is written", async () => {
    await load("rules.allow", RULES_ALLOW);
    const bad = await load("rules.allow", 'ALL : "^sip:1900"\n"^sip:alice@" "^sip:bob@"\n');
    expect(bad).toEqual({ ok: false, error: { file: "rules.allow", line: 2, field: "separator", reason: "missing ':' between the two expression lists" } });
    expect(await load("rules.deny", 'ALL : "^sip:(1900"\n')).toMatchObject({ ok: false, error: { file: "rules.deny", line: 1, field: "right" } });
    expect(stored()).toEqual([{ name: "rules.allow", rules: 1 }]);
  });

  it("a name that is not NAME.allow / NAME.deny cannot be loaded as rules", async () => {
    const r = await importText(db, RULES_ALLOW, { file: "rules", format: "permissions", domain: "localhost" });
    expect(r).toMatchObject({ ok: false, error: { file: "rules", line: 0, field: "file" } });
  });

  it("the loader compiles stored files with address and trusted: allow_routing and allow_register decide by them", async () => {
    await load("rules.allow", RULES_ALLOW);
    await load("rules.deny", RULES_DENY);
    await load("register.deny", REGISTER_DENY);
    const compiled = await compilePermissionsFromD1(db);
    if (!compiled.ok) throw new Error(JSON.stringify(compiled.error));
    const p = compiled.value;
    expect(p.ruleFileNames().sort()).toEqual(["register.deny", "rules.allow", "rules.deny"]);
    // allow_routing("rules"): the allow file wins, then the deny file, then allowed.
    expect(p.allowRouting("rules", "sip:alice@localhost", ["sip:19001234@localhost"])).toBe(true);
    expect(p.allowRouting("rules", "sip:mallory@evil.example", ["sip:19001234@localhost"])).toBe(false);
    expect(p.allowRouting("rules", "sip:mallory@evil.example", ["sip:bob@localhost"])).toBe(true);
    // allow_register("register"): no binding to a private address.
    expect(p.allowRegister("register", "sip:alice@localhost", ["sip:alice@10.0.0.7:5060;transport=udp"])).toBe(false);
    expect(p.allowRegister("register", "sip:alice@localhost", ["sip:alice@192.0.2.7"])).toBe(true);
  });

  it("without migration 0002 there are no rule files and address/trusted still load", async () => {
    const old = new SqliteD1();
    await applyMigrations(old, MIGRATIONS.slice(0, 1));
    const compiled = await compilePermissionsFromD1(old);
    expect(compiled.ok && compiled.value.ruleFileNames()).toEqual([]);
  });
});

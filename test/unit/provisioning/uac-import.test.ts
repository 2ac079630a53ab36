import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { importText } from "../../../src/provisioning/import.ts";
import { applyMigrations } from "../../../src/provisioning/migrate.ts";
import { UacLookup } from "../../../src/provisioning/uac-lookup.ts";
import { listSubscribers } from "../../../src/provisioning/subscriber.ts";
import { SqliteD1 } from "./sqlite-db.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const dir = path.join(ROOT, "migrations");
const migrations = await Promise.all((await readdir(dir)).filter((n) => n.endsWith(".sql")).sort().map(async (name) => ({ name, sql: await readFile(path.join(dir, name), "utf8") })));

// Kamailio's own db_text header for uacreg (/usr/share/kamailio/dbtext/kamailio/uacreg).
const UACREG_HEADER =
  "id(int,auto) l_uuid(string) l_username(string) l_domain(string) r_username(string) r_domain(string) realm(string) auth_username(string) auth_password(string) auth_ha1(string) auth_proxy(string) expires(int) flags(int) reg_delay(int) contact_addr(string) socket(string)";

let db: SqliteD1;
beforeEach(async () => {
  db = new SqliteD1();
  await applyMigrations(db, migrations);
});

const rows = (sql: string) => db.db.prepare(sql).all();

describe("carrier-trunk tables import as db_text (uacreg, dbaliases, grp, subscriber.rpid)", () => {
  it("a Kamailio uacreg file loads, and importing it again updates by l_uuid", async () => {
    const file = `${UACREG_HEADER}\n1:trunk-1:+15557654321::acct:carrier.test:carrier.test:acct:pw1::sip\\:127.0.0.24\\:5060:600:0:2::\n`;
    expect(await importText(db, file, { file: "uacreg", domain: "sip.example.test" })).toMatchObject({ ok: true, value: { table: "uacreg", rows: 1, ignoredColumns: [] } });
    expect(await importText(db, file.replace("pw1", "pw2"), { file: "uacreg", domain: "sip.example.test" })).toMatchObject({ ok: true });
    expect(rows("SELECT l_uuid, l_username, l_domain, auth_password, auth_proxy, expires, reg_delay FROM uacreg")).toEqual([
      { l_uuid: "trunk-1", l_username: "+15557654321", l_domain: "sip.example.test", auth_password: "pw2", auth_proxy: "sip:127.0.0.24:5060", expires: 600, reg_delay: 2 },
    ]);
  });

  it("a bad uacreg row is refused with file, line and field, and nothing is written", async () => {
    const file = `${UACREG_HEADER}\n1:ok-1:::acct:carrier.test:::pw:::600:0:0::\n2:bad 2:::acct:carrier.test:::pw:::600:0:0::\n`;
    expect(await importText(db, file, { file: "uacreg", domain: "d" })).toEqual({ ok: false, error: { file: "uacreg", line: 3, field: "l_uuid", reason: expect.stringContaining("Contact's user part") } });
    expect(rows("SELECT count(*) AS n FROM uacreg")).toEqual([{ n: 0 }]);
  });

  it("DIDs must be E.164 numbers; groups are class names or + prefixes", async () => {
    expect(await importText(db, "alias_username(str) username(str)\n+15557654321:bob\nsales:bob\n", { file: "dbaliases", domain: "d" })).toMatchObject({ ok: true, value: { rows: 2 } });
    expect(await importText(db, "alias_username(str) username(str)\n05557654321:bob\n", { file: "dbaliases", domain: "d" })).toMatchObject({ ok: false, error: { line: 2, field: "alias_username" } });
    expect(await importText(db, "username(str) grp(str)\nbob:international\nbob:+44\n", { file: "grp", domain: "d" })).toMatchObject({ ok: true, value: { rows: 2 } });
    expect(await importText(db, "username(str) grp(str)\nbob:+4x\n", { file: "grp", domain: "d" })).toMatchObject({ ok: false, error: { field: "grp" } });
    const lookup = new UacLookup(db);
    expect(await lookup.did("+15557654321")).toEqual({ user: "bob", domain: "d" });
    expect(await lookup.did("+15550000000")).toBeUndefined();
    expect(await lookup.profile("bob", "d")).toEqual({ numbers: ["+15557654321"], groups: ["international", "+44"] });
  });

  it("subscriber rpid: an E.164 number (or a tel/sip URI of one) is stored; a file without the column keeps it", async () => {
    expect(await importText(db, "username(str) password(str) rpid(str)\nbob:pw:sip\\:+15550001234@sip.example.test\n", { file: "subscriber", domain: "d" })).toMatchObject({ ok: true });
    expect(await importText(db, "username(str) password(str)\nbob:pw2\n", { file: "subscriber", domain: "d" })).toMatchObject({ ok: true });
    expect(rows("SELECT username, password, rpid FROM subscriber")).toEqual([{ username: "bob", password: "pw2", rpid: "+15550001234" }]);
    expect(await importText(db, "username(str) password(str) rpid(str)\nbob:pw:5550001234\n", { file: "subscriber", domain: "d" })).toMatchObject({ ok: false, error: { field: "rpid" } });
    expect(await listSubscribers(db, { limit: 10 })).toEqual([expect.objectContaining({ username: "bob", rpid: "+15550001234", hasPassword: true })]);
    expect((await new UacLookup(db).profile("bob", "d")).numbers).toEqual(["+15550001234"]);
  });

  it("a scan of numbers costs one D1 read while the DIDs fit the cache; a larger table is read number by number", async () => {
    expect(await importText(db, "alias_username(str) username(str)\n+15557654321:bob\n+15557654322:alice\n", { file: "dbaliases", domain: "d" })).toMatchObject({ ok: true });
    const sql: string[] = [];
    const prepare = db.prepare.bind(db);
    db.prepare = (query: string) => {
      sql.push(query);
      return prepare(query);
    };
    const small = new UacLookup(db, { maxEntries: 2 });
    for (let n = 0; n < 50; n++) expect(await small.did(`+1555000${String(n).padStart(4, "0")}`)).toBeUndefined();
    expect(await small.did("+15557654322")).toEqual({ user: "alice", domain: "d" });
    expect(sql.filter((q) => q.includes("dbaliases"))).toHaveLength(1);
    sql.length = 0;
    const large = new UacLookup(db, { maxEntries: 1 });
    expect(await large.did("+15557654321")).toEqual({ user: "bob", domain: "d" });
    expect(await large.did("+15550000000")).toBeUndefined();
    expect(sql.filter((q) => q.includes("alias_username = ?1"))).toHaveLength(2);
  });

  it("one object's concurrent misses share one D1 read; another object's never wait on it (workerd I/O contexts)", async () => {
    expect(await importText(db, "alias_username(str) username(str)\n+15557654321:bob\n", { file: "dbaliases", domain: "d" })).toMatchObject({ ok: true });
    const sql: string[] = [];
    const prepare = db.prepare.bind(db);
    db.prepare = (query: string) => {
      sql.push(query);
      return prepare(query);
    };
    const lookup = new UacLookup(db);
    const shardA = lookup.lookupFor({});
    const shardB = lookup.lookupFor({});
    const answers = await Promise.all([...Array.from({ length: 20 }, () => shardA.did("+15557654321")), shardB.did("+15557654321")]);
    expect(new Set(answers.map((a) => a?.user))).toEqual(new Set(["bob"]));
    // One read for shard A's twenty misses, one for shard B's.
    expect(sql.filter((q) => q.includes("FROM dbaliases ORDER BY id LIMIT"))).toHaveLength(2);
    // Answered, the directory is the isolate's: no read for either shard now.
    await shardB.did("+15550000000");
    expect(sql.filter((q) => q.includes("FROM dbaliases ORDER BY id LIMIT"))).toHaveLength(2);
  });
});

import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { loadDispatcherRows, parseDispatcherList, type DispatcherList } from "../../../src/modules/dispatcher/index.ts";
import { formatOfFile, importText } from "../../../src/provisioning/import.ts";
import { applyMigrations } from "../../../src/provisioning/migrate.ts";
import { SqliteD1 } from "./sqlite-db.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const init = { name: "0001_init.sql", sql: await readFile(path.join(ROOT, "migrations/0001_init.sql"), "utf8") };

// The seed's db_text examples, verbatim (shared/seed, "Minimal OpenSIPS subscriber db_text
// table example", "Definition of 'version' table and sample records").
const SEED_SUBSCRIBER = "username(str) password(str) ha1(str) domain(str) ha1b(str)\nsuser:supasswd:xxx:alpha.org:xxx\n";
const SEED_VERSION = "table_name(str) table_version(int)\nsubscriber:3\nlocation:6\naliases:6\n";
const SEED_SUBSCRIBER_FULL_HEADER =
  "username(str) domain(str) password(str) first_name(str) last_name(str) phone(str) email_address(str) datetime_created(int) datetime_modified(int) confirmation(str) flag(str) sendnotification(str) greeting(str) ha1(str) ha1b(str) perms(str) allow_find(str) timezone(str,null) rpid(str,null)";
const SEED_ALIASES_HEADER =
  "username(str) domain(str,null) contact(str,null) received(str) expires(int,null) q(double,null) callid(str,null) cseq(int,null) last_modified(str) flags(int) user_agent(str) socket(str)";

let db: SqliteD1;
beforeEach(async () => {
  db = new SqliteD1();
  await applyMigrations(db, [init]);
});

const rows = (sql: string) => db.db.prepare(sql).all();

describe("file names name the table (db_text)", () => {
  it.each([
    ["subscriber", "subscriber"],
    ["/var/dbtext/opensips/version", "version"],
    ["dispatcher.list", "dispatcher.list"],
    ["gateways.list", "dispatcher.list"],
    ["aliases.txt", "aliases"],
    ["location", "location"],
    ["acc", undefined],
  ])("%s → %s", (file, format) => {
    expect(formatOfFile(file)).toBe(format);
  });
});

describe("subscriber import", () => {
  it("loads the seed's subscriber row, computing ha1, ha1b and ha1_sha256 from the password over the xxx placeholders", async () => {
    const r = await importText(db, SEED_SUBSCRIBER, { file: "subscriber", domain: "localhost" });
    expect(r).toMatchObject({ ok: true, value: { table: "subscriber", rows: 1, ignoredColumns: [] } });
    // Python hashlib: MD5("suser:alpha.org:supasswd"), MD5("suser@alpha.org:alpha.org:supasswd"),
    // SHA-256("suser:alpha.org:supasswd"): realm = domain, as kamctl computes them.
    expect(rows("SELECT username, domain, password, ha1, ha1b, ha1_sha256 FROM subscriber")).toEqual([
      {
        username: "suser",
        domain: "alpha.org",
        password: "supasswd",
        ha1: "e4dcaa1d83d76d9ce9dbc7226f2447b0",
        ha1b: "e931a4e968427492e4b30e9c8f12dabf",
        ha1_sha256: "c562eddf898f03e201e939600288704debdd57dc1dfe68ab135337a02959e604",
      },
    ]);
  });

  it("keeps a stored HA1 of the right form, lowercased, for a row without a password", async () => {
    const file = "username(str) domain(str) ha1(str)\nbob:example.com:E4DCAA1D83D76D9CE9DBC7226F2447B0\n";
    expect((await importText(db, file, { file: "subscriber", domain: "localhost" })).ok).toBe(true);
    expect(rows("SELECT password, ha1, ha1b FROM subscriber")).toEqual([{ password: "", ha1: "e4dcaa1d83d76d9ce9dbc7226f2447b0", ha1b: "" }]);
  });

  it("accepts the seed's long OpenSIPS header and reports the columns it does not keep", async () => {
    const row = "alice:localhost:alice123:Alice:Liddell:555:a@example.com:0:0:c:f:s:g:::p:a:null:null";
    const r = await importText(db, `${SEED_SUBSCRIBER_FULL_HEADER}\n${row}\n`, { file: "subscriber", domain: "localhost" });
    expect(r.ok && r.value.ignoredColumns).toContain("email_address");
    expect(rows("SELECT ha1 FROM subscriber WHERE username = 'alice'")).toEqual([{ ha1: "877d178ffe64ca22a2de306e02dbf0f7" }]);
  });

  it("fills an empty domain with the edge's SIP domain", async () => {
    await importText(db, "username(str) domain(str) password(str)\ncarol::carol123\n", { file: "subscriber", domain: "localhost" });
    expect(rows("SELECT domain FROM subscriber")).toEqual([{ domain: "localhost" }]);
  });

  it("replaces an existing account on a repeated import instead of duplicating it", async () => {
    await importText(db, "username(str) domain(str) password(str)\nalice:localhost:old\n", { file: "subscriber", domain: "localhost" });
    await importText(db, "username(str) domain(str) password(str)\nalice:localhost:alice123\n", { file: "subscriber", domain: "localhost" });
    expect(rows("SELECT password, ha1 FROM subscriber")).toEqual([{ password: "alice123", ha1: "877d178ffe64ca22a2de306e02dbf0f7" }]);
  });

  it("refuses a file with a bad row with file, line and field, and writes none of its rows", async () => {
    const file = "username(str) domain(str) password(str)\nalice:localhost:a\nbob:localhost:b\nbad user:localhost:c\n";
    const r = await importText(db, file, { file: "subscriber", domain: "localhost" });
    expect(r).toEqual({ ok: false, error: { file: "subscriber", line: 4, field: "username", reason: expect.stringMatching(/blanks/) } });
    expect(rows("SELECT count(*) AS n FROM subscriber")).toEqual([{ n: 0 }]);
  });

  it("refuses a row with neither a password nor an HA1", async () => {
    const r = await importText(db, "username(str) domain(str) password(str) ha1(str)\nsuser:alpha.org::xxx\n", { file: "subscriber", domain: "localhost" });
    expect(r).toMatchObject({ ok: false, error: { line: 2, field: "ha1" } });
  });

  it("refuses a header without a username column", async () => {
    const r = await importText(db, "user(str) password(str)\na:b\n", { file: "subscriber", domain: "localhost" });
    expect(r).toMatchObject({ ok: false, error: { line: 1, field: "username" } });
  });

  it("names an unknown table in the error", async () => {
    const r = await importText(db, "a(int)\n1\n", { file: "acc", domain: "localhost" });
    expect(r).toMatchObject({ ok: false, error: { file: "acc", field: "table" } });
  });

  it("loads 10,000 subscribers in 20 statements of one batch, quickly", async () => {
    const lines = ["id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string)"];
    for (let i = 0; i < 10_000; i++) lines.push(`${i + 1}:u${i}:localhost:pw::`);
    const started = performance.now();
    const r = await importText(db, lines.join("\n"), { file: "subscriber", domain: "localhost" });
    const ms = performance.now() - started;
    expect(r).toMatchObject({ ok: true, value: { rows: 10_000, statements: 20 } });
    expect(rows("SELECT count(*) AS n FROM subscriber")).toEqual([{ n: 10_000 }]);
    expect(ms).toBeLessThan(5_000);
  });
});

describe("version import", () => {
  it("accepts the seed's version rows (layouts sipedge maps) and keeps the schema's own versions", async () => {
    const r = await importText(db, SEED_VERSION, { file: "version", domain: "localhost" });
    expect(r).toMatchObject({ ok: true, value: { rows: 3, statements: 0 } });
    expect(rows("SELECT table_version FROM version WHERE table_name = 'subscriber'")).toEqual([{ table_version: 7 }]);
  });

  it("refuses a table sipedge has no column mapping for, naming file, line and field", async () => {
    const r = await importText(db, "table_name(str) table_version(int)\nsubscriber:3\nacc:7\n", { file: "version", domain: "localhost" });
    expect(r).toMatchObject({ ok: false, error: { file: "version", line: 3, field: "table_name" } });
    expect(r.ok ? "" : r.error.reason).toMatch(/no column mapping for table "acc" \(it imports version, subscriber, location, aliases, dispatcher, address, trusted, uacreg, dbaliases, grp\)/);
  });

  it("refuses a version of a known table whose layout sipedge does not map, saying which it reads", async () => {
    const r = await importText(db, "table_name(str) table_version(int)\nlocation:12\n", { file: "version", domain: "localhost" });
    expect(r).toMatchObject({ ok: false, error: { file: "version", line: 2, field: "table_version" } });
    expect(r.ok ? "" : r.error.reason).toBe("sipedge has no column mapping for location version 12; it reads 6 (the seed (OpenSIPS db_text)), 9 (Kamailio 5.x-6.x), 1013 (OpenSIPS 3.x)");
  });
});

describe("location import", () => {
  it("accepts the seed's location definitions (header only)", async () => {
    const r = await importText(db, `${SEED_ALIASES_HEADER}\n`, { file: "location", domain: "localhost" });
    expect(r).toMatchObject({ ok: true, value: { table: "location", rows: 0, statements: 0 } });
  });

  it("refuses location rows with their line: bindings are made by REGISTER", async () => {
    const r = await importText(db, "username(str) contact(str) expires(int) q(double) callid(str) cseq(int)\nalice:sip\\:alice@10.0.0.1:0:1:c:1\n", { file: "location", domain: "localhost" });
    expect(r).toMatchObject({ ok: false, error: { file: "location", line: 2, field: "row" } });
  });
});

describe("aliases import", () => {
  const file = `${SEED_ALIASES_HEADER}\nsupport:localhost:sip\\:alice@localhost:::::::0::\n`;

  it("loads an alias row in the seed's layout, defaulting the columns it leaves empty", async () => {
    const r = await importText(db, file, { file: "aliases", domain: "localhost" });
    expect(r).toMatchObject({ ok: true, value: { rows: 1, ignoredColumns: [] } });
    expect(rows("SELECT username, domain, contact, q, callid FROM aliases")).toEqual([
      { username: "support", domain: "localhost", contact: "sip:alice@localhost", q: 1, callid: "Default-Call-ID" },
    ]);
  });

  it("refuses an alias whose contact is no URI (it becomes the Request-URI)", async () => {
    const r = await importText(db, `${SEED_ALIASES_HEADER}\nsupport:localhost:not a uri:::::::0::\n`, { file: "aliases", domain: "localhost" });
    expect(r).toMatchObject({ ok: false, error: { file: "aliases", line: 2, field: "contact" } });
  });

  it("does not duplicate an alias imported twice", async () => {
    await importText(db, file, { file: "aliases", domain: "localhost" });
    await importText(db, file, { file: "aliases", domain: "localhost" });
    expect(rows("SELECT count(*) AS n FROM aliases")).toEqual([{ n: 1 }]);
  });
});

describe("dispatcher import", () => {
  async function reload(): Promise<DispatcherList> {
    const loaded = loadDispatcherRows(rows("SELECT * FROM dispatcher ORDER BY id") as never);
    if (!loaded.ok) throw new Error(loaded.error.reason);
    return loaded.value;
  }
  const uris = (list: DispatcherList, set: number) => list.sets.get(set)?.destinations.map((d) => `${d.uri}/${d.priority}/${d.state}`);

  it("writes a dispatcher.list so that loading the table gives the same sets in the same order", async () => {
    const text = await readFile(path.join(ROOT, "test/unit/dispatcher/fixtures/seed-opensips-dispatcher.list"), "utf8");
    const r = await importText(db, text, { file: "dispatcher.list", domain: "localhost" });
    expect(r.ok).toBe(true);
    const direct = parseDispatcherList(text);
    if (!direct.ok) throw new Error("fixture does not parse");
    const fromTable = await reload();
    expect([...fromTable.sets.keys()].sort()).toEqual([...direct.value.sets.keys()].sort());
    for (const id of direct.value.sets.keys()) expect(uris(fromTable, id)).toEqual(uris(direct.value, id));
  });

  it("loads the seed's db_text dispatcher rows (OpenSIPS state and weight columns)", async () => {
    const text = await readFile(path.join(ROOT, "test/unit/dispatcher/fixtures/seed-dbtext-dispatcher"), "utf8");
    const r = await importText(db, text, { file: "dispatcher", domain: "localhost" });
    expect(r).toMatchObject({ ok: true, value: { table: "dispatcher", rows: 2 } });
    expect(rows("SELECT setid, destination, flags, priority, attrs, description FROM dispatcher ORDER BY id")).toEqual([
      { setid: 1, destination: "sip:10.20.30.40:5060", flags: 0, priority: 1, attrs: "carrier;weight=1", description: "load balancer for OB" },
      { setid: 2, destination: "sip:10.50.60.70:5060", flags: 0, priority: 1, attrs: "carrier;weight=1", description: "Load balancer for IB" },
    ]);
  });

  it("replaces the sets a re-imported list names and keeps the others", async () => {
    await importText(db, "1 sip:127.0.0.1:7070 0 0\n2 sip:127.0.0.1:5080 0 0\n", { file: "dispatcher.list", domain: "localhost" });
    await importText(db, "1 sip:127.0.0.1:7072 0 0\n", { file: "dispatcher.list", domain: "localhost" });
    expect(rows("SELECT setid, destination FROM dispatcher ORDER BY setid")).toEqual([
      { setid: 1, destination: "sip:127.0.0.1:7072" },
      { setid: 2, destination: "sip:127.0.0.1:5080" },
    ]);
  });

  it("keeps a destination's inactive state through the table", async () => {
    await importText(db, "1 sip:127.0.0.1:7070 1 0\n1 sip:127.0.0.1:7072 9 0\n", { file: "dispatcher.list", domain: "localhost" });
    expect(uris(await reload(), 1)).toEqual(["sip:127.0.0.1:7072/0/probing", "sip:127.0.0.1:7070/0/inactive"]);
  });
});

describe("permissions tables from db_text (Kamailio address / trusted)", () => {
  it("loads an address table, replacing the old rows, and refuses a bad row with its file line", async () => {
    const good = ["id(int,auto) grp(int) ip_addr(string) mask(int) port(int) tag(string,null)", "1:1:127.0.0.0:8:0:loopback", "2:2:10.1.2.3:32:5060:gw", ""].join("\n");
    const loaded = await importText(db, good, { file: "address", domain: "localhost" });
    expect(loaded).toMatchObject({ ok: true, value: { table: "address", rows: 2 } });
    const bad = ["id(int,auto) grp(int) ip_addr(string) mask(int) port(int) tag(string,null)", "1:1:127.0.0.1:32:0:ok", "2:1:10.0.0.1:99:0:bad", ""].join("\n");
    const refused = await importText(db, bad, { file: "address", domain: "localhost" });
    expect(refused).toMatchObject({ ok: false, error: { file: "address", line: 3, field: "mask" } });
    expect(rows("SELECT ip_addr FROM address ORDER BY id")).toEqual([{ ip_addr: "127.0.0.0" }, { ip_addr: "10.1.2.3" }]);
  });

  it("loads a trusted table", async () => {
    const text = ["src_ip(string) proto(string) from_pattern(string,null) tag(string,null)", "127.0.0.7:udp:^sip\\:.*@carrier$:carrier", ""].join("\n");
    expect(await importText(db, text, { file: "trusted", domain: "localhost" })).toMatchObject({ ok: true, value: { table: "trusted", rows: 1 } });
  });
});

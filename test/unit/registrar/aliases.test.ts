import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { AliasCache } from "../../../src/provisioning/alias-lookup.ts";
import { importText } from "../../../src/provisioning/import.ts";
import { applyMigrations } from "../../../src/provisioning/migrate.ts";
import { RegistrarScript, type RegistrarRequest } from "../../../src/modules/registrar/script.ts";
import { request } from "../transactions/helpers.ts";
import { SqliteD1 } from "../provisioning/sqlite-db.ts";
import { sipRequest } from "../../helpers/sip-text.ts";

// lookup("aliases") over the `aliases` table as the seed's OpenSIPS script uses it: the
// Request-URI of an alias AOR becomes its target, local or foreign.
const ROOT = path.resolve(import.meta.dirname, "../../..");
const init = { name: "0001_init.sql", sql: await readFile(path.join(ROOT, "migrations/0001_init.sql"), "utf8") };
const ALIASES = await readFile(path.join(ROOT, "test/fixtures/registrar/aliases"), "utf8");

let db: SqliteD1;
let now = 0;
beforeEach(async () => {
  db = new SqliteD1();
  await applyMigrations(db, [init]);
  expect((await importText(db, ALIASES, { file: "aliases", domain: "alpha.org" })).ok).toBe(true);
});

function registrarFor(ruri: string, aliases = new AliasCache(db, { clock: () => now })) {
  const msg = request(sipRequest({ method: "INVITE", ruri }));
  const ctx: RegistrarRequest = {
    msg,
    source: { ip: "127.0.0.2", transport: "wss", flow: "0.sX" },
    config: { domain: "alpha.org" },
    sl: { sendReply: () => undefined },
    isMyself: (host) => host.toLowerCase() === "alpha.org",
  };
  return { msg, registrar: new RegistrarScript(ctx, { aliases }) };
}

describe("registrar lookup(\"aliases\")", () => {
  it("rewrites an alias AOR of this domain to its local target", async () => {
    const { msg, registrar } = registrarFor("sip:support@alpha.org");
    expect(await registrar.lookup("aliases")).toEqual({ found: true, aor: "support@alpha.org", uri: "sip:suser@alpha.org" });
    expect(msg.uri).toBe("sip:suser@alpha.org");
  });

  it("rewrites to a foreign URI the script then tells apart with is_myself", async () => {
    const { msg, registrar } = registrarFor("sip:PSTN@alpha.org");
    expect(await registrar.lookup("aliases")).toMatchObject({ found: true, uri: "sip:carrier@127.0.0.26:5060" });
    expect(msg.uri).toBe("sip:carrier@127.0.0.26:5060");
  });

  it("leaves a name that is no alias, and an AOR of another domain, as they are", async () => {
    for (const ruri of ["sip:bob@alpha.org", "sip:support@beta.org"]) {
      const { msg, registrar } = registrarFor(ruri);
      expect(await registrar.lookup("aliases")).toEqual({ found: false, reason: "not-found" });
      expect(msg.uri).toBe(ruri);
    }
  });

  it("asks D1 once per alias and TTL (answers, and absences, from memory), and again after clear()", async () => {
    const cache = new AliasCache(db, { ttl: 1000, clock: () => now });
    const before = db.queries;
    await registrarFor("sip:support@alpha.org", cache).registrar.lookup("aliases");
    await registrarFor("sip:support@alpha.org", cache).registrar.lookup("aliases");
    await registrarFor("sip:nobody@alpha.org", cache).registrar.lookup("aliases");
    await registrarFor("sip:nobody@alpha.org", cache).registrar.lookup("aliases");
    expect(db.queries - before).toBe(2);
    now += 1001;
    await registrarFor("sip:support@alpha.org", cache).registrar.lookup("aliases");
    cache.clear();
    await registrarFor("sip:support@alpha.org", cache).registrar.lookup("aliases");
    expect(db.queries - before).toBe(4);
  });
  it("shares a read in flight among one owner's concurrent misses, never with another owner's", async () => {
    const cache = new AliasCache(db, { ttl: 1000, clock: () => now });
    const shard = cache.lookupFor({});
    const other = cache.lookupFor({});
    const before = db.queries;
    const [a, b, c] = await Promise.all([shard.lookup("support", "alpha.org"), shard.lookup("Support", "ALPHA.org"), other.lookup("support", "alpha.org")]);
    expect(a).toBe(b);
    expect(c).toBe(a);
    expect(a).toBeDefined();
    // One read for the shard's two lookups, one for the other owner's; the next is from memory.
    expect(db.queries - before).toBe(2);
    expect(await shard.lookup("support", "alpha.org")).toBe(a);
    expect(db.queries - before).toBe(2);
  });
});

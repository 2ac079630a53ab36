import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { locationOf, type Location } from "../../durable-objects/location.ts";
import { SCHEMA_1, SCHEMA_VERSION, writeBinding } from "../../durable-objects/location-rows.ts";
import type { Binding, ContactInput, RegisterInput } from "../../src/modules/registrar/index.ts";
import { COPY_TTL_MS } from "../../src/modules/registrar/location-client.ts";

let seq = 0;
/** A fresh AOR per test: Location objects outlive a test within the file. */
function freshAor(): string {
  return `user${++seq}-${crypto.randomUUID().slice(0, 8)}@localhost`;
}

function register(aor: string, cseq: number, contacts: ContactInput[], extra: Partial<RegisterInput> = {}): RegisterInput {
  return { aor, callId: `call-${aor}`, cseq, contacts, flowToken: "flow-a", ...extra };
}

/** The CREATE statements of the AOR's two tables (meta, binding), as SQLite keeps them. */
async function tableSql(aor: string): Promise<string[]> {
  return runInDurableObject(locationOf(env.LOCATION, aor), (_: Location, state) =>
    state.storage.sql.exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'binding') ORDER BY name DESC").toArray().map((r) => r.sql),
  );
}

/** What SQLite holds for the AOR: the truth after an eviction. */
async function storedRows(aor: string): Promise<{ contact: string; expires: number; flow_token: string | null }[]> {
  return runInDurableObject(locationOf(env.LOCATION, aor), (_: Location, state) =>
    state.storage.sql.exec<{ contact: string; expires: number; flow_token: string | null }>("SELECT contact, expires, flow_token FROM binding ORDER BY contact").toArray(),
  );
}

describe("Location: save and lookup", () => {
  it("saves a binding, answers 200 listing it with its expiry, and looks it up with its flow token", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    const reply = await loc.save(register(aor, 1, [{ uri: "sip:alice@127.0.0.2:5060;transport=ws", expires: 600 }]));
    expect(reply).toMatchObject({ ok: true, status: 200, reason: "OK", version: 1 });
    expect(reply.ok && reply.contacts).toEqual(["<sip:alice@127.0.0.2:5060;transport=ws>;expires=600"]);
    const found = await loc.lookup();
    expect(found).toMatchObject({ found: true, version: 1, contacts: [{ uri: "sip:alice@127.0.0.2:5060;transport=ws", flowToken: "flow-a" }] });
  });

  it("answers an out-of-order CSeq with the registrar's 500 and changes nothing", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    await loc.save(register(aor, 5, [{ uri: "sip:a@127.0.0.2", expires: 600 }]));
    const reply = await loc.save(register(aor, 4, [{ uri: "sip:a@127.0.0.2", expires: 0 }]));
    expect(reply).toMatchObject({ ok: false, status: 500, version: 1 });
    expect((await loc.bindings()).bindings.map((b) => b.contact)).toEqual(["sip:a@127.0.0.2"]);
    expect(await storedRows(aor)).toHaveLength(1);
  });

  it("applies the caller's registrar configuration (min_expires_mode 1 → 423 with Min-Expires)", async () => {
    const aor = freshAor();
    const reply = await locationOf(env.LOCATION, aor).save(register(aor, 1, [{ uri: "sip:a@127.0.0.2", expires: 30 }]), { minExpires: 60, minExpiresMode: 1 });
    expect(reply).toMatchObject({ ok: false, status: 423, headers: expect.arrayContaining([["Min-Expires", "60"]]) });
  });

  it("removes every binding on Contact: * with Expires: 0, in memory and in SQLite", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    await loc.save(register(aor, 1, [{ uri: "sip:a@127.0.0.2" }, { uri: "sip:b@127.0.0.3" }]));
    const reply = await loc.save(register(aor, 2, [], { star: true, expiresHeader: 0 }));
    expect(reply).toMatchObject({ ok: true, contacts: [], version: 2 });
    expect(await loc.lookup()).toMatchObject({ found: false });
    expect(await storedRows(aor)).toEqual([]);
  });
});

describe("Location: what is written", () => {
  it("a refresh within the expiry horizon writes nothing and keeps the version", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    const before = Date.now();
    await loc.save(register(aor, 1, [{ uri: "sip:a@127.0.0.2", expires: 3600 }]));
    const [first] = await storedRows(aor);
    // The stored expiry (an hour ahead) still covers half of the 3000 s the refresh grants.
    const reply = await loc.save(register(aor, 2, [{ uri: "sip:a@127.0.0.2", expires: 3000 }]));
    expect(reply).toMatchObject({ ok: true, version: 1, contacts: ["<sip:a@127.0.0.2>;expires=3000"] });
    expect(await storedRows(aor)).toEqual([first]);
    expect(first!.expires).toBeGreaterThanOrEqual(before + 3600_000);
  });

  it("a refresh past the horizon writes the new expiry, still without a version bump", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    await loc.save(register(aor, 1, [{ uri: "sip:a@127.0.0.2", expires: 3600 }]));
    const before = Date.now();
    const reply = await loc.save(register(aor, 2, [{ uri: "sip:a@127.0.0.2", expires: 8000 }]));
    expect(reply).toMatchObject({ ok: true, version: 1 });
    const [row] = await storedRows(aor);
    expect(row!.expires).toBeGreaterThanOrEqual(before + 8000_000);
  });

  it("bumps the version when a binding is added, re-pointed to another flow, or removed", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    expect(await loc.version()).toBe(0);
    await loc.save(register(aor, 1, [{ uri: "sip:a@127.0.0.2" }]));
    await loc.save(register(aor, 2, [{ uri: "sip:b@127.0.0.3" }]));
    expect(await loc.version()).toBe(2);
    await loc.save(register(aor, 3, [{ uri: "sip:b@127.0.0.3" }], { flowToken: "flow-b" }));
    expect(await loc.version()).toBe(3);
    expect((await storedRows(aor)).map((r) => r.flow_token)).toEqual(["flow-a", "flow-b"]);
    await loc.save(register(aor, 4, [{ uri: "sip:a@127.0.0.2", expires: 0 }]));
    expect(await loc.version()).toBe(4);
  });

  it("a lookup of an AOR that never registered creates no tables", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    expect(await loc.lookup()).toEqual({ found: false, reason: "not-found", version: 0 });
    const tables = await runInDurableObject(loc, (_: Location, state) => state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name IN ('meta', 'binding')").toArray());
    expect(tables).toEqual([]);
  });

  it("keeps its schema version in a meta row", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    await loc.save(register(aor, 1, [{ uri: "sip:a@127.0.0.2" }]));
    const schema = await runInDurableObject(loc, (_: Location, state) => state.storage.sql.exec("SELECT value FROM meta WHERE key = 'schema'").one()["value"]);
    expect(schema).toBe(SCHEMA_VERSION);
    expect(await tableSql(aor)).toEqual([expect.stringMatching(/WITHOUT ROWID$/), expect.stringMatching(/WITHOUT ROWID$/)]);
  });

  it("upgrades an object of schema 1 (tables with rowids) when it wakes, keeping its bindings, version and AOR", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    const contact = { uri: "sip:a@127.0.0.2;transport=ws", expires: 600, q: 0.5, instance: '"<urn:uuid:00000000-0000-0000-0000-000000000002>"', regId: 1 };
    // The object as an older sipedge left it: schema 1's tables and rows, written as it wrote them.
    await loc.lookup();
    await runInDurableObject(loc, (_: Location, state) => {
      const sql = state.storage.sql;
      for (const statement of SCHEMA_1) sql.exec(statement);
      const b: Binding = { aor, contact: contact.uri, expires: Date.now() + 600_000, q: 0.5, callId: `call-${aor}`, cseq: 7, instance: contact.instance, regId: 1,
        path: ["<sip:edge@127.0.0.1;lr>"], flowToken: "flow-a", userAgent: "JsSIP 3.13.8", lastModified: Date.now() };
      writeBinding(sql, b);
      for (const [key, value] of [["schema", 1], ["version", 5], ["aor", aor]] as const) sql.exec("INSERT INTO meta (key, value) VALUES (?, ?)", key, value);
      return state.storage.setAlarm(b.expires);
    });
    expect(await tableSql(aor)).toEqual([expect.not.stringMatching(/WITHOUT ROWID/), expect.not.stringMatching(/WITHOUT ROWID/)]);
    await evictDurableObject(loc);

    const woken = locationOf(env.LOCATION, aor);
    const found = await woken.lookup();
    expect(found).toMatchObject({ found: true, version: 5, contacts: [{ uri: contact.uri, flowToken: "flow-a" }] });
    expect(await tableSql(aor)).toEqual([expect.stringMatching(/WITHOUT ROWID$/), expect.stringMatching(/WITHOUT ROWID$/)]);
    const meta = await runInDurableObject(woken, (_: Location, state) => state.storage.sql.exec<{ key: string; value: string | number }>("SELECT key, value FROM meta ORDER BY key").toArray());
    expect(meta).toEqual([{ key: "aor", value: aor }, { key: "schema", value: SCHEMA_VERSION }, { key: "version", value: 5 }]);
    const listed = await woken.bindings();
    expect(listed.bindings).toEqual([expect.objectContaining({ contact: contact.uri, instance: contact.instance, regId: 1, path: ["<sip:edge@127.0.0.1;lr>"], userAgent: "JsSIP 3.13.8", cseq: 7 })]);
    // And it carries on, at the new schema's prices: another device is its row and the version.
    const added = await woken.save(register(aor, 8, [{ uri: "sip:b@127.0.0.3;transport=ws", expires: 3600 }], { callId: `other-${aor}`, flowToken: "flow-b" }));
    expect(added).toMatchObject({ ok: true, version: 6, rowsWritten: 2 });
  });
});

describe("Location: expiry, flows and restarts", () => {
  it("drops an expired binding when its alarm fires", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    await loc.save(register(aor, 1, [{ uri: "sip:short@127.0.0.2", expires: 1 }, { uri: "sip:long@127.0.0.2", expires: 600 }]), { minExpires: 0 });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await runDurableObjectAlarm(loc)).toBe(true);
    const dump = await loc.bindings();
    expect(dump.bindings.map((b) => b.contact)).toEqual(["sip:long@127.0.0.2"]);
    expect(dump.version).toBe(2);
    expect((await storedRows(aor)).map((r) => r.contact)).toEqual(["sip:long@127.0.0.2"]);
    // Re-armed for the remaining binding.
    expect(await runInDurableObject(loc, (_: Location, state) => state.storage.getAlarm())).toBeGreaterThan(Date.now() + 500_000);
  });

  it("removes the bindings of a closed flow and leaves the others (handle_lost_tcp)", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    await loc.save(register(aor, 1, [{ uri: "sip:a@127.0.0.2" }], { flowToken: "flow-a" }));
    await loc.save(register(aor, 2, [{ uri: "sip:b@127.0.0.3" }], { flowToken: "flow-b", callId: "other" }));
    expect(await loc.removeFlow("flow-a")).toEqual({ removed: 1, version: 3, rowsWritten: 2 });
    expect(await loc.lookup()).toMatchObject({ found: true, contacts: [{ uri: "sip:b@127.0.0.3", flowToken: "flow-b" }] });
    expect(await loc.removeFlow("flow-unknown")).toEqual({ removed: 0, version: 3, rowsWritten: 0 });
    expect((await storedRows(aor)).map((r) => r.flow_token)).toEqual(["flow-b"]);
  });

  it("hands a copy only with a quick refresh from a flow it can name, and keeps the copies' lease across an eviction (location-copies.ts)", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    const contact = [{ uri: "sip:a@127.0.0.2;transport=ws", expires: 600 }];
    const meta = () => runInDurableObject(locationOf(env.LOCATION, aor), (_: Location, state) => state.storage.sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'copies_until'").toArray());
    // A new binding (a change) hands none, nor does a refresh from a flow with no shard.
    expect(await loc.save(register(aor, 1, contact, { flowToken: "3.wA" }))).toMatchObject({ ok: true, changed: true, copy: false });
    expect(await meta()).toEqual([]);
    const before = Date.now();
    // The refresh comes within COPY_TTL_MS of the last one: a copy, and the lease written once.
    expect(await loc.save(register(aor, 2, contact, { flowToken: "3.wA" }))).toMatchObject({ ok: true, changed: false, copy: true });
    const [lease] = await meta();
    expect(lease!.value).toBeGreaterThanOrEqual(before + 2 * COPY_TTL_MS);
    expect(await loc.save(register(aor, 3, contact, { flowToken: "3.wA" }))).toMatchObject({ copy: true });
    expect(await meta()).toEqual([lease]);
    // A client last seen longer ago than a copy lives gets none.
    await runInDurableObject(loc, (instance: Location) => {
      const held = instance["bindingList"];
      instance["bindingList"] = held.map((b) => ({ ...b, lastModified: b.lastModified - COPY_TTL_MS - 1 }));
    });
    expect(await loc.save(register(aor, 4, contact, { flowToken: "3.wA" }))).toMatchObject({ ok: true, changed: false, copy: false });
    // The next incarnation reads the lease: copies it did not hand may still live.
    await evictDurableObject(loc);
    const earlier = await runInDurableObject(locationOf(env.LOCATION, aor), (instance: Location) => instance["copies"]["earlierUntil"]);
    expect(earlier).toBe(lease!.value);
  });

  it("keeps its bindings and version across an eviction (a killed process runs no close handlers)", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    const contact = { uri: "sip:a@127.0.0.2;transport=ws", expires: 600, q: 0.5, instance: '"<urn:uuid:00000000-0000-0000-0000-000000000001>"', regId: 1 };
    await loc.save(register(aor, 1, [contact], { outbound: true, path: ["<sip:edge@127.0.0.1;lr>"], userAgent: "JsSIP 3.13.8" }));
    const before = await loc.bindings();
    await evictDurableObject(loc);
    const after = await locationOf(env.LOCATION, aor).bindings();
    expect(after).toEqual(before);
    expect(after.aor).toBe(aor);
  });

  it("after a restart, a reconnecting client's reg-id replaces its stale flow instead of adding one", async () => {
    const aor = freshAor();
    const instance = '"<urn:uuid:00000000-0000-0000-0000-000000000002>"';
    await locationOf(env.LOCATION, aor).save(register(aor, 1, [{ uri: "sip:x@old.invalid;transport=ws", instance, regId: 1 }], { outbound: true, flowToken: "flow-old" }));
    await evictDurableObject(locationOf(env.LOCATION, aor));
    const loc = locationOf(env.LOCATION, aor);
    const reply = await loc.save(register(aor, 1, [{ uri: "sip:x@new.invalid;transport=ws", instance, regId: 1 }], { outbound: true, flowToken: "flow-new", callId: "new-call" }));
    expect(reply).toMatchObject({ ok: true, version: 2, headers: expect.arrayContaining([["Require", "outbound"]]) });
    expect(await loc.lookup()).toMatchObject({ found: true, contacts: [{ uri: "sip:x@new.invalid;transport=ws", flowToken: "flow-new" }] });
    expect((await storedRows(aor)).map((r) => r.flow_token)).toEqual(["flow-new"]);
  });

  it("clear removes everything (admin)", async () => {
    const aor = freshAor();
    const loc = locationOf(env.LOCATION, aor);
    await loc.save(register(aor, 1, [{ uri: "sip:a@127.0.0.2" }, { uri: "sip:b@127.0.0.2" }]));
    expect(await loc.clear()).toEqual({ removed: 2, version: 2 });
    expect(await storedRows(aor)).toEqual([]);
    expect(await runInDurableObject(loc, (_: Location, state) => state.storage.getAlarm())).toBeNull();
  });
});

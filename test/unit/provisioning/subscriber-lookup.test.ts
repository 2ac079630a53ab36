import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { applyMigrations } from "../../../src/provisioning/migrate.ts";
import { seedDemoSubscribers } from "../../../src/provisioning/seed.ts";
import { SubscriberCache } from "../../../src/provisioning/subscriber-lookup.ts";
import { SqliteD1 } from "./sqlite-db.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const init = { name: "0001_init.sql", sql: await readFile(path.join(ROOT, "migrations/0001_init.sql"), "utf8") };

let db: SqliteD1;
let now: number;
const clock = () => now;
const alice = { username: "alice", user: "alice", realm: "localhost" };

beforeEach(async () => {
  db = new SqliteD1();
  await applyMigrations(db, [init]);
  await seedDemoSubscribers(db, "localhost", 2);
  db.queries = 0;
  now = 1_000_000;
});

describe("subscriber lookup for auth_db", () => {
  it("returns the HA1 columns and password of username@realm", async () => {
    const cache = new SubscriberCache(db, { clock });
    expect(await cache.lookup(alice)).toEqual({
      ha1: "877d178ffe64ca22a2de306e02dbf0f7",
      ha1b: "6f2eb2b76f04a9836f76af46af91002c",
      ha1Sha256: "59ef830d8e5c669e8e121d8a74ba1a9860c2a0c881069ab12f7f60bc6574895a",
      password: "alice123",
    });
  });

  it("answers a repeated lookup from memory until the TTL passes, then reads D1 again", async () => {
    const cache = new SubscriberCache(db, { clock, ttl: 60_000 });
    await cache.lookup(alice);
    now += 59_000;
    expect(await cache.lookup(alice)).toMatchObject({ password: "alice123" });
    expect(db.queries).toBe(1);
    now += 2_000;
    await cache.lookup(alice);
    expect(db.queries).toBe(2);
  });

  it("remembers an unknown user for the negative TTL, so guessing does not become D1 reads", async () => {
    const cache = new SubscriberCache(db, { clock, negativeTtl: 10_000 });
    const mallory = { username: "mallory", user: "mallory", realm: "localhost" };
    expect(await cache.lookup(mallory)).toBeUndefined();
    expect(await cache.lookup(mallory)).toBeUndefined();
    expect(db.queries).toBe(1);
    now += 10_001;
    await cache.lookup(mallory);
    expect(db.queries).toBe(2);
  });

  it("shares a query in flight among the lookups of one owner (a Durable Object), never with another owner; the answer with everyone", async () => {
    const cache = new SubscriberCache(db, { clock });
    const shardA = cache.lookupFor({});
    const shardB = cache.lookupFor({});
    await Promise.all([shardA(alice), shardA(alice), shardA(alice)]);
    expect(db.queries).toBe(1);
    cache.clear();
    await Promise.all([shardA(alice), shardB(alice)]);
    expect(db.queries).toBe(3); // one each: B never awaits A's query
    expect(await shardB(alice)).toMatchObject({ password: "alice123" });
    expect(await cache.lookup(alice)).toMatchObject({ password: "alice123" });
    expect(db.queries).toBe(3);
  });

  it("reads one owner's misses that come while its reads are in flight together, in one statement (a deploy's storm of first REGISTERs)", async () => {
    const cache = new SubscriberCache(db, { clock });
    const shard = cache.lookupFor({});
    const users = ["alice", "bob", "carol", "user0000", "nobody", "user0001"];
    const answers = await Promise.all(users.map((user) => shard({ username: user, user, realm: "localhost" })));
    // Two read alone at once; the four that came meanwhile share the third statement.
    expect(db.queries).toBe(3);
    expect(answers.map((a) => a?.password)).toEqual(["alice123", "bob123", "carol123", "pw", undefined, "pw"]);
    // Answers and the absence are cached for the whole isolate.
    await Promise.all(users.map((user) => cache.lookup({ username: user, user, realm: "localhost" })));
    expect(db.queries).toBe(3);
  });

  it("batches with use_domain off too, the first row of a username winning", async () => {
    db.db.exec("INSERT INTO subscriber (username, domain, password, ha1, ha1b, ha1_sha256) SELECT username, 'other.org', 'second', ha1, ha1b, ha1_sha256 FROM subscriber WHERE username IN ('carol', 'user0000')");
    const cache = new SubscriberCache(db, { clock, useDomain: false });
    const shard = cache.lookupFor({});
    const users = ["alice", "bob", "carol", "user0000"];
    const answers = await Promise.all(users.map((user) => shard({ username: user, user, realm: "example.com" })));
    expect(db.queries).toBe(3);
    expect(answers.map((a) => a?.password)).toEqual(["alice123", "bob123", "carol123", "pw"]);
  });

  it("fails every lookup of a batch whose read failed, and caches none of them", async () => {
    const cache = new SubscriberCache(db, { clock });
    const shard = cache.lookupFor({});
    db.db.exec("ALTER TABLE subscriber RENAME TO subscriber_gone");
    const users = ["alice", "bob", "carol", "user0000"];
    const results = await Promise.allSettled(users.map((user) => shard({ username: user, user, realm: "localhost" })));
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
    db.db.exec("ALTER TABLE subscriber_gone RENAME TO subscriber");
    expect(await shard({ username: "carol", user: "carol", realm: "localhost" })).toMatchObject({ password: "carol123" });
  });

  it("matches the domain column by realm, and maps an alias realm through domainOf", async () => {
    const cache = new SubscriberCache(db, { clock, domainOf: (realm) => (realm === "127.0.0.1" ? "localhost" : realm) });
    expect(await cache.lookup({ username: "alice", user: "alice", realm: "example.com" })).toBeUndefined();
    expect(await cache.lookup({ username: "alice", user: "alice", realm: "127.0.0.1" })).toMatchObject({ password: "alice123" });
  });

  it("maps a shard's alias realm through the domainOf its lookupFor was given, whatever options made the isolate's cache", async () => {
    const cache = new SubscriberCache(db, { clock }); // made first by the admin API or the phone page: no aliases
    const shard = cache.lookupFor({}, { domainOf: (realm) => (realm === "127.0.0.1" ? "localhost" : realm) });
    expect(await shard({ username: "alice", user: "alice", realm: "127.0.0.1" })).toMatchObject({ password: "alice123" });
    expect(await cache.lookup({ username: "alice", user: "alice", realm: "127.0.0.1" })).toBeUndefined();
  });

  it("keeps what a lookup read for that lookup's ttl (SUBSCRIBER_CACHE_TTL), not the cache's default", async () => {
    const cache = new SubscriberCache(db, { clock }); // default 60 s
    const shard = cache.lookupFor({}, { ttl: 900_000 });
    await shard(alice);
    now += 600_000;
    await shard(alice);
    expect(db.queries).toBe(1);
    now += 400_000;
    await shard(alice);
    expect(db.queries).toBe(2);
  });

  it("ignores the domain with use_domain off (Kamailio's default)", async () => {
    const cache = new SubscriberCache(db, { clock, useDomain: false });
    expect(await cache.lookup({ username: "alice", user: "alice", realm: "example.com" })).toMatchObject({ password: "alice123" });
  });

  it("reads a changed password at once after invalidate", async () => {
    const cache = new SubscriberCache(db, { clock });
    await cache.lookup(alice);
    db.db.exec("UPDATE subscriber SET password = 'new' WHERE username = 'alice'");
    expect(await cache.lookup(alice)).toMatchObject({ password: "alice123" });
    cache.invalidate("alice", "localhost");
    expect(await cache.lookup(alice)).toMatchObject({ password: "new" });
  });

  it("keeps at most maxEntries, dropping the oldest", async () => {
    const cache = new SubscriberCache(db, { clock, maxEntries: 2 });
    for (const user of ["alice", "bob", "carol"]) await cache.lookup({ username: user, user, realm: "localhost" });
    expect(cache.size).toBe(2);
    await cache.lookup({ username: "carol", user: "carol", realm: "localhost" });
    expect(db.queries).toBe(3);
    await cache.lookup(alice);
    expect(db.queries).toBe(4);
  });

  it("does not cache a failed query", async () => {
    const cache = new SubscriberCache(db, { clock });
    db.db.exec("ALTER TABLE subscriber RENAME TO subscriber_gone");
    await expect(Promise.resolve(cache.lookup(alice))).rejects.toThrow();
    db.db.exec("ALTER TABLE subscriber_gone RENAME TO subscriber");
    expect(await cache.lookup(alice)).toMatchObject({ password: "alice123" });
  });
});

describe("demo subscribers", () => {
  it("seeds alice, bob, carol and the bench users only into an empty table", async () => {
    const fresh = new SqliteD1();
    await applyMigrations(fresh, [init]);
    expect(await seedDemoSubscribers(fresh, "localhost")).toBe(1003);
    expect(fresh.db.prepare("SELECT username FROM subscriber WHERE username IN ('bob', 'user0999') ORDER BY username").all()).toEqual([
      { username: "bob" },
      { username: "user0999" },
    ]);
    expect(await seedDemoSubscribers(fresh, "localhost")).toBe(0);
  });
});

import { env } from "cloudflare:workers";
import type { SipConnection } from "../../durable-objects/sip-connection.ts";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { guardOf, type GuardClient } from "../../durable-objects/guard.ts";
import { GUARD_CLIENT_CAPACITY } from "../../durable-objects/guard-client.ts";
import { directoryOf } from "../../durable-objects/guard-directory.ts";
import { DIRECTORY_MAX_AGE_MS } from "../../src/modules/htable/ban-directory.ts";

let seq = 0;
/** A fresh address per test: Guard objects outlive a test within the file. */
const freshIp = (): string => `192.0.2.${++seq}`;
/** A ban, a watch or a lift reaches every shard's copy within this (plus an RPC). */
const PROPAGATION = { timeout: 2 * DIRECTORY_MAX_AGE_MS + 1000, interval: 50 };

const SHARDS = 16; // wrangler.toml CONNECTION_SHARDS
const shard = (n: number) => env.SIP_CONNECTION.get(env.SIP_CONNECTION.idFromName(`shard-${n}`)) as DurableObjectStub<SipConnection>;
const admit = (n: number, ip: string) => shard(n).security({ kind: "admit", ip, shard: String(n), shards: SHARDS });
/** The shard's GuardClient (a private field, read inside the object: test-only). */
const clientOf = (o: SipConnection) => (o as unknown as { guard: GuardClient }).guard;

describe("Guard: pike, ipban, connection cap and the auth block of one address", () => {
  it("counts the hits connections hand over and flags the address above 16 per unit (-2 first, -1 after)", async () => {
    const guard = guardOf(env.GUARD, freshIp());
    expect((await guard.checkReq("192.0.2.200", 16)).verdict).toEqual({ verdict: "ok" });
    expect((await guard.checkReq("192.0.2.200", 1)).verdict).toEqual({ verdict: "flood", first: true });
    expect((await guard.checkReq("192.0.2.200", 1)).verdict).toEqual({ verdict: "flood", first: false });
  });

  it("counts a shard's held-back hits in the unit the shard counted them in, however late they come", async () => {
    const ip = freshIp();
    const guard = guardOf(env.GUARD, ip);
    const unit = 2_000; // PIKE_SAMPLING_TIME_UNIT
    // Clear of a unit's end while the reports go in.
    while (Date.now() % unit > unit - 300) await new Promise((r) => setTimeout(r, 50));
    const now = Date.now();
    const lastUnit = now - (now % unit) - 1;
    expect((await guard.checkReq(ip, 1, "ws", now)).verdict).toEqual({ verdict: "ok" });
    // A batch made at the end of the last unit and delivered in this one is counted there: at the
    // Guard's own time, it and this unit's batch made 19 here, above 16, from an address sending ~10.
    expect((await guard.checkReq(ip, 9, "ws", lastUnit)).verdict).toEqual({ verdict: "ok" });
    expect((await guard.checkReq(ip, 9, "ws", now)).verdict).toEqual({ verdict: "ok" });
    expect((await guard.checkReq(ip, 7, "ws", now)).verdict).toEqual({ verdict: "flood", first: true });
  });

  it("counts UDP datagrams apart from WebSocket traffic: forged datagrams never push a WebSocket user over", async () => {
    const ip = freshIp();
    const guard = guardOf(env.GUARD, ip);
    expect((await guard.checkReq(ip, 40, "udp")).verdict).toEqual({ verdict: "flood", first: true });
    expect((await guard.checkReq(ip, 16, "ws")).verdict).toEqual({ verdict: "ok" });
  });

  it("a UDP-caused ban does not refuse a WebSocket; a WebSocket-caused one does, and survives the object's eviction", async () => {
    const ip = freshIp();
    const guard = guardOf(env.GUARD, ip);
    await guard.ban("udp");
    expect(await guard.admit("0")).toEqual({ ok: true });
    expect((await guard.status()).bans).toEqual({ udp: expect.any(Number) });
    const until = await guard.ban("all");
    expect(until).toBeGreaterThan(Date.now() + 299_000);
    expect(await guard.admit("1")).toEqual({ ok: false, reason: "banned" });
    await evictDurableObject(guard);
    expect(await guardOf(env.GUARD, ip).admit("1")).toEqual({ ok: false, reason: "banned" });
    expect(Object.keys((await guardOf(env.GUARD, ip).status()).bans).sort()).toEqual(["all", "udp"]);
    await guardOf(env.GUARD, ip).unban();
    expect((await guardOf(env.GUARD, ip).admit("1")).ok).toBe(true);
  });

  it("the first auth failure makes the address watched; 30 failures block that user only", async () => {
    const ip = freshIp();
    const guard = guardOf(env.GUARD, ip);
    expect(await guard.authWatched()).toBe(false);
    for (let i = 0; i < 30; i++) await guard.authFailure("alice", ip);
    expect(await guard.authWatched()).toBe(true);
    expect(await guard.authBlockCheck({ user: "alice", source: ip })).toMatchObject({ verdict: "block", reason: "Blocked Forbidden" });
    expect(await guard.authBlockCheck({ user: "alice", source: ip })).toMatchObject({ verdict: "block", reason: "Already Blocked Forbidden" });
    expect(await guard.authBlockCheck({ user: "alice", source: ip, ruriUser: "112" })).toEqual({ verdict: "allow" });
    expect(await guard.authBlockCheck({ user: "bob", source: ip })).toEqual({ verdict: "allow" });
  });

  it("an auth block survives an eviction of its Guard (a deploy) with the time it had left; counts do not", async () => {
    const ip = freshIp();
    const guard = guardOf(env.GUARD, ip);
    for (let i = 0; i < 30; i++) await guard.authFailure("alice", ip);
    expect(await guard.authBlockCheck({ user: "alice", source: ip })).toMatchObject({ verdict: "block", first: true });
    for (let i = 0; i < 29; i++) await guard.authFailure("bob", ip);
    await evictDurableObject(guard);
    const again = guardOf(env.GUARD, ip);
    expect(await again.authBlockCheck({ user: "alice", source: ip })).toMatchObject({ verdict: "block", reason: "Already Blocked Forbidden" });
    const block = (await again.status()).authBlock.find((i) => i.key.endsWith("|alice::last_block"));
    expect(block?.expiresAt).toBeGreaterThan(Date.now() + 890_000);
    // Bob's 29 failures were counters: gone, so one more does not block him.
    await again.authFailure("bob", ip);
    expect(await again.authBlockCheck({ user: "bob", source: ip })).toEqual({ verdict: "allow" });
    await again.unblock("alice", ip);
    await evictDurableObject(again);
    expect(await guardOf(env.GUARD, ip).authBlockCheck({ user: "alice", source: ip })).toEqual({ verdict: "allow" });
  });

  it("releasing a connection frees its place under the cap", async () => {
    const guard = guardOf(env.GUARD, freshIp());
    for (let i = 0; i < 5; i++) expect((await guard.admit("0")).ok).toBe(true);
    expect(await guard.release("0")).toBe(4);
    expect((await guard.status()).connections).toEqual({ "0": 4 });
  });

  it("a shard's first ask replaces the Guard's counts with the shards' real ones (none holds a socket here)", async () => {
    const guard = guardOf(env.GUARD, freshIp());
    for (let i = 0; i < 3; i++) await guard.admit("3");
    expect((await guard.status()).connections).toEqual({ "3": 3 });
    expect(await guard.admit("3", true)).toEqual({ ok: true });
    expect((await guard.status()).connections).toEqual({});
  });
});

describe("admission in the shard: no Guard for an address with nothing to count", () => {
  it("an address without a ban is admitted without a Guard; once banned, every shard refuses it with 403", async () => {
    const ip = freshIp();
    expect(await admit(0, ip)).toBe(0);
    // status() would create the Guard: its empty state shows admission never reached it.
    expect((await guardOf(env.GUARD, ip).status()).connections).toEqual({});
    await guardOf(env.GUARD, ip).ban("all");
    // Each shard learns it from the directory when its copy is due.
    for (let n = 0; n < SHARDS; n++) await vi.waitFor(async () => expect(await admit(n, ip)).toBe(403), PROPAGATION);
    await guardOf(env.GUARD, ip).unban();
    for (let n = 0; n < SHARDS; n++) await vi.waitFor(async () => expect(await admit(n, ip)).toBe(0), PROPAGATION);
  });

  it("a UDP-only ban refuses no WebSocket in any shard", async () => {
    const ip = freshIp();
    await guardOf(env.GUARD, ip).ban("udp");
    expect((await directoryOf(env.GUARD_DIRECTORY).entry(ip))).toBeUndefined();
    for (let n = 0; n < SHARDS; n++) expect(await admit(n, ip)).toBe(0);
  });

  it("a banned address is still refused by a shard that restarts (it copies the directory before admitting)", async () => {
    const ip = freshIp();
    await guardOf(env.GUARD, ip).ban("all");
    await vi.waitFor(async () => expect(await admit(2, ip)).toBe(403), PROPAGATION);
    await evictDurableObject(shard(2));
    expect(await admit(2, ip)).toBe(403);
  });

  it("a ban and a first auth failure cost one record in the directory and nothing in any shard (not a write per shard)", async () => {
    const banned = freshIp();
    const guessing = freshIp();
    await guardOf(env.GUARD, banned).ban("all");
    await guardOf(env.GUARD, guessing).authFailure("alice", guessing);
    await vi.waitFor(async () => {
      expect(await directoryOf(env.GUARD_DIRECTORY).entry(banned)).toMatchObject({ ban: expect.any(Number) });
      expect(await directoryOf(env.GUARD_DIRECTORY).entry(guessing)).toMatchObject({ watch: expect.any(Number) });
    });
    for (let n = 0; n < SHARDS; n++) {
      const stored = await runInDurableObject(shard(n), async (_o: SipConnection, state) => [...(await state.storage.list({ prefix: "guard:" })).keys()]);
      expect(stored).toEqual([]);
    }
    // Yet every shard comes to check the guessing address, and lists both (admin, metrics).
    await vi.waitFor(async () => {
      for (let n = 0; n < SHARDS; n++) expect(await runInDurableObject(shard(n), (o: SipConnection) => clientOf(o).authWatched(guessing))).toBe(true);
    }, PROPAGATION);
    const known = await runInDurableObject(shard(5), (o: SipConnection) => clientOf(o).known());
    expect(known.bans.map(([key]) => key)).toContain(banned);
    expect(known.watched.map(([key]) => key)).toContain(guessing);
  });
});

describe("a shard's guard tables are bounded: the oldest entry goes, never all of them", () => {
  it(`${GUARD_CLIENT_CAPACITY + 1} spoofed UDP sources push out one pike fast path; a ban made before stays`, async () => {
    const banned = freshIp();
    await runInDurableObject(shard(9), async (o: SipConnection) => {
      const guard = clientOf(o);
      await guard.ban({ transport: "ws", ip: banned });
      const now = Date.now();
      for (let i = 0; i <= GUARD_CLIENT_CAPACITY; i++) await guard.checkReq({ transport: "udp", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }, now);
      const stats = guard.stats();
      expect(stats.fastPaths).toBe(GUARD_CLIENT_CAPACITY);
      expect(stats.evicted).toBe(1);
      expect(guard.isBanned({ transport: "ws", ip: banned }, now)).toBe(true);
    });
  });

  it(`a UDP ban pushed out of a shard's full ban cache by ${GUARD_CLIENT_CAPACITY} newer ones still applies: the Guard hands it back within the local pike budget`, async () => {
    const source = { transport: "udp" as const, ip: freshIp() };
    await runInDurableObject(shard(10), async (o: SipConnection) => {
      const guard = clientOf(o);
      await guard.ban(source);
      const now = Date.now();
      expect(guard.isBanned(source, now)).toBe(true);
      const learn = (guard as unknown as { learn(key: string, bans: { all: number; udp: number }, now: number): void }).learn.bind(guard);
      for (let i = 0; i < GUARD_CLIENT_CAPACITY; i++) learn(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, { all: 0, udp: now + 300_000 }, now);
      expect(guard.stats().bans).toBe(GUARD_CLIENT_CAPACITY);
      expect(guard.isBanned(source, now)).toBe(false);
      const verdicts: string[] = [];
      for (let i = 0; i < 9 && verdicts.at(-1) !== "flood"; i++) verdicts.push((await guard.checkReq(source, now)).verdict);
      expect(verdicts.at(-1)).toBe("flood");
      expect(guard.isBanned(source, now)).toBe(true);
    });
  });
});

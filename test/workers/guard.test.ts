import { env } from "cloudflare:workers";
import type { SipConnection } from "../../durable-objects/sip-connection.ts";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { guardOf } from "../../durable-objects/guard.ts";

let seq = 0;
/** A fresh address per test: Guard objects outlive a test within the file. */
const freshIp = (): string => `192.0.2.${++seq}`;

describe("Guard: pike, ipban, connection cap and the auth block of one address", () => {
  it("counts the hits connections hand over and flags the address above 16 per unit (-2 first, -1 after)", async () => {
    const guard = guardOf(env.GUARD, freshIp());
    expect((await guard.checkReq("192.0.2.200", 16)).verdict).toEqual({ verdict: "ok" });
    expect((await guard.checkReq("192.0.2.200", 1)).verdict).toEqual({ verdict: "flood", first: true });
    expect((await guard.checkReq("192.0.2.200", 1)).verdict).toEqual({ verdict: "flood", first: false });
  });

  it("a banned address is refused at admission, and the ban survives the object's eviction", async () => {
    const ip = freshIp();
    const guard = guardOf(env.GUARD, ip);
    expect(await guard.admit("0")).toEqual({ ok: true });
    const until = await guard.ban();
    expect(until).toBeGreaterThan(Date.now() + 299_000);
    expect(await guard.admit("1")).toEqual({ ok: false, reason: "banned" });
    await evictDurableObject(guard);
    expect(await guardOf(env.GUARD, ip).admit("1")).toEqual({ ok: false, reason: "banned" });
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

const shard = (n: number) => env.SIP_CONNECTION.get(env.SIP_CONNECTION.idFromName(`shard-${n}`)) as DurableObjectStub<SipConnection>;

describe("admission in the shard: no Guard for an address with nothing to count", () => {
  it("an address without a ban is admitted without a Guard; once banned, every shard refuses it with 403", async () => {
    const ip = freshIp();
    const admit = (n: number) => shard(n).security({ kind: "admit", ip, shard: String(n), shards: 16 });
    expect(await admit(0)).toBe(0);
    // status() would create the Guard: its empty state shows admission never reached it.
    expect((await guardOf(env.GUARD, ip).status()).connections).toEqual({});
    await guardOf(env.GUARD, ip).ban();
    // The ban is announced to every shard in the background.
    await vi.waitFor(async () => expect(await admit(5)).toBe(403));
    expect(await admit(0)).toBe(403);
    await guardOf(env.GUARD, ip).unban();
    await vi.waitFor(async () => expect(await admit(5)).toBe(0));
  });

  it("a banned address is still refused after its shard restarts (the ban is in the shard's storage)", async () => {
    const ip = freshIp();
    await guardOf(env.GUARD, ip).ban();
    await vi.waitFor(async () => expect(await shard(2).security({ kind: "admit", ip, shard: "2", shards: 16 })).toBe(403));
    await evictDurableObject(shard(2));
    expect(await shard(2).security({ kind: "admit", ip, shard: "2", shards: 16 })).toBe(403);
  });

  it("beyond its share of the cap (⌊100 / 16⌋ = 6 here) a shard counts the address in its Guard", async () => {
    const ip = freshIp();
    for (let i = 0; i < 6; i++) expect(await shard(1).security({ kind: "admit", ip, shard: "1", shards: 16 })).toBe(0);
    expect((await guardOf(env.GUARD, ip).status()).connections).toEqual({});
    expect(await shard(1).security({ kind: "admit", ip, shard: "1", shards: 16 })).toBe(0);
    // Six admitted upgrades are pending (no socket yet): the Guard's count of the shards finds
    // them, and it counts the 7th; from now on every upgrade of the address asks the Guard.
    expect((await guardOf(env.GUARD, ip).status()).connections).toEqual({ "1": 7 });
    expect(await shard(4).security({ kind: "admit", ip, shard: "4", shards: 16 })).toBe(0);
    expect((await guardOf(env.GUARD, ip).status()).connections).toEqual({ "1": 7, "4": 1 });
  });

  it("an auth failure is announced to every shard, which then checks the address", async () => {
    const ip = freshIp();
    await guardOf(env.GUARD, ip).authFailure("alice", ip);
    await vi.waitFor(async () => expect(await runInDurableObject(shard(7), (o: SipConnection) => watchedIn(o, ip))).toBe(true));
  });
});

/** The shard's GuardClient view (private field read inside the object, test-only). */
function watchedIn(o: SipConnection, ip: string): boolean {
  return (o as unknown as { guard: { authWatched(ip: string): boolean } }).guard.authWatched(ip);
}

import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
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
    expect(await guard.admit("0")).toEqual({ ok: true, watched: false });
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
    expect((await guard.admit("0")) as unknown).toEqual({ ok: true, watched: true });
    expect(await guard.authBlockCheck({ user: "alice", source: ip })).toMatchObject({ verdict: "block", reason: "Blocked Forbidden" });
    expect(await guard.authBlockCheck({ user: "alice", source: ip })).toMatchObject({ verdict: "block", reason: "Already Blocked Forbidden" });
    expect(await guard.authBlockCheck({ user: "alice", source: ip, ruriUser: "112" })).toEqual({ verdict: "allow" });
    expect(await guard.authBlockCheck({ user: "bob", source: ip })).toEqual({ verdict: "allow" });
  });

  it("releasing a connection frees its place under the cap", async () => {
    const guard = guardOf(env.GUARD, freshIp());
    for (let i = 0; i < 5; i++) expect((await guard.admit("0")).ok).toBe(true);
    await guard.release("0");
    expect((await guard.status()).connections).toEqual({ "0": 4 });
  });
});

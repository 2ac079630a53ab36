import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { NonceSigner } from "../../../src/modules/auth/nonce.ts";
import { NonceCountTracker, parseNc } from "../../../src/modules/auth/nonce-count.ts";

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const scope = { realm: "localhost" };

describe("stateless nonces", () => {
  it("are 40 base64url characters and verify without storage until nonce_expire (300 s) passes", () => {
    const signer = new NonceSigner({ current: "s3cret" });
    const nonce = signer.issue(T0, scope);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect(signer.verify(nonce, T0 + 299_000, scope)).toEqual({ ok: true, expiresAt: T0 + 300_000, expired: false, serial: 1 });
    expect(signer.verify(nonce, T0 + 300_000, scope)).toEqual({ ok: true, expiresAt: T0 + 300_000, expired: true, serial: 1 });
  });

  it("carry their place in the signer's issue order, which only that signer reads back", () => {
    const signer = new NonceSigner({ current: "s3cret" });
    const nonces = Array.from({ length: 5 }, (_, i) => signer.issue(T0 + i * 100, scope));
    expect(nonces.map((n) => signer.verify(n, T0, scope))).toMatchObject([1, 2, 3, 4, 5].map((serial) => ({ ok: true, serial })));
    // Another signer with the same secret (another shard, or this object restarted) vouches for
    // the nonce but cannot place it in its own order.
    const other = new NonceSigner({ current: "s3cret" });
    // Issued at T0 + 200 ms: the whole-second stamp rounds up.
    expect(other.verify(nonces[2]!, T0, scope)).toEqual({ ok: true, expiresAt: T0 + 301_000, expired: false, serial: undefined });
  });

  it("read serials past 2^32 back from all six bytes", () => {
    const signer = new NonceSigner({ current: "s3cret" });
    // Four billion nonces in: made here with the secret, keeping this signer's issuer.
    const nonce = signer.issue(T0, scope);
    const raw = Buffer.from(nonce, "base64url");
    expect(raw.subarray(8, 14).toString("hex")).toBe("000000000001");
    const high = Buffer.from(raw);
    high.writeUIntBE(2 ** 40 + 5, 8, 6);
    const mac = createHmac("sha256", "s3cret").update(Buffer.from([0])).update(high.subarray(0, 14)).update(`${scope.realm}\u0000`, "utf8").digest();
    mac.copy(high, 14, 0, 16);
    expect(signer.verify(high.toString("base64url"), T0, scope)).toMatchObject({ ok: true, serial: 2 ** 40 + 5 });
  });

  it("differ every time", () => {
    const signer = new NonceSigner({ current: "s3cret" });
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) seen.add(signer.issue(T0, scope));
    expect(seen.size).toBe(50);
  });

  it("honour a configured nonce_expire", () => {
    const signer = new NonceSigner({ current: "s3cret" }, 30);
    const nonce = signer.issue(T0, scope);
    expect(signer.verify(nonce, T0 + 31_000, scope)).toMatchObject({ ok: true, expired: true });
  });

  it("live at least nonce_expire seconds wherever in a second they are issued, and under one more", () => {
    const signer = new NonceSigner({ current: "s3cret" }, 1);
    for (const offset of [0, 1, 500, 999]) {
      const issuedAt = T0 + offset;
      const nonce = signer.issue(issuedAt, scope);
      expect(signer.verify(nonce, issuedAt + 999, scope)).toMatchObject({ ok: true, expired: false });
      expect(signer.verify(nonce, issuedAt + 2_000, scope)).toMatchObject({ ok: true, expired: true });
    }
  });

  it("reject a nonce with any character changed (tampered expiry, random part or MAC)", () => {
    const signer = new NonceSigner({ current: "s3cret" });
    const nonce = signer.issue(T0, scope);
    for (const i of [0, 5, 8, 12, 18, 20, 39]) {
      const c = nonce[i] === "A" ? "B" : "A";
      const forged = nonce.slice(0, i) + c + nonce.slice(i + 1);
      const check = signer.verify(forged, T0, scope);
      expect(check.ok).toBe(false);
    }
  });

  it("reject text that is not a nonce of ours as malformed", () => {
    const signer = new NonceSigner({ current: "s3cret" });
    expect(signer.verify("dcd98b7102dd2f0e8b11d0f600bfb0c093", T0, scope)).toEqual({ ok: false, reason: "malformed" });
    expect(signer.verify("", T0, scope)).toEqual({ ok: false, reason: "malformed" });
    expect(signer.verify("!".repeat(40), T0, scope)).toEqual({ ok: false, reason: "malformed" });
    expect(signer.verify(signer.issue(T0, scope).slice(0, 38), T0, scope)).toEqual({ ok: false, reason: "malformed" });
  });

  it("are valid only in the realm and binding they were issued for", () => {
    const signer = new NonceSigner({ current: "s3cret" });
    const nonce = signer.issue(T0, { realm: "localhost", bind: "conn-1" });
    expect(signer.verify(nonce, T0, { realm: "localhost", bind: "conn-1" })).toMatchObject({ ok: true });
    expect(signer.verify(nonce, T0, { realm: "example.com", bind: "conn-1" })).toEqual({ ok: false, reason: "bad-signature" });
    expect(signer.verify(nonce, T0, { realm: "localhost", bind: "conn-2" })).toEqual({ ok: false, reason: "bad-signature" });
    expect(signer.verify(nonce, T0, { realm: "localhost" })).toEqual({ ok: false, reason: "bad-signature" });
  });

  it("sign 0x00 ‖ expires ‖ issuer ‖ serial ‖ UTF-8(realm ‖ NUL ‖ bind) with HMAC-SHA256, ASCII or not", () => {
    const signer = new NonceSigner({ current: "s3cret" });
    for (const scope of [{ realm: "localhost", bind: "conn-1" }, { realm: "bücher.example", bind: "flöw-☎" }]) {
      const nonce = signer.issue(T0, scope);
      const raw = Buffer.from(nonce, "base64url");
      expect(raw.readUInt32BE(0)).toBe(T0 / 1000 + 300);
      const head = raw.subarray(0, 14);
      const expected = createHmac("sha256", "s3cret").update(Buffer.from([0])).update(head).update(`${scope.realm}\u0000${scope.bind}`, "utf8").digest().subarray(0, 16);
      expect(raw.subarray(14).toString("hex")).toBe(expected.toString("hex"));
      expect(signer.verify(nonce, T0, scope)).toMatchObject({ ok: true });
      expect(signer.verify(nonce, T0, { realm: scope.realm, bind: `${scope.bind}x` })).toEqual({ ok: false, reason: "bad-signature" });
    }
  });

  it("stay valid across a secret rotation (current + previous) and die with the secret after the next", () => {
    const before = new NonceSigner({ current: "one" });
    const nonce = before.issue(T0, scope);
    const rotated = new NonceSigner({ current: "two", previous: "one" });
    expect(rotated.verify(nonce, T0, scope)).toMatchObject({ ok: true, expired: false });
    expect(rotated.verify(rotated.issue(T0, scope), T0, scope)).toMatchObject({ ok: true });
    const again = new NonceSigner({ current: "three", previous: "two" });
    expect(again.verify(nonce, T0, scope)).toEqual({ ok: false, reason: "bad-signature" });
  });
});

describe("nonce-count replay protection", () => {
  const expiresAt = T0 + 300_000;
  /** The signer's word on nonce number `serial` of this object. */
  const issued = (serial: number, expires = expiresAt) => ({ expiresAt: expires, serial });

  it("accepts increasing nc values and rejects a repeated or lower nc as reused", () => {
    const tracker = new NonceCountTracker();
    expect(tracker.check(1, issued(1), T0 + 1)).toBe("ok");
    expect(tracker.check(2, issued(1), T0 + 2)).toBe("ok");
    expect(tracker.check(2, issued(1), T0 + 3)).toBe("reused");
    expect(tracker.check(1, issued(1), T0 + 4)).toBe("reused");
    expect(tracker.check(5, issued(1), T0 + 5)).toBe("ok");
    expect(tracker.check(1, issued(2), T0 + 6)).toBe("ok");
  });

  it("makes nonces without qop (nc 0) single-use", () => {
    const tracker = new NonceCountTracker();
    expect(tracker.check(0, issued(1), T0)).toBe("ok");
    expect(tracker.check(0, issued(1), T0)).toBe("reused");
  });

  it("forgets nonces once they expire", () => {
    const tracker = new NonceCountTracker();
    tracker.check(1, issued(1, T0 + 1000), T0);
    tracker.check(1, issued(2, T0 + 300_000), T0 + 500);
    expect(tracker.size).toBe(2);
    tracker.check(1, issued(3, T0 + 301_000), T0 + 2000);
    expect(tracker.size).toBe(2);
  });

  it("stays within its capacity and refuses (as stale) nonces that may have been evicted", () => {
    const tracker = new NonceCountTracker({ capacity: 3 });
    for (let i = 1; i <= 5; i++) expect(tracker.check(1, issued(i), T0)).toBe("ok");
    expect(tracker.size).toBe(3);
    // n1 and n2 were evicted: a replay of them is not accepted...
    expect(tracker.check(1, issued(1), T0)).toBe("stale");
    expect(tracker.check(1, issued(2), T0)).toBe("stale");
    // ...while nonces issued after anything evicted still work, however many share a second.
    expect(tracker.check(1, issued(9), T0)).toBe("ok");
    expect(tracker.check(1, issued(6), T0)).toBe("ok");
  });

  it("refuses, after an eviction, only the nonces issued up to the evicted one", () => {
    const tracker = new NonceCountTracker({ capacity: 2 });
    // First used out of issue order: 5, then 2, then 8 evicts 5.
    for (const serial of [5, 2, 8]) expect(tracker.check(1, issued(serial), T0)).toBe("ok");
    expect(tracker.check(1, issued(4), T0)).toBe("stale");
    expect(tracker.check(1, issued(5), T0)).toBe("stale");
    expect(tracker.check(1, issued(6), T0)).toBe("ok");
    // 6 evicted 2 (the watermark stays at 5), and n2 is still caught by it.
    expect(tracker.check(2, issued(2), T0)).toBe("stale");
  });

  it("refuses as stale a nonce another signer issued (a restarted object, another shard)", () => {
    const tracker = new NonceCountTracker();
    expect(tracker.check(1, { expiresAt, serial: undefined }, T0)).toBe("stale");
    expect(tracker.size).toBe(0);
  });

  it("keeps replay protection and its bound through many times its capacity of evictions and expiries", () => {
    const tracker = new NonceCountTracker({ capacity: 64 });
    // 5,000 nonces, one every 10 ms, each living 300 s: the table is full after 64 and every
    // check then evicts the oldest (the front of the insertion order, compacted as it goes).
    for (let i = 0; i < 5000; i++) {
      const now = T0 + i * 10;
      expect(tracker.check(1, issued(i + 1, now + 300_000), now)).toBe("ok");
      expect(tracker.size).toBeLessThanOrEqual(64);
    }
    const now = T0 + 50_000;
    // The 64 newest are remembered (a replay is caught), everything older is refused as stale.
    expect(tracker.check(1, issued(5000, T0 + 49_990 + 300_000), now)).toBe("reused");
    expect(tracker.check(1, issued(4937, T0 + 49_360 + 300_000), now)).toBe("reused");
    expect(tracker.check(1, issued(4936, T0 + 49_350 + 300_000), now)).toBe("stale");
    expect(tracker.check(1, issued(1, T0 + 300_000), now)).toBe("stale");
    expect(tracker.check(2, issued(5000, T0 + 49_990 + 300_000), now)).toBe("ok");
    // Once all have expired, the next check purges them all.
    expect(tracker.check(1, issued(5001, T0 + 700_000), T0 + 400_000)).toBe("ok");
    expect(tracker.size).toBe(1);
  });

  it("parses nc as 8 hex digits and nothing else", () => {
    expect(parseNc("00000001")).toBe(1);
    expect(parseNc("0000000A")).toBe(10);
    expect(parseNc("ffffffff")).toBe(0xffffffff);
    expect(parseNc("1")).toBeUndefined();
    expect(parseNc("0000000g")).toBeUndefined();
    expect(parseNc("0000000\u0010")).toBeUndefined();
  });
});

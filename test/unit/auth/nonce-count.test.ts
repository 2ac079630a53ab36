import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { NonceCountTracker } from "../../../src/modules/auth/nonce-count.ts";
import { parseCredentials } from "../../../src/sip/digest.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const T0 = Date.UTC(2026, 11, 6, 22, 0, 0);
const PAD = 64 * 1024;
const ENTRIES = 1000;

/** The nc of credentials parsed out of a large Authorization value (its nonce a V8 sliced string of it). */
function ncInRequest(i: number): number {
  const nonce = `AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA${String(i).padStart(8, "0")}`;
  const value = `Digest username="u", realm="r", nonce="${nonce}", uri="sip:r", response="${"0".repeat(32)}", qop=auth, nc=00000001, cnonce="c", opaque="${i}${"x".repeat(PAD)}"`;
  const parsed = parseCredentials(value);
  if (!parsed.ok || !("nonce" in parsed.value) || parsed.value.nc === undefined) throw new Error("the test's credentials did not parse");
  return Number.parseInt(parsed.value.nc, 16);
}

describe("nonce-count table", () => {
  it("keeps numbers per nonce, nothing of the requests they came in", () => {
    const tracker = new NonceCountTracker({ capacity: 4096 });
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < ENTRIES; i++) expect(tracker.check(ncInRequest(i), { expiresAt: T0 + 300_000, serial: i + 1 }, T0)).toBe("ok");
    gc();
    const retained = process.memoryUsage().heapUsed - before;
    expect(tracker.size).toBe(ENTRIES);
    // The requests' text is ENTRIES × 64 KB = 64 MB; the entries are well under 1 MB.
    expect(retained).toBeLessThan(1024 * 1024);
    // Still the same nonces: a replay is refused, the next count accepted.
    expect(tracker.check(1, { expiresAt: T0 + 300_000, serial: 8 }, T0)).toBe("reused");
    expect(tracker.check(2, { expiresAt: T0 + 300_000, serial: 8 }, T0)).toBe("ok");
  });

  it("knows a nonce by its serial, which its signer gives no other nonce", () => {
    const tracker = new NonceCountTracker();
    const issued = { expiresAt: T0 + 300_000, serial: 42 };
    expect(tracker.check(1, issued, T0)).toBe("ok");
    expect(tracker.check(1, { ...issued }, T0 + 1)).toBe("reused");
    expect(tracker.check(1, { ...issued, serial: 43 }, T0 + 2)).toBe("ok");
  });
});

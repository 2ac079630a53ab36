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

/** A nonce as the route gets it: parsed out of a large Authorization value (a V8 sliced string). */
function nonceInRequest(i: number): string {
  const nonce = `AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA${String(i).padStart(8, "0")}`;
  const value = `Digest username="u", realm="r", nonce="${nonce}", uri="sip:r", response="${"0".repeat(32)}", opaque="${i}${"x".repeat(PAD)}"`;
  const parsed = parseCredentials(value);
  if (!parsed.ok || !("nonce" in parsed.value)) throw new Error("the test's credentials did not parse");
  return parsed.value.nonce;
}

describe("nonce-count table memory", () => {
  it("keeps its nonces, not the requests they were parsed from", () => {
    const tracker = new NonceCountTracker({ capacity: 4096 });
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < ENTRIES; i++) expect(tracker.check(nonceInRequest(i), 1, { expiresAt: T0 + 300_000, serial: i + 1 }, T0)).toBe("ok");
    gc();
    const retained = process.memoryUsage().heapUsed - before;
    expect(tracker.size).toBe(ENTRIES);
    // The requests' text is ENTRIES × 64 KB = 64 MB; the nonces and their entries well under 1 MB.
    expect(retained).toBeLessThan(4 * 1024 * 1024);
    // Still the same nonces: a replay is refused, the next count accepted.
    expect(tracker.check(nonceInRequest(7), 1, { expiresAt: T0 + 300_000, serial: 8 }, T0)).toBe("reused");
    expect(tracker.check(nonceInRequest(7), 2, { expiresAt: T0 + 300_000, serial: 8 }, T0)).toBe("ok");
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ServerTransactions } from "../../../bridge/server.ts";
import { request } from "./messages.ts";

// The bridge's UDP side takes requests from anyone (a forged source included); its server
// transaction table must stay bounded and never be emptied at once.

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the bridge's server transaction table under a flood of new branches", () => {
  it("holds at most maxEntries: the N+1th request pushes out the oldest transaction only", () => {
    const server = new ServerTransactions({ send: () => {} }, 3);
    const from = (n: number) => request({ method: "OPTIONS", via: `SIP/2.0/UDP 192.0.2.${n}:5060;branch=z9hG4bKflood${n};rport` });
    for (let n = 1; n <= 4; n++) expect(server.request(from(n))).toBe("forward");
    expect(server.table.size).toBe(3);
    expect(server.table.evicted).toBe(1);
    // The newest three still absorb their retransmissions; the oldest lost only that.
    expect([2, 3, 4].map((n) => server.request(from(n)))).toEqual(["absorb", "absorb", "absorb"]);
    expect(server.request(from(1))).toBe("forward");
  });
});

import { describe, expect, it } from "vitest";
import { COPY_SKEW_MS, CopyHolders, copyLease, shardOfFlow } from "../../../durable-objects/location-copies.ts";
import { COPY_TTL_MS } from "../../../src/modules/registrar/location-client.ts";

// Flow tokens as shards issue them: `<shard>.<connection>`.
const sorted = (shards: string[]) => [...shards].sort();
const NOW = Date.UTC(2026, 11, 7, 5, 0, 0);

describe("CopyHolders: which shards a Location object tells when its binding set changes", () => {
  it("while an earlier incarnation's copies may live (its lease), tells every shard of a stored or new flow at its first change, but not the changing one", () => {
    const copies = new CopyHolders(NOW + 10_000);
    expect(sorted(copies.toTell(["1.a", "2.b", "3.c", "9.new", undefined], "9", NOW))).toEqual(["1", "2", "3"]);
    // Told once: the earlier copies are gone.
    expect(copies.toTell(["1.a", "2.b", "3.c"], "9", NOW + 1)).toEqual([]);
  });

  it("counts the clock skew into the lease, and tells nobody once it has passed or when no copy was ever handed (a deploy's reconnect storm)", () => {
    expect(sorted(new CopyHolders(NOW).toTell(["1.a", "2.b"], undefined, NOW + COPY_SKEW_MS - 1))).toEqual(["1", "2"]);
    expect(new CopyHolders(NOW).toTell(["1.a", "2.b"], undefined, NOW + COPY_SKEW_MS)).toEqual([]);
    expect(new CopyHolders(0).toTell(["1.a", "2.b", "3.c"], "4", NOW)).toEqual([]);
  });

  it("tells the shards handed a copy since the change before, once", () => {
    const copies = new CopyHolders(0);
    copies.handedTo("1");
    copies.handedTo("2");
    copies.handedTo("3");
    expect(sorted(copies.toTell(["1.a", "2.b", "3.c"], "3", NOW))).toEqual(["1", "2"]);
    // Told once: they hold nothing until their next copy.
    expect(copies.toTell(["1.a", "2.b", "3.c"], undefined, NOW)).toEqual([]);
    copies.handedTo("2");
    expect(copies.toTell(["1.a", "2.b", "3.c", "4.d"], "4", NOW)).toEqual(["2"]);
  });

  it("a change with no changing shard (a flow removed, expiry, ul rm) tells every holder", () => {
    const copies = new CopyHolders(0);
    copies.handedTo("1");
    copies.handedTo("2");
    expect(sorted(copies.toTell(["1.a", "2.b"], undefined, NOW))).toEqual(["1", "2"]);
  });

  it("a lease covers a copy handed any time until the next write: written COPY_TTL_MS ahead of the longest copy", () => {
    const lease = copyLease(NOW);
    // Handed at NOW + COPY_TTL_MS (the latest without a new write), the copy lives until NOW + 2 × COPY_TTL_MS.
    expect(lease).toBeGreaterThanOrEqual(NOW + COPY_TTL_MS + COPY_TTL_MS);
  });

  it("reads the shard out of a flow token, and none out of a token without one", () => {
    expect(shardOfFlow("12.wk3j")).toBe("12");
    expect(shardOfFlow("flow-a")).toBeUndefined();
    expect(shardOfFlow(".x")).toBeUndefined();
    expect(shardOfFlow(undefined)).toBeUndefined();
  });
});

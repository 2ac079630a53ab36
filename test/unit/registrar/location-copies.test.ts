import { describe, expect, it } from "vitest";
import { CopyHolders, shardOfFlow } from "../../../durable-objects/location-copies.ts";

// Flow tokens as shards issue them: `<shard>.<connection>`.
const sorted = (shards: string[]) => [...shards].sort();

describe("CopyHolders: which shards a Location object tells when its binding set changes", () => {
  it("tells every shard of a stored or new flow at its first change (an earlier incarnation's copies are unknown), but not the changing one", () => {
    const copies = new CopyHolders();
    expect(sorted(copies.toTell(["1.a", "2.b", "3.c", "9.new", undefined], "9"))).toEqual(["1", "2", "3"]);
  });

  it("after that tells only the shards handed a copy since the change before (a reconnect storm's later devices)", () => {
    const copies = new CopyHolders();
    const flows = ["1.a", "2.b", "3.c", "4.d"];
    // Device 1 re-registers through shard 5: all the old flows' shards are told.
    expect(sorted(copies.toTell([...flows, "5.x"], "5"))).toEqual(["1", "2", "3", "4"]);
    copies.handedTo("5.x");
    // Device 2 through shard 6: only shard 5 holds a copy now.
    expect(copies.toTell([...flows, "5.x", "6.y"], "6")).toEqual(["5"]);
    copies.handedTo("6.y");
    // Device 3 through shard 6 again: shard 6 holds the copy it is about to replace; nobody is told.
    expect(copies.toTell([...flows, "5.x", "6.y", "6.z"], "6")).toEqual([]);
    copies.handedTo("6.z");
  });

  it("counts a shard whose refresh was answered (no change) as a holder until the next change tells it", () => {
    const copies = new CopyHolders();
    copies.toTell(["1.a"], "1");
    copies.handedTo("1.a");
    copies.handedTo("2.b"); // a refresh through shard 2 got the list
    copies.handedTo("3.c");
    expect(sorted(copies.toTell(["1.a", "2.b", "3.c"], "3"))).toEqual(["1", "2"]);
    // Told once: they hold nothing until their next reply.
    expect(copies.toTell(["1.a", "2.b", "3.c"], undefined)).toEqual([]);
  });

  it("a change with no changing shard (a flow removed, expiry, ul rm) tells every holder", () => {
    const copies = new CopyHolders();
    copies.toTell([], undefined);
    copies.handedTo("1.a");
    copies.handedTo("2.b");
    expect(sorted(copies.toTell(["1.a", "2.b"], undefined))).toEqual(["1", "2"]);
  });

  it("a save reply to a caller it cannot name (no flow token) makes the next change tell every flow's shard again", () => {
    const copies = new CopyHolders();
    copies.toTell(["1.a", "2.b"], undefined);
    copies.handedTo(undefined);
    expect(sorted(copies.toTell(["1.a", "2.b", "3.c"], "3"))).toEqual(["1", "2"]);
    expect(copies.toTell(["1.a", "2.b", "3.c"], "3")).toEqual([]);
  });

  it("reads the shard out of a flow token, and none out of a token without one", () => {
    expect(shardOfFlow("12.wk3j")).toBe("12");
    expect(shardOfFlow("flow-a")).toBeUndefined();
    expect(shardOfFlow(".x")).toBeUndefined();
    expect(shardOfFlow(undefined)).toBeUndefined();
  });
});

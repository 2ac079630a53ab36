import { describe, expect, it } from "vitest";
import { CopyHolders, tokenShard } from "../../../durable-objects/location-copies.ts";

const sorted = (shards: Iterable<string>) => [...shards].sort();

describe("Location: which shards hear of a change to the binding set", () => {
  it("the first change tells the shards of every flow (an earlier incarnation's copies), except the one that made it", () => {
    const copies = new CopyHolders();
    expect(sorted(copies.change("3", () => ["1", "3", "7", "7"]))).toEqual(["1", "7"]);
  });

  it("after that only the shards handed the list since the last change, each once", () => {
    const copies = new CopyHolders();
    copies.change("3", () => ["1", "3"]);
    copies.handedTo("3"); // the first change's reply
    copies.handedTo("5"); // a refresh through shard 5
    copies.handedTo("5");
    const flowsAsked: string[] = [];
    expect(sorted(copies.change("9", () => (flowsAsked.push("asked"), ["1", "2", "4"])))).toEqual(["3", "5"]);
    expect(flowsAsked).toEqual([]);
    // Shards 3 and 5 dropped their copies: a change now tells nobody but the last registrant's shard.
    copies.handedTo("9");
    expect(sorted(copies.change("2", () => []))).toEqual(["9"]);
  });

  it("a change no shard made (expiry, a closed flow, ul rm) tells every holder", () => {
    const copies = new CopyHolders();
    copies.change(undefined, () => ["4"]);
    copies.handedTo("4");
    copies.handedTo("6");
    expect(sorted(copies.change(undefined, () => []))).toEqual(["4", "6"]);
  });

  it("reads the shard out of a flow token, and nothing out of other text", () => {
    expect(tokenShard("12.s0d9c")).toBe("12");
    expect(tokenShard("flow-a")).toBeUndefined();
    expect(tokenShard(".x")).toBeUndefined();
    expect(tokenShard(undefined)).toBeUndefined();
  });
});

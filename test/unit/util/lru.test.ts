import { describe, expect, it } from "vitest";
import { BoundedMap } from "../../../src/util/lru.ts";

describe("BoundedMap: bounded memory for tables anyone can add to", () => {
  it("at capacity N, the N+1th entry pushes out the oldest one only, never all of them", () => {
    const evicted: string[] = [];
    const map = new BoundedMap<string, number>({ capacity: 3, onEvict: (k) => evicted.push(k) });
    for (const [i, k] of ["a", "b", "c", "d"].entries()) map.set(k, i);
    expect([...map.entries()].map(([k]) => k)).toEqual(["b", "c", "d"]);
    expect(evicted).toEqual(["a"]);
    expect(map.evicted).toBe(1);
  });

  it("setting a key again makes it the newest; with touchOnGet, reading does too (LRU)", () => {
    const fifo = new BoundedMap<string, number>({ capacity: 2 });
    fifo.set("a", 1);
    fifo.set("b", 2);
    fifo.get("a");
    fifo.set("c", 3);
    expect(fifo.has("a")).toBe(false);
    const lru = new BoundedMap<string, number>({ capacity: 2, touchOnGet: true });
    lru.set("a", 1);
    lru.set("b", 2);
    lru.get("a");
    lru.set("c", 3);
    expect([lru.has("a"), lru.has("b")]).toEqual([true, false]);
  });

  it("an expired entry reads as absent and is removed when met or swept", () => {
    const map = new BoundedMap<string, number>({ capacity: 10 });
    map.set("old", 1, 1000);
    map.set("new", 2, 5000);
    expect(map.get("old", 999)).toBe(1);
    expect(map.get("old", 1000)).toBeUndefined();
    expect(map.size).toBe(1);
    map.set("x", 3, 2000);
    const removed: string[] = [];
    expect(map.sweep(3000, (k) => removed.push(k))).toBe(1);
    expect(removed).toEqual(["x"]);
    expect([...map.entries(3000)].map(([k, v, until]) => [k, v, until])).toEqual([["new", 2, 5000]]);
  });
});

import { describe, expect, it } from "vitest";
import { Htable, HtableSet, IPBAN_DEFINITION, parseHtableDefinition } from "../../../src/modules/htable/index.ts";
import { Pike, pikeKey } from "../../../src/modules/pike/index.ts";

function fakeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe("Htable", () => {
  it("reads a missing key as undefined ($null), or as initval when the table has one", () => {
    expect(new Htable({ name: "a" }).get("x")).toBeUndefined();
    expect(new Htable({ name: "a", initval: 0 }).get("x")).toBe(0);
  });

  it("stores string and integer values", () => {
    const t = new Htable({ name: "a" });
    t.set("s", "text");
    t.set("n", 5);
    expect(t.get("s")).toBe("text");
    expect(t.get("n")).toBe(5);
    expect(t.size).toBe(2);
  });

  it("expires an item autoexpire seconds after its last update when updateexpire is on", () => {
    const clock = fakeClock();
    const t = new Htable({ name: "a", autoexpire: 10, clock: clock.now });
    t.set("k", 1);
    clock.advance(9_000);
    t.set("k", 2);
    clock.advance(9_000);
    expect(t.get("k")).toBe(2);
    clock.advance(1_000);
    expect(t.get("k")).toBeUndefined();
    expect(t.has("k")).toBe(false);
  });

  it("expires an item autoexpire seconds after it was created when updateexpire is off", () => {
    const clock = fakeClock();
    const t = new Htable({ name: "a", autoexpire: 10, updateexpire: false, clock: clock.now });
    t.set("k", 1);
    clock.advance(9_000);
    t.inc("k");
    clock.advance(1_000);
    expect(t.get("k")).toBeUndefined();
  });

  it("never expires items of a table without autoexpire", () => {
    const clock = fakeClock();
    const t = new Htable({ name: "a", clock: clock.now });
    t.set("k", 1);
    clock.advance(365 * 86_400_000);
    expect(t.get("k")).toBe(1);
    expect(t.expiresIn("k")).toBeUndefined();
  });

  it("increments and decrements integers, counting a missing item from initval or 0", () => {
    const t = new Htable({ name: "a" });
    expect(t.inc("c")).toBe(1);
    expect(t.inc("c", 5)).toBe(6);
    expect(t.dec("c", 2)).toBe(4);
    expect(new Htable({ name: "b", initval: 10 }).inc("c")).toBe(11);
  });

  it("leaves a string item alone on increment and returns undefined", () => {
    const t = new Htable({ name: "a" });
    t.set("s", "x");
    expect(t.inc("s")).toBeUndefined();
    expect(t.get("s")).toBe("x");
  });

  it("gives one item its own expiry ($shtex)", () => {
    const clock = fakeClock();
    const t = new Htable({ name: "a", autoexpire: 300, clock: clock.now });
    t.set("k", 1);
    expect(t.setExpire("k", 5)).toBe(true);
    expect(t.expiresIn("k")).toBe(5);
    clock.advance(5_000);
    expect(t.get("k")).toBeUndefined();
    expect(t.setExpire("missing", 5)).toBe(false);
  });

  it("deletes single items and resets the whole table", () => {
    const t = new Htable({ name: "a" });
    t.set("a", 1);
    t.set("b", 2);
    expect(t.delete("a")).toBe(true);
    expect(t.get("a")).toBeUndefined();
    t.reset();
    expect(t.size).toBe(0);
  });

  it("sweeps expired items and counts them in stats", () => {
    const clock = fakeClock();
    const t = new Htable({ name: "a", autoexpire: 10, clock: clock.now });
    t.set("a", 1);
    clock.advance(5_000);
    t.set("b", 2);
    clock.advance(5_000);
    expect(t.expire()).toBe(1);
    expect(t.size).toBe(1);
    expect(t.stats()).toEqual({ items: 1, expired: 1, evicted: 0 });
  });

  it("lists live items with their expiry for the admin API, skipping expired ones", () => {
    const clock = fakeClock(1_000_000);
    const t = new Htable({ name: "ipban", autoexpire: 300, clock: clock.now });
    t.set("127.0.0.2", 1);
    t.set("127.0.0.3", 1);
    t.setExpire("127.0.0.3", 1);
    clock.advance(2_000);
    expect([...t.entries()]).toEqual([{ key: "127.0.0.2", value: 1, expiresAt: 1_300_000 }]);
  });

  it("evicts the least recently updated item beyond maxItems", () => {
    const t = new Htable({ name: "a", maxItems: 2 });
    t.set("a", 1);
    t.set("b", 1);
    t.set("a", 2);
    t.set("c", 1);
    expect(t.has("a")).toBe(true);
    expect(t.has("b")).toBe(false);
    expect(t.has("c")).toBe(true);
    expect(t.stats().evicted).toBe(1);
  });
});

describe("ipban with pike (the seed's REQINIT route)", () => {
  it("bans a flooding address for the table's autoexpire and lets it back afterwards", () => {
    const clock = fakeClock();
    const set = HtableSet.fromStrings([IPBAN_DEFINITION], clock.now);
    if (!set.ok) throw new Error(set.reason);
    const ipban = set.value.table("ipban");
    if (ipban === undefined) throw new Error("no ipban table");
    const pike = new Pike({ samplingTimeUnit: 2, reqsDensityPerUnit: 16, removeLatency: 4 });
    const dropped: number[] = [];
    // The route: banned → drop; pike says flood → ban and drop.
    const request = (ip: string, i: number): void => {
      const key = pikeKey(ip);
      if (ipban.get(key) !== undefined) return void dropped.push(i);
      if (pike.checkReq(ip, clock.now()).verdict === "flood") {
        ipban.set(key, 1);
        dropped.push(i);
      }
    };
    for (let i = 1; i <= 20; i++) request("127.0.0.2", i);
    expect(dropped).toEqual([17, 18, 19, 20]);
    request("127.0.0.3", 0);
    expect(ipban.has("127.0.0.3")).toBe(false);
    clock.advance(299_000);
    expect(ipban.has("127.0.0.2")).toBe(true);
    clock.advance(1_000);
    dropped.length = 0;
    request("127.0.0.2", 21);
    expect(dropped).toEqual([]);
  });
});

describe("parseHtableDefinition", () => {
  it("reads Kamailio's modparam value", () => {
    expect(parseHtableDefinition("ipban=>size=8;autoexpire=300;")).toEqual({
      ok: true,
      value: { name: "ipban", autoexpire: 300 },
    });
    expect(parseHtableDefinition("a=>size=4;autoexpire=7200;initval=1;updateexpire=0;maxitems=500")).toEqual({
      ok: true,
      value: { name: "a", autoexpire: 7200, initval: 1, updateexpire: false, maxItems: 500 },
    });
  });

  it("names the attribute that is wrong", () => {
    expect(parseHtableDefinition("ipban")).toEqual({ ok: false, reason: 'missing "=>" after the table name' });
    expect(parseHtableDefinition("ipban=>autoexpire=5m")).toEqual({
      ok: false,
      reason: 'autoexpire: "5m" is not an integer',
    });
    expect(parseHtableDefinition("ipban=>dbtable=htable")).toEqual({
      ok: false,
      reason: "dbtable: attribute not supported",
    });
    expect(parseHtableDefinition("ipban=>toString=1").ok).toBe(false);
    expect(parseHtableDefinition("=>size=8").ok).toBe(false);
  });

  it("refuses a set with one bad definition", () => {
    const set = HtableSet.fromStrings(["a=>size=8", "b=>autoexpire=-1"]);
    expect(set).toEqual({ ok: false, reason: 'htable "b=>autoexpire=-1": autoexpire: -1 is below 0' });
  });
});

import { describe, expect, it } from "vitest";
import { ALG, CallLoad, createSelectState, markDst, nextDst, parseDispatcherList, recordLatency, select } from "../../../src/modules/dispatcher/index.ts";
import type { DestinationSet, SelectInput, Selection } from "../../../src/modules/dispatcher/index.ts";

/** A deterministic generator (mulberry32) so shuffles and random picks repeat. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Entries written in file order; priorities make Kamailio's in-set order equal to file order. */
function set(lines: string[], id = 1): DestinationSet {
  const text = lines.map((l, i) => `${id} ${l.replace("P", String(1000 - i))}`).join("\n");
  const loaded = parseDispatcherList(text, "test.list", seeded(7));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.error));
  return loaded.value.sets.get(id) as DestinationSet;
}

const gw = (n: number, extra = ""): string[] => Array.from({ length: n }, (_, i) => `sip:127.0.0.1:${7070 + 2 * i} 0 P ${extra}`.trim());
const input = (over: Partial<SelectInput> = {}): SelectInput => ({
  method: "INVITE", callId: "a84b4c76e66710@pc33.atlanta.com", fromUri: "sip:alice@atlanta.example.com",
  toUri: "sip:bob@biloxi.example.com", ruri: "sip:+15551234567@127.0.0.1", ...over,
});
const first = (s: Selection): string | undefined => (s.selected ? s.destinations[0]?.uri : undefined);
const all = (s: Selection): string[] => (s.selected ? s.destinations.map((d) => d.uri) : []);

function shares(s: DestinationSet, alg: number, picks: number, make: (i: number) => SelectInput = () => input()): Map<string, number> {
  const state = createSelectState();
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const uri = first(select(s, alg, make(i), state, { random: seeded(i) })) ?? "none";
    counts.set(uri, (counts.get(uri) ?? 0) + 1);
  }
  return counts;
}

describe("hash algorithms 0-3, 5, 7", () => {
  it.each([ALG.HASH_CALLID, ALG.HASH_FROM_URI, ALG.HASH_TO_URI, ALG.HASH_RURI])("algorithm %i is sticky: the same request lands on the same gateway", (alg) => {
    const s = set(gw(5));
    const state = createSelectState();
    const picks = new Set(Array.from({ length: 20 }, () => first(select(s, alg, input(), state))));
    expect(picks.size).toBe(1);
  });

  it("algorithm 0 spreads different Call-IDs over all gateways", () => {
    const counts = shares(set(gw(3)), ALG.HASH_CALLID, 3000, (i) => input({ callId: `call-${i}@127.0.0.1` }));
    expect(counts.size).toBe(3);
    for (const n of counts.values()) expect(n).toBeGreaterThan(700);
  });

  it("a hashed pick that is inactive moves to the next active entry and keeps moving there", () => {
    const s = set(gw(5));
    const before = select(s, ALG.HASH_CALLID, input(), createSelectState(), { failover: true });
    const picked = before.selected ? before.destinations[0] : undefined;
    if (!picked) throw new Error("no pick");
    markDst(picked, "i", {}, s);
    const index = s.destinations.indexOf(picked);
    const after = select(s, ALG.HASH_CALLID, input(), createSelectState(), { failover: true });
    expect(first(after)).toBe(s.destinations[(index + 1) % 5]?.uri);
    expect(all(after)).not.toContain(picked.uri);
    expect(all(after)).toHaveLength(4);
  });

  it("algorithm 5 hashes the auth username and falls back to round robin without one", () => {
    const s = set(gw(3));
    const state = createSelectState();
    const a = first(select(s, ALG.HASH_AUTH_USERNAME, input({ authUsername: "alice" }), state));
    expect(first(select(s, ALG.HASH_AUTH_USERNAME, input({ authUsername: "alice" }), state))).toBe(a);
    const rr = [0, 1, 2].map(() => first(select(s, ALG.HASH_AUTH_USERNAME, input(), state)));
    expect(rr).toEqual(s.destinations.map((d) => d.uri));
  });

  it("algorithm 7 needs the hash_pvar value", () => {
    const s = set(gw(3));
    expect(select(s, ALG.HASH_PVAR, input(), createSelectState())).toEqual({ selected: false, reason: "no-hash-value" });
    expect(select(s, ALG.HASH_PVAR, input({ pvarValue: "k" }), createSelectState()).selected).toBe(true);
  });
});

describe("round robin, random, priority, unknown", () => {
  it("algorithm 4 walks the set in order and the failover list continues after the pick", () => {
    const s = set(gw(3));
    const state = createSelectState();
    const runs = [0, 1, 2, 3].map(() => all(select(s, ALG.ROUND_ROBIN, input(), state, { failover: true })));
    const u = s.destinations.map((d) => d.uri);
    expect(runs).toEqual([[u[0], u[1], u[2]], [u[1], u[2], u[0]], [u[2], u[0], u[1]], [u[0], u[1], u[2]]]);
  });

  it("without the failover flag only the pick is returned and nextDst has nothing", () => {
    const sel = select(set(gw(3)), ALG.ROUND_ROBIN, input(), createSelectState());
    expect(all(sel)).toHaveLength(1);
    expect(nextDst(sel)).toBeUndefined();
  });

  it("algorithm 6 reaches every gateway", () => {
    expect(shares(set(gw(4)), ALG.RANDOM, 400).size).toBe(4);
  });

  it("algorithm 8 is serial by priority: highest first, then down the priorities", () => {
    const loaded = parseDispatcherList("1 sip:127.0.0.1:1 0 5\n1 sip:127.0.0.1:2 0 50\n1 sip:127.0.0.1:3 0 10\n");
    if (!loaded.ok) throw new Error("load");
    const sel = select(loaded.value.sets.get(1), ALG.PRIORITY, input(), createSelectState(), { failover: true });
    expect(all(sel)).toEqual(["sip:127.0.0.1:2", "sip:127.0.0.1:3", "sip:127.0.0.1:1"]);
    expect(nextDst(sel)?.uri).toBe("sip:127.0.0.1:3");
    expect(nextDst(sel)?.uri).toBe("sip:127.0.0.1:1");
    expect(nextDst(sel)).toBeUndefined();
  });

  it("ds_next_dst skips a destination that probing marked down after the selection was made", () => {
    const loaded = parseDispatcherList("1 sip:127.0.0.1:1 0 50\n1 sip:127.0.0.1:2 0 10\n1 sip:127.0.0.1:3 0 5\n");
    if (!loaded.ok) throw new Error("load");
    const sel = select(loaded.value.sets.get(1), ALG.PRIORITY, input(), createSelectState(), { failover: true });
    const down = new Set(["sip:127.0.0.1:2"]);
    expect(nextDst(sel, undefined, (d) => !down.has(d.uri))?.uri).toBe("sip:127.0.0.1:3");
    down.add("sip:127.0.0.1:3");
    const again = select(loaded.value.sets.get(1), ALG.PRIORITY, input(), createSelectState(), { failover: true });
    expect(nextDst(again, undefined, (d) => !down.has(d.uri))).toBeUndefined();
  });

  it("an unknown algorithm uses the first entry", () => {
    const s = set(gw(3));
    expect(first(select(s, 42, input(), createSelectState()))).toBe(s.destinations[0]?.uri);
  });

  it("an unknown set or a set with nothing usable gives no selection", () => {
    const s = set(gw(2));
    expect(select(undefined, 4, input(), createSelectState())).toEqual({ selected: false, reason: "no-set" });
    for (const d of s.destinations) markDst(d, "d");
    expect(select(s, 4, input(), createSelectState())).toEqual({ selected: false, reason: "no-destination" });
  });

  it("the failover list honours the limit", () => {
    expect(all(select(set(gw(5)), ALG.ROUND_ROBIN, input(), createSelectState(), { failover: true, limit: 2 }))).toHaveLength(2);
  });
});

describe("use_default", () => {
  it("the last entry is used only when all others are down, and ends every failover list", () => {
    const s = set(gw(3));
    const [a, b, last] = s.destinations;
    const state = createSelectState();
    const picks = new Set(Array.from({ length: 6 }, () => first(select(s, ALG.ROUND_ROBIN, input(), state, { useDefault: true }))));
    expect([...picks].sort()).toEqual([a?.uri, b?.uri].sort());
    expect(all(select(s, ALG.ROUND_ROBIN, input(), state, { useDefault: true, failover: true })).at(-1)).toBe(last?.uri);
    markDst(a!, "i");
    markDst(b!, "i");
    expect(all(select(s, ALG.HASH_CALLID, input(), state, { useDefault: true, failover: true }))).toEqual([last?.uri]);
  });
});

describe("weights", () => {
  it("algorithm 9 gives each gateway its weight's share of 10,000 calls (exact per 100; tolerance 0.5%)", () => {
    const s = set(["sip:127.0.0.1:7070 0 P weight=50", "sip:127.0.0.1:7072 0 P weight=30", "sip:127.0.0.1:7074 0 P weight=20"]);
    const counts = shares(s, ALG.WEIGHT, 10_000);
    expect(counts.get("sip:127.0.0.1:7070")).toBeCloseTo(5000, -2);
    expect(Math.abs((counts.get("sip:127.0.0.1:7072") ?? 0) - 3000)).toBeLessThanOrEqual(50);
    expect(Math.abs((counts.get("sip:127.0.0.1:7074") ?? 0) - 2000)).toBeLessThanOrEqual(50);
  });

  it("algorithm 9: weights below 100 leave the rest to the last gateway; over 100 the excess entry is ignored", () => {
    const under = shares(set(["sip:127.0.0.1:1 0 P weight=10", "sip:127.0.0.1:2 0 P weight=10", "sip:127.0.0.1:3 0 P weight=10"]), ALG.WEIGHT, 100);
    expect(under.get("sip:127.0.0.1:3")).toBe(80);
    const over = shares(set(["sip:127.0.0.1:1 0 P weight=60", "sip:127.0.0.1:2 0 P weight=60", "sip:127.0.0.1:3 0 P weight=40"]), ALG.WEIGHT, 100);
    expect([over.get("sip:127.0.0.1:1"), over.get("sip:127.0.0.1:2"), over.get("sip:127.0.0.1:3")]).toEqual([60, undefined, 40]);
  });

  it("algorithm 11 splits 1/2/1 rweights 25/50/25 and 33/67/0 when the third goes inactive", () => {
    const s = set(["sip:127.0.0.1:1 0 P rweight=1", "sip:127.0.0.1:2 0 P rweight=2", "sip:127.0.0.1:3 0 P rweight=1"]);
    const state = createSelectState();
    const count = (n: number): Map<string, number> => {
      const c = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const u = first(select(s, ALG.RELATIVE_WEIGHT, input(), state, { random: seeded(3) })) ?? "none";
        c.set(u, (c.get(u) ?? 0) + 1);
      }
      return c;
    };
    expect(Object.fromEntries(count(10_000))).toEqual({ "sip:127.0.0.1:1": 2500, "sip:127.0.0.1:2": 5000, "sip:127.0.0.1:3": 2500 });
    markDst(s.destinations[2]!, "i", {}, s);
    // 100/3 = 33 and 200/3 = 66, truncated; the last active destination fills the remainder
    expect(Object.fromEntries(count(10_000))).toEqual({ "sip:127.0.0.1:1": 3300, "sip:127.0.0.1:2": 6700 });
  });

  it("algorithm 11 with cc=1 lowers a congested gateway's weight by its congestion in ms", () => {
    const s = set(["sip:127.0.0.1:1 0 P rweight=50;weight=50;cc=1", "sip:127.0.0.1:2 0 P rweight=50;weight=50;cc=1"]);
    for (const d of s.destinations) {
      d.latency = { count: 0, average: 0, m2: 0, estimate: 0, max: 0, timeouts: 0 };
      for (let i = 0; i < 20; i++) recordLatency(d.latency, 20);
    }
    // the second gateway's estimate climbs 25 ms above its average: weight 50 - 25 = 25
    const lat = s.destinations[1]!.latency!;
    lat.estimate = lat.average + 25;
    s.version += 1;
    const counts = shares(s, ALG.RELATIVE_WEIGHT, 100);
    expect(counts.get("sip:127.0.0.1:1")).toBe(66);
    expect(counts.get("sip:127.0.0.1:2")).toBe(34);
  });
});

describe("call load (algorithm 10)", () => {
  const lines = ["sip:127.0.0.1:7070 0 P duid=gw1;maxload=2", "sip:127.0.0.1:7072 0 P duid=gw2;maxload=2"];

  it("sends each new call to the gateway with the fewest active calls, and stops at maxload", () => {
    const s = set(lines);
    const state = createSelectState(new CallLoad());
    const picks = [1, 2, 3, 4].map((i) => first(select(s, ALG.CALL_LOAD, input({ callId: `c${i}` }), state, { now: 0 })));
    expect(picks).toEqual(["sip:127.0.0.1:7070", "sip:127.0.0.1:7072", "sip:127.0.0.1:7070", "sip:127.0.0.1:7072"]);
    expect(select(s, ALG.CALL_LOAD, input({ callId: "c5" }), state)).toEqual({ selected: false, reason: "no-destination" });
    state.callLoad.release("c2");
    expect(first(select(s, ALG.CALL_LOAD, input({ callId: "c6" }), state))).toBe("sip:127.0.0.1:7072");
  });

  it("confirmed calls last until BYE; unconfirmed ones expire after ds_hash_initexpire", () => {
    const load = new CallLoad({ initExpire: 60, expire: 7200 });
    load.add("a", "gw1", 0);
    load.add("b", "gw1", 0);
    load.confirm("a", 1000);
    expect(load.expire(61_000)).toBe(1);
    expect(load.active("gw1")).toBe(1);
    expect(load.release("a")).toBe(true);
    expect(load.active("gw1")).toBe(0);
  });

  it("nextDst moves the call's load to the next gateway; a non-INVITE is not counted", () => {
    const s = set(lines);
    const state = createSelectState();
    const sel = select(s, ALG.CALL_LOAD, input({ callId: "x" }), state, { failover: true });
    expect(state.callLoad.active("gw1")).toBe(1);
    expect(nextDst(sel, state)?.attrs.duid).toBe("gw2");
    expect([state.callLoad.active("gw1"), state.callLoad.active("gw2")]).toEqual([0, 1]);
    const options = select(s, ALG.CALL_LOAD, input({ method: "OPTIONS", callId: "y" }), state);
    expect(first(options)).toBe("sip:127.0.0.1:7070");
    expect(state.callLoad.size).toBe(1);
  });

  it("a destination without duid cannot carry call load", () => {
    const s = set(["sip:127.0.0.1:7070 0 P maxload=2"]);
    expect(select(s, ALG.CALL_LOAD, input(), createSelectState())).toEqual({ selected: false, reason: "no-duid" });
  });
});

describe("parallel forking (algorithm 12)", () => {
  it("returns every usable destination at once, without a failover list", () => {
    const s = set(gw(3));
    markDst(s.destinations[1]!, "d");
    const sel = select(s, ALG.PARALLEL, input(), createSelectState(), { failover: true });
    expect(sel.selected && sel.parallel).toBe(true);
    expect(all(sel)).toEqual([s.destinations[0]?.uri, s.destinations[2]?.uri]);
    expect(nextDst(sel)).toBeUndefined();
  });
});

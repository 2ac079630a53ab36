import { describe, expect, it } from "vitest";
import { Pike, PikeFastPath, pikeKey, pikeReturnCode } from "../../../src/modules/pike/index.ts";
import type { PikeVerdict } from "../../../src/modules/pike/index.ts";

const UNIT = 2_000;
/** Start of a sampling unit, well away from epoch 0. */
const T0 = 1_000 * UNIT;

function send(pike: Pike, ip: string, count: number, at: number): PikeVerdict[] {
  const out: PikeVerdict[] = [];
  for (let i = 0; i < count; i++) out.push(pike.checkReq(ip, at + i));
  return out;
}

describe("pike.checkReq", () => {
  it("allows reqs_density_per_unit requests in a unit and flags the next one as a new flood (-2)", () => {
    const pike = new Pike({ samplingTimeUnit: 2, reqsDensityPerUnit: 30 });
    const verdicts = send(pike, "127.0.0.2", 30, T0);
    expect(verdicts.every((v) => v.verdict === "ok")).toBe(true);
    const v31 = pike.checkReq("127.0.0.2", T0 + 100);
    expect(v31).toEqual({ verdict: "flood", first: true });
    expect(pikeReturnCode(v31)).toBe(-2);
    const v32 = pike.checkReq("127.0.0.2", T0 + 101);
    expect(v32).toEqual({ verdict: "flood", first: false });
    expect(pikeReturnCode(v32)).toBe(-1);
    expect(pikeReturnCode(verdicts[0] as PikeVerdict)).toBe(1);
  });

  it("keeps a flooding address flagged for as long as the flood goes on, reporting first only once", () => {
    const pike = new Pike({ samplingTimeUnit: 2, reqsDensityPerUnit: 30 });
    const firsts: number[] = [];
    for (let unit = 0; unit < 5; unit++) {
      const verdicts = send(pike, "127.0.0.2", 40, T0 + unit * UNIT);
      verdicts.forEach((v) => v.verdict === "flood" && v.first && firsts.push(unit));
      expect(verdicts[39]?.verdict).toBe("flood");
    }
    expect(firsts).toEqual([0]);
  });

  it("stays flagged through the unit after a flood and is unblocked after a unit within the limit", () => {
    const pike = new Pike({ samplingTimeUnit: 2, reqsDensityPerUnit: 30 });
    send(pike, "127.0.0.2", 31, T0);
    // Next unit: its predecessor exceeded the limit, so even one request is still a flood.
    expect(pike.checkReq("127.0.0.2", T0 + UNIT + 10)).toEqual({ verdict: "flood", first: false });
    // The unit after that follows a unit with one request: unblocked.
    expect(pike.checkReq("127.0.0.2", T0 + 2 * UNIT + 10)).toEqual({ verdict: "ok" });
    expect(pike.isRed("127.0.0.2", T0 + 2 * UNIT + 11)).toBe(false);
  });

  it("reports a renewed flood after unblocking as first detection again", () => {
    const pike = new Pike({ samplingTimeUnit: 2, reqsDensityPerUnit: 5 });
    send(pike, "127.0.0.2", 6, T0);
    send(pike, "127.0.0.2", 1, T0 + 2 * UNIT);
    const again = send(pike, "127.0.0.2", 6, T0 + 3 * UNIT);
    expect(again[5]).toEqual({ verdict: "flood", first: true });
  });

  it("counts each unit on its own: a burst split across a unit boundary is not a flood (as in Kamailio)", () => {
    const pike = new Pike({ samplingTimeUnit: 2, reqsDensityPerUnit: 30 });
    const late = send(pike, "127.0.0.2", 30, T0 + UNIT - 40);
    const early = send(pike, "127.0.0.2", 30, T0 + UNIT);
    expect([...late, ...early].every((v) => v.verdict === "ok")).toBe(true);
  });

  it("counts addresses independently", () => {
    const pike = new Pike({ reqsDensityPerUnit: 10 });
    send(pike, "127.0.0.2", 11, T0);
    expect(pike.checkReq("127.0.0.3", T0 + 20)).toEqual({ verdict: "ok" });
    expect(pike.checkReq("127.0.0.2", T0 + 21).verdict).toBe("flood");
  });

  it("counts all addresses of one IPv6 /64 together and other /64s apart", () => {
    const pike = new Pike({ reqsDensityPerUnit: 10 });
    for (let i = 1; i <= 10; i++) expect(pike.checkReq(`2001:db8::${i.toString(16)}`, T0 + i).verdict).toBe("ok");
    expect(pike.checkReq("2001:db8:0:0:ffff::1", T0 + 20)).toEqual({ verdict: "flood", first: true });
    expect(pike.checkReq("2001:db8:0:1::1", T0 + 21)).toEqual({ verdict: "ok" });
  });

  it("takes batched hits from a connection's fast path", () => {
    const pike = new Pike({ reqsDensityPerUnit: 30 });
    expect(pike.checkReq("127.0.0.2", T0, 16)).toEqual({ verdict: "ok" });
    expect(pike.checkReq("127.0.0.2", T0 + 1, 15)).toEqual({ verdict: "flood", first: true });
  });

  it("counts hits reported late in the unit they were made in: one unit late in the previous, older not at all", () => {
    const pike = new Pike({ samplingTimeUnit: 2, reqsDensityPerUnit: 16 });
    expect(pike.checkReq("127.0.0.2", T0 + UNIT + 5, 1)).toEqual({ verdict: "ok" });
    // A shard's batch of the last unit, arriving after this unit began.
    expect(pike.checkReq("127.0.0.2", T0 + UNIT - 3, 9)).toEqual({ verdict: "ok" });
    expect(pike.checkReq("127.0.0.2", T0 + UNIT + 1800, 9)).toEqual({ verdict: "ok" });
    expect(pike.top(T0 + UNIT + 1801, "all")[0]).toMatchObject({ previousUnitHits: 9, currentUnitHits: 10 });
    // Two units late: that unit is no longer kept; nothing moves back.
    expect(pike.checkReq("127.0.0.2", T0 - 1, 20)).toEqual({ verdict: "ok" });
    expect(pike.top(T0 + UNIT + 1802, "all")[0]).toMatchObject({ previousUnitHits: 9, currentUnitHits: 10 });
    // A late batch that takes the previous unit over the density flags the address.
    expect(pike.checkReq("127.0.0.2", T0 + UNIT - 2, 8)).toEqual({ verdict: "flood", first: true });
  });

  it("with reqs_density_per_unit 0 is off: never flags and keeps no state", () => {
    const pike = new Pike({ reqsDensityPerUnit: 0 });
    expect(send(pike, "127.0.0.2", 5_000, T0).every((v) => v.verdict === "ok")).toBe(true);
    expect(pike.size).toBe(0);
  });

  it("forgets an address after remove_latency without traffic, not before", () => {
    const pike = new Pike({ samplingTimeUnit: 2, reqsDensityPerUnit: 30, removeLatency: 120 });
    pike.checkReq("127.0.0.2", T0);
    pike.sweep(T0 + 119_999);
    expect(pike.size).toBe(1);
    pike.sweep(T0 + 120_000);
    expect(pike.size).toBe(0);
  });

  it("sweeps idle addresses by itself as requests arrive", () => {
    const pike = new Pike({ removeLatency: 10 });
    pike.checkReq("127.0.0.2", T0);
    pike.checkReq("127.0.0.3", T0 + 11_000);
    expect(pike.size).toBe(1);
  });

  it("drops the least recently seen address when maxNodes is reached", () => {
    const pike = new Pike({ maxNodes: 2 });
    pike.checkReq("127.0.0.2", T0);
    pike.checkReq("127.0.0.3", T0 + 1);
    pike.checkReq("127.0.0.2", T0 + 2);
    pike.checkReq("127.0.0.4", T0 + 3);
    expect(pike.top(T0 + 4, "all").map((n) => n.key).sort()).toEqual(["127.0.0.2", "127.0.0.4"]);
  });

  it("lists hot addresses first in top(), warm ones with the warm filter", () => {
    const pike = new Pike({ reqsDensityPerUnit: 10 });
    send(pike, "127.0.0.2", 12, T0);
    send(pike, "127.0.0.3", 6, T0);
    send(pike, "127.0.0.4", 1, T0);
    expect(pike.top(T0 + 50).map((n) => n.key)).toEqual(["127.0.0.2"]);
    expect(pike.top(T0 + 50, "warm").map((n) => [n.key, n.status])).toEqual([
      ["127.0.0.2", "hot"],
      ["127.0.0.3", "warm"],
    ]);
    expect(pike.top(T0 + 50, "all")).toHaveLength(3);
  });

  it("reset() unblocks an address at once", () => {
    const pike = new Pike({ reqsDensityPerUnit: 3 });
    send(pike, "127.0.0.2", 4, T0);
    pike.reset("127.0.0.2");
    expect(pike.checkReq("127.0.0.2", T0 + 10)).toEqual({ verdict: "ok" });
  });
});

describe("pikeKey", () => {
  it("keeps IPv4 addresses as they are", () => {
    expect(pikeKey("127.0.0.2")).toBe("127.0.0.2");
  });

  it("aggregates IPv6 per /64 whatever the spelling", () => {
    expect(pikeKey("2001:DB8:0:0:1::1")).toBe("2001:db8::/64");
    expect(pikeKey("2001:db8::dead:beef")).toBe("2001:db8::/64");
    expect(pikeKey("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(pikeKey("[::1]")).toBe("::/64");
  });

  it("counts an IPv4-mapped IPv6 source as its IPv4 address", () => {
    expect(pikeKey("::ffff:127.0.0.2")).toBe("127.0.0.2");
  });
});

describe("PikeFastPath", () => {
  it("answers the first density/2 requests of a unit locally, then escalates with the held-back hits", () => {
    const fp = new PikeFastPath({ reqsDensityPerUnit: 30 });
    expect(fp.budget).toBe(15);
    for (let i = 0; i < 15; i++) expect(fp.hit(T0 + i)).toEqual({ escalate: false });
    expect(fp.hit(T0 + 15)).toEqual({ escalate: true, hits: 16 });
    expect(fp.hit(T0 + 16)).toEqual({ escalate: true, hits: 1 });
    expect(fp.hit(T0 + UNIT)).toEqual({ escalate: false });
  });

  it("lets the shared counter flag a single flooding connection at exactly the request that exceeds the limit", () => {
    const fp = new PikeFastPath({ reqsDensityPerUnit: 30 });
    const pike = new Pike({ reqsDensityPerUnit: 30 });
    let flaggedAt = -1;
    for (let i = 1; i <= 40 && flaggedAt < 0; i++) {
      const d = fp.hit(T0 + i);
      if (d.escalate && pike.checkReq("127.0.0.2", T0 + i, d.hits).verdict === "flood") flaggedAt = i;
    }
    expect(flaggedAt).toBe(31);
  });

  it("never escalates for an honest client well under the limit", () => {
    const fp = new PikeFastPath({ reqsDensityPerUnit: 30 });
    for (let unit = 0; unit < 100; unit++) {
      for (let i = 0; i < 4; i++) expect(fp.hit(T0 + unit * UNIT + i * 100).escalate).toBe(false);
    }
  });

  it("keeps its budget below the density and escalates every request with budget 0", () => {
    expect(new PikeFastPath({ reqsDensityPerUnit: 4, localBudget: 10 }).budget).toBe(3);
    const exact = new PikeFastPath({ reqsDensityPerUnit: 30, localBudget: 0 });
    expect(exact.hit(T0)).toEqual({ escalate: true, hits: 1 });
  });

  it("knows how many requests its connection sent in the current unit, for when the Guard is unreachable", () => {
    const fp = new PikeFastPath({ reqsDensityPerUnit: 30 });
    for (let i = 0; i < 20; i++) fp.hit(T0 + i);
    expect(fp.hitsThisUnit(T0 + 50)).toBe(20);
    expect(fp.hitsThisUnit(T0 + UNIT)).toBe(0);
  });

  it("never escalates when pike is off", () => {
    const fp = new PikeFastPath({ reqsDensityPerUnit: 0 });
    for (let i = 0; i < 1_000; i++) expect(fp.hit(T0 + i).escalate).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import {
  congestionMs, emptyLatencyStats, isAcceptedReply, kamailioStateLetters, latencyStdDev, markDst, onProbeReply,
  parseDispatcherList, parseReplyCodes, recordLatency, recordTimeout, shouldProbe, TIMEOUT_STATUS,
} from "../../../src/modules/dispatcher/index.ts";
import type { Destination, DestinationSet } from "../../../src/modules/dispatcher/index.ts";

function one(flags = 0): { set: DestinationSet; dst: Destination } {
  const loaded = parseDispatcherList(`1 sip:127.0.0.1:7070 ${flags}`);
  if (!loaded.ok) throw new Error("load");
  const set = loaded.value.sets.get(1) as DestinationSet;
  return { set, dst: set.destinations[0] as Destination };
}

describe("reply codes", () => {
  it("only 200 is accepted by default; class and code entries add more", () => {
    expect([200, 202, 404].map((s) => isAcceptedReply(s))).toEqual([true, false, false]);
    const codes = parseReplyCodes("class=2;code=403;code=488;class=3");
    if (!codes.ok) throw new Error(codes.reason);
    expect([202, 302, 403, 404, 488].map((s) => isAcceptedReply(s, codes.value))).toEqual([true, true, true, false, true]);
  });

  it("rejects a malformed ds_ping_reply_codes", () => {
    expect(parseReplyCodes("class=9").ok).toBe(false);
    expect(parseReplyCodes("codes=200").ok).toBe(false);
  });
});

describe("probing transitions", () => {
  it("with ds_probing_threshold 3 an active gateway goes trying, trying, then inactive (dst-down)", () => {
    const { set, dst } = one();
    const opts = { probingThreshold: 3, mode: 1 as const };
    const first = onProbeReply(dst, TIMEOUT_STATUS, opts, set);
    expect([first.to, first.event]).toEqual(["trying", undefined]);
    expect(onProbeReply(dst, 503, opts, set).to).toBe("trying");
    expect(onProbeReply(dst, TIMEOUT_STATUS, opts, set)).toMatchObject({ to: "inactive", event: "dispatcher:dst-down" });
    expect(set.version).toBe(2);
  });

  it("the default threshold of 1 marks inactive at the first failure", () => {
    const { dst } = one();
    expect(onProbeReply(dst, 500, { mode: 1 }).to).toBe("inactive");
  });

  it("with ds_inactive_threshold 2 an inactive gateway needs two good replies to come back (dst-up)", () => {
    const { dst } = one(1);
    const opts = { inactiveThreshold: 2, mode: 1 as const };
    expect(onProbeReply(dst, 200, opts).to).toBe("inactive");
    expect(onProbeReply(dst, 200, opts)).toMatchObject({ to: "active", event: "dispatcher:dst-up" });
  });

  it("a failure in between restarts the count of good replies", () => {
    const { dst } = one(1);
    const opts = { inactiveThreshold: 2, mode: 1 as const };
    onProbeReply(dst, 200, opts);
    onProbeReply(dst, TIMEOUT_STATUS, opts);
    expect(onProbeReply(dst, 200, opts).to).toBe("inactive");
  });

  it("accepting 408 keeps a silent gateway up, as Kamailio warns", () => {
    const codes = parseReplyCodes("code=408");
    if (!codes.ok) throw new Error(codes.reason);
    const { dst } = one();
    expect(onProbeReply(dst, TIMEOUT_STATUS, { replyCodes: codes.value, mode: 1 }).to).toBe("active");
  });

  it("probing modes choose which gateways are pinged", () => {
    const active = one().dst;
    const probed = one(8).dst;
    const down = one(1).dst;
    const downProbed = one(9).dst;
    const disabled = one(12).dst;
    const row = (mode: 0 | 1 | 2 | 3): boolean[] => [active, probed, down, downProbed, disabled].map((d) => shouldProbe(d, mode));
    expect(row(0)).toEqual([false, true, false, true, false]);
    expect(row(1)).toEqual([true, true, true, true, false]);
    expect(row(2)).toEqual([false, false, false, true, false]);
    expect(row(3)).toEqual([false, true, false, true, false]);
  });

  it("mode 0 clears the probing flag once the gateway answers; mode 3 keeps it", () => {
    const m0 = one(8).dst;
    onProbeReply(m0, 200, { mode: 0 });
    expect(m0.probe).toBe(false);
    const m3 = one(8).dst;
    onProbeReply(m3, 200, { mode: 3 });
    expect(m3.probe).toBe(true);
  });

  it("a probed gateway that goes down is in state probing (Kamailio IP)", () => {
    const { dst } = one(8);
    onProbeReply(dst, 503, { mode: 3 });
    expect([dst.state, kamailioStateLetters(dst)]).toEqual(["probing", "IP"]);
  });
});

describe("ds_mark_dst", () => {
  it("'ip' makes the destination inactive and probed; 'a' brings it back with counters reset", () => {
    const { dst } = one();
    expect(markDst(dst, "ip")).toMatchObject({ to: "probing", event: "dispatcher:dst-down" });
    expect(kamailioStateLetters(dst)).toBe("IP");
    expect(markDst(dst, "a")).toMatchObject({ to: "active", event: "dispatcher:dst-up" });
    expect(kamailioStateLetters(dst)).toBe("AX");
  });

  it("'t' counts failures up to ds_probing_threshold", () => {
    const { dst } = one();
    expect((markDst(dst, "t", { probingThreshold: 2 }) as { to: string }).to).toBe("trying");
    expect((markDst(dst, "t", { probingThreshold: 2 }) as { to: string }).to).toBe("inactive");
  });

  it("no argument means inactive; a bad letter is refused", () => {
    const { dst } = one();
    expect(markDst(dst)).toMatchObject({ to: "inactive" });
    expect(markDst(dst, "x")).toBe('bad state "x"');
    expect(markDst(dst, "dp")).toBe('bad state "dp"');
  });
});

describe("latency statistics", () => {
  it("average, standard deviation, max and timeouts follow the samples", () => {
    const s = emptyLatencyStats();
    for (const ms of [2, 4, 4, 4, 5, 5, 7, 9]) recordLatency(s, ms);
    recordTimeout(s);
    expect(s.average).toBe(5);
    // sample standard deviation of the classic 2,4,4,4,5,5,7,9 set: sqrt(32/7)
    expect(latencyStdDev(s)).toBeCloseTo(Math.sqrt(32 / 7), 10);
    expect([s.max, s.count, s.timeouts]).toEqual([9, 8, 1]);
  });

  it("the EWMA estimate keeps alpha (per mille) of the previous estimate", () => {
    const s = emptyLatencyStats();
    recordLatency(s, 20, 900);
    recordLatency(s, 120, 900);
    expect(s.estimate).toBeCloseTo(0.9 * 20 + 0.1 * 120, 10);
    recordLatency(s, 120, 500);
    expect(s.estimate).toBeCloseTo(0.5 * 30 + 0.5 * 120, 10);
  });

  it("congestion is the estimate above the average in whole ms, never negative", () => {
    expect(congestionMs({ count: 5, average: 20.1, m2: 0, estimate: 45.0, max: 0, timeouts: 0 })).toBe(25);
    expect(congestionMs({ count: 5, average: 30, m2: 0, estimate: 10, max: 0, timeouts: 0 })).toBe(0);
  });

  it("the latency attribute seeds the estimator", () => {
    const loaded = parseDispatcherList("1 sip:127.0.0.1:7070 0 0 latency=24");
    const dst = loaded.ok ? loaded.value.sets.get(1)?.destinations[0] : undefined;
    expect(dst?.latency).toMatchObject({ count: 1, average: 24, estimate: 24 });
  });
});

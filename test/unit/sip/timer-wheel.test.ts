import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TimerWheel } from "../../../src/sip/timer-wheel.ts";
import { systemTimers } from "../../../src/sip/timers.ts";

describe("TimerWheel", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("fires each timer no earlier than asked and at most one tick later, in order", async () => {
    const wheel = new TimerWheel(systemTimers, Date.now, 50);
    const fired: [string, number][] = [];
    const start = Date.now();
    for (const [name, ms] of [["c", 30_000], ["a", 120], ["b", 500], ["a2", 120]] as const) wheel.set(ms, () => fired.push([name, Date.now() - start]));
    expect(wheel.pending).toBe(4);
    await vi.advanceTimersByTimeAsync(31_000);
    expect(fired.map(([n]) => n)).toEqual(["a", "a2", "b", "c"]);
    for (const [name, at] of fired) {
      const asked = { a: 120, a2: 120, b: 500, c: 30_000 }[name] as number;
      expect(at).toBeGreaterThanOrEqual(asked);
      expect(at).toBeLessThanOrEqual(asked + 50);
    }
    expect(wheel.pending).toBe(0);
  });

  it("a cleared timer never fires and leaves the count", async () => {
    const wheel = new TimerWheel(systemTimers, Date.now, 50);
    const fired: string[] = [];
    const a = wheel.set(200, () => fired.push("a"));
    wheel.set(200, () => fired.push("b"));
    const short = wheel.set(0, () => fired.push("short"));
    wheel.clear(a);
    wheel.clear(short);
    wheel.clear(a); // twice is harmless
    expect(wheel.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(300);
    expect(fired).toEqual(["b"]);
    expect(wheel.pending).toBe(0);
  });

  it("a timer set from a callback, and an earlier one set after a later one, both fire on time", async () => {
    const wheel = new TimerWheel(systemTimers, Date.now, 50);
    const start = Date.now();
    const fired: [string, number][] = [];
    wheel.set(1000, () => fired.push(["late", Date.now() - start]));
    wheel.set(100, () => {
      fired.push(["first", Date.now() - start]);
      wheel.set(2000, () => fired.push(["from callback", Date.now() - start]));
    });
    wheel.set(300, () => fired.push(["middle", Date.now() - start]));
    await vi.advanceTimersByTimeAsync(2500);
    expect(fired.map(([n]) => n)).toEqual(["first", "middle", "late", "from callback"]);
    expect(fired[1]?.[1]).toBeLessThanOrEqual(350);
    expect(fired[2]?.[1]).toBeLessThanOrEqual(1050);
  });

  it("one platform timer at a time, however many timers wait", async () => {
    const base = { armed: 0, set: (ms: number, fn: () => void) => { base.armed++; return setTimeout(() => { base.armed--; fn(); }, ms); }, clear: (h: unknown) => { base.armed--; clearTimeout(h as ReturnType<typeof setTimeout>); } };
    const wheel = new TimerWheel(base, Date.now, 50);
    for (let i = 0; i < 1000; i++) wheel.set(181_000 + i, () => undefined);
    expect(base.armed).toBe(1);
    await vi.advanceTimersByTimeAsync(182_500);
    expect(wheel.pending).toBe(0);
    expect(base.armed).toBe(0);
  });

  it("an exception in one callback does not stop the others of its tick", async () => {
    const wheel = new TimerWheel(systemTimers, Date.now, 50);
    const fired: string[] = [];
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on("uncaughtException", onError);
    wheel.set(100, () => { throw new Error("boom"); });
    wheel.set(100, () => fired.push("other"));
    await vi.advanceTimersByTimeAsync(200);
    process.off("uncaughtException", onError);
    expect(fired).toEqual(["other"]);
    expect(errors.map(String)).toEqual(["Error: boom"]);
  });
});

import { describe, expect, it, vi } from "vitest";
import { TimerWheel } from "../../../src/sip/timer-wheel.ts";

describe("TimerWheel.pending (the pending-timers gauge)", () => {
  it("counts a timer from set until it fires or is cleared, and never below zero", () => {
    vi.useFakeTimers();
    try {
      const timers = new TimerWheel();
      const fired: number[] = [];
      const a = timers.set(100, () => fired.push(1));
      timers.set(200, () => fired.push(2));
      expect(timers.pending).toBe(2);
      vi.advanceTimersByTime(150);
      expect([fired, timers.pending]).toEqual([[1], 1]);
      timers.clear(a); // already fired: nothing changes
      expect(timers.pending).toBe(1);
      const c = timers.set(50, () => fired.push(3));
      timers.clear(c);
      expect(timers.pending).toBe(1);
      vi.advanceTimersByTime(100);
      expect([fired, timers.pending]).toEqual([[1, 2], 0]);
    } finally {
      vi.useRealTimers();
    }
  });
});

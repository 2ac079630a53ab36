import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env.ts";

const WINDOW_MS = 60_000;
/** The most calls a window remembers: far above any sane limit, so a forgotten config cannot grow it. */
const MAX_KEPT = 1000;

/**
 * CallRate: one object per user (its AOR), counting the calls it starts to the PSTN in a sliding
 * minute (Kamailio pipelimit with one pipe per user). The count must be exact across shards — a
 * stolen password on many sockets lands in many shards — so it lives here, one hop per call to a
 * carrier (never for a call between users, never for an emergency call).
 *
 * The window is kept in memory, and a timer runs while it holds calls: a pending timer keeps the
 * object from being evicted (compatibility date 2026-10-01 and later), so an idle pause cannot
 * empty a full window — burst, wait for eviction, burst again — and no storage write is paid per
 * call (a stored window doubled the calls' p99 setup time on the call benchmark). Once the window
 * is empty the timer stops and the object may go; a deploy restarts it empty, once.
 */
export class CallRate extends DurableObject<Env> {
  private times: number[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** Counts one call unless `perMinute` were already started in the last minute; refused calls are not counted. */
  async take(perMinute: number, now = Date.now()): Promise<{ allowed: boolean; count: number }> {
    this.prune(now);
    if (this.times.length >= perMinute) return { allowed: false, count: this.times.length };
    this.times.push(now);
    if (this.times.length > MAX_KEPT) this.times.splice(0, this.times.length - MAX_KEPT);
    this.keepAlive(now);
    return { allowed: true, count: this.times.length };
  }

  private prune(now: number): void {
    this.times = this.times.filter((t) => now - t < WINDOW_MS);
  }

  /** Until the oldest call leaves the window, a timer is pending (and the object stays). */
  private keepAlive(now: number): void {
    if (this.timer !== undefined || this.times.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const at = Date.now();
      this.prune(at);
      this.keepAlive(at);
    }, Math.max(1000, (this.times[0] as number) + WINDOW_MS - now));
  }
}

/** The CallRate object of an AOR. */
export function callRateOf(ns: DurableObjectNamespace<CallRate>, aor: string): DurableObjectStub<CallRate> {
  return ns.get(ns.idFromName(aor));
}

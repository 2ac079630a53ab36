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
 * The window is kept in memory only. The runtime evicts an object after a minute or more without
 * requests, when its window has emptied anyway; a deploy restarts it with an empty window (once).
 * Writing it to storage would cost a write per call for nothing more (measured: the calls' p99
 * setup time doubled on the call benchmark).
 */
export class CallRate extends DurableObject<Env> {
  private times: number[] = [];

  /** Counts one call unless `perMinute` were already started in the last minute; refused calls are not counted. */
  async take(perMinute: number, now = Date.now()): Promise<{ allowed: boolean; count: number }> {
    this.times = this.times.filter((t) => now - t < WINDOW_MS);
    if (this.times.length >= perMinute) return { allowed: false, count: this.times.length };
    this.times.push(now);
    if (this.times.length > MAX_KEPT) this.times.splice(0, this.times.length - MAX_KEPT);
    return { allowed: true, count: this.times.length };
  }
}

/** The CallRate object of an AOR. */
export function callRateOf(ns: DurableObjectNamespace<CallRate>, aor: string): DurableObjectStub<CallRate> {
  return ns.get(ns.idFromName(aor));
}

/**
 * Call-load bookkeeping for algorithm 10, as Kamailio documents it: a call is counted against
 * the destination's duid when the INVITE is dispatched, confirmed by a 2xx (ds_load_update on
 * the reply), moved when ds_next_dst() reroutes it, and released by BYE/CANCEL
 * (ds_load_update) or a failure (ds_load_unset). Unconfirmed calls expire after
 * ds_hash_initexpire, confirmed ones after ds_hash_expire, in case the BYE never comes.
 *
 * Exact counts need one owner: the Dispatcher Durable Object holds this table, and algorithm 10
 * costs a hop to it per call (DESIGN.md §3). Any copy elsewhere is approximate.
 *
 * Bounded: at most `maxCalls` calls are held (the oldest goes first, its load with it), and ended
 * calls are swept at most once a second, so neither memory nor the cost of a call grows with
 * calls whose BYE never came.
 */

export interface CallLoadOptions {
  /** seconds an unconfirmed call counts (ds_hash_initexpire, default 7200) */
  readonly initExpire?: number;
  /** seconds a confirmed call counts (ds_hash_expire, default 7200) */
  readonly expire?: number;
  /** most calls held at once (Kamailio sizes its table with ds_hash_size; default 100,000) */
  readonly maxCalls?: number;
}

export const CALL_LOAD_MAX_CALLS = 100_000;
const SWEEP_MS = 1000;

interface CallEntry {
  duid: string;
  confirmed: boolean;
  expiresAt: number;
}

export class CallLoad {
  private readonly calls = new Map<string, CallEntry>();
  private readonly load = new Map<string, number>();
  private readonly initExpireMs: number;
  private readonly expireMs: number;
  private readonly maxCalls: number;
  private nextSweep = 0;
  /** Calls pushed out because the table was full. */
  evicted = 0;

  constructor({ initExpire = 7200, expire = 7200, maxCalls = CALL_LOAD_MAX_CALLS }: CallLoadOptions = {}) {
    this.initExpireMs = initExpire * 1000;
    this.expireMs = expire * 1000;
    this.maxCalls = Math.max(1, maxCalls);
  }

  /** Active calls counted against a duid. */
  active(duid: string): number {
    return this.load.get(duid) ?? 0;
  }

  /** Counts a new call (the selection of an INVITE). A Call-ID already counted is moved. */
  add(callId: string, duid: string, now: number): void {
    this.expireDue(now);
    const existing = this.calls.get(callId);
    if (existing) {
      this.replace(callId, duid);
      return;
    }
    if (this.calls.size >= this.maxCalls) this.evictOldest();
    this.calls.set(callId, { duid, confirmed: false, expiresAt: now + this.initExpireMs });
    this.bump(duid, 1);
  }

  /** `expire`, at most once per second (the sweep is O(calls)). */
  expireDue(now: number): number {
    if (now < this.nextSweep) return 0;
    this.nextSweep = now + SWEEP_MS;
    return this.expire(now);
  }

  /** ds_next_dst() for algorithm 10: the call's load moves to the next destination. */
  replace(callId: string, duid: string): boolean {
    const entry = this.calls.get(callId);
    if (!entry) return false;
    if (entry.duid !== duid) {
      this.bump(entry.duid, -1);
      this.bump(duid, 1);
      entry.duid = duid;
    }
    return true;
  }

  /** 2xx to the INVITE: the call is established and now lives until BYE or ds_hash_expire. */
  confirm(callId: string, now: number): boolean {
    const entry = this.calls.get(callId);
    if (!entry) return false;
    entry.confirmed = true;
    entry.expiresAt = now + this.expireMs;
    return true;
  }

  /** BYE, CANCEL or a final failure: the call no longer counts. */
  release(callId: string): boolean {
    const entry = this.calls.get(callId);
    if (!entry) return false;
    this.calls.delete(callId);
    this.bump(entry.duid, -1);
    return true;
  }

  /** Drops calls whose BYE or 2xx never came (Kamailio's ds_hash_check_interval timer). */
  expire(now: number): number {
    let removed = 0;
    for (const [callId, entry] of this.calls) {
      if (entry.expiresAt <= now) {
        this.calls.delete(callId);
        this.bump(entry.duid, -1);
        removed++;
      }
    }
    return removed;
  }

  get size(): number {
    return this.calls.size;
  }

  private evictOldest(): void {
    for (const callId of this.calls.keys()) {
      this.release(callId);
      this.evicted++;
      return;
    }
  }

  private bump(duid: string, delta: number): void {
    const next = (this.load.get(duid) ?? 0) + delta;
    if (next <= 0) this.load.delete(duid);
    else this.load.set(duid, next);
  }
}

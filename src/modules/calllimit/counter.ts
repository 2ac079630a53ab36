/**
 * The concurrent calls of one user, counted by Call-ID in the object that owns the user (its
 * Location object): a call counts from its INVITE until its final failure, its BYE, or its
 * expiry, whichever comes first. The expiry covers what the proxy never sees: a BYE that never
 * came, or a final response lost with its transaction (Kamailio's dialog `default_timeout`
 * plays this part).
 *
 * The count is exact as long as the owner lives (one object, one thread); the owner keeps the
 * calls in storage, so an eviction loses nothing.
 */

export type CallStart =
  | { readonly ok: true; readonly active: number }
  | { readonly ok: false; readonly active: number; readonly limit: number };

export class CallCounter {
  /** Call-ID → epoch ms the call stops counting. */
  private readonly calls = new Map<string, number>();

  get size(): number {
    return this.calls.size;
  }

  /** Loads a stored call (after a restart). */
  load(callId: string, until: number, now: number): void {
    if (until > now) this.calls.set(callId, until);
  }

  /** Calls that still count at `now`; the ended ones are dropped (`removed` hears of each). */
  active(now: number, removed?: (callId: string) => void): number {
    for (const [callId, until] of this.calls) {
      if (until > now) continue;
      this.calls.delete(callId);
      removed?.(callId);
    }
    return this.calls.size;
  }

  /**
   * A new call: counted unless `limit` calls are already active (a retransmitted INVITE of a
   * counted call is counted once). The table never holds more than `limit` live calls.
   */
  start(callId: string, limit: number, until: number, now: number, removed?: (callId: string) => void): CallStart {
    const active = this.active(now, removed);
    if (this.calls.has(callId)) return { ok: true, active };
    if (active >= limit) return { ok: false, active, limit };
    this.calls.set(callId, until);
    return { ok: true, active: active + 1 };
  }

  /** The call ended (final failure, CANCEL, BYE): it no longer counts. False: it was not counted here. */
  end(callId: string): boolean {
    return this.calls.delete(callId);
  }
}

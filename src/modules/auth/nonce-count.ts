/**
 * Nonce-count replay protection (Kamailio auth `nc_enabled`). RFC 2617 §3.2.2 on nc: "The
 * purpose of this directive is to allow the server to detect request replays by maintaining
 * its own copy of this count - if the same nc-value is seen twice, then the request is a
 * replay."
 *
 * Remembers, per nonce, the highest nc accepted; a request whose nc is not greater is a replay.
 * Memory is bounded: entries leave when their nonce expires, and when `capacity` is reached the
 * oldest entry is evicted and its expiry becomes a watermark: a nonce not in the table whose
 * expiry is at or below the watermark might have been seen before, so it is refused as stale
 * (the client gets a fresh nonce, stale=true, and retries without asking its user). Nothing is
 * ever accepted twice; the worst case under pressure is one extra round trip.
 *
 * Where it lives, and what that means: the table is plain memory in the object that holds the
 * client's socket (the SipConnection Durable Object), because the 401 and the authenticated
 * retry arrive on the same socket and no per-message hop to another object is affordable
 * (DESIGN.md §7). Two consequences:
 *  - A nonce presented to a different object is unknown there. Issue nonces with
 *    `bind` = the flow/connection (or object) id (nonce.ts), so another object rejects them
 *    as invalid instead of accepting a replay.
 *  - A restarted object (eviction, deploy) has lost the table. Nonces issued before this
 *    tracker started are therefore refused as stale: the client re-authenticates once.
 * Nonces without qop carry no nc (RFC 2069 clients); they are treated as nc=0, which makes
 * them single-use.
 */

import { ownString } from "../../util/own-string.ts";

export type NonceCountVerdict = "ok" | "reused" | "stale";

export interface NonceCountOptions {
  /** Most nonces remembered at once (per object). */
  capacity?: number;
  /** Nonce lifetime in seconds, to tell when a nonce was issued from when it expires. */
  nonceExpire?: number;
  /** When this tracker started (ms); nonces issued in an earlier second are refused as stale. */
  startedAt: number;
}

interface Entry {
  nc: number;
  expiresAt: number;
}

/** nc-value = 8LHEX (RFC 7616 §3.4); returns the count, or undefined when malformed. */
export function parseNc(nc: string): number | undefined {
  if (nc.length !== 8) return undefined;
  let value = 0;
  for (let i = 0; i < 8; i++) {
    const c = nc.charCodeAt(i);
    const l = c | 0x20; // folds A-F onto a-f, and nothing else onto a-f
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
    if (d < 0) return undefined;
    value = value * 16 + d;
  }
  return value;
}

export class NonceCountTracker {
  readonly #entries = new Map<string, Entry>();
  /**
   * The nonces in insertion order, oldest at `#head`. Entries leave only from the front (expiry
   * or eviction), so this is the Map's own order; it exists because iterating the Map from its
   * start walks past every entry deleted since V8 last compacted it, thousands once the table is
   * full, which profiled at microseconds per check.
   */
  #order: string[] = [];
  #head = 0;
  readonly #capacity: number;
  readonly #lifetimeMs: number;
  readonly #startedSecond: number;
  #watermark = 0;

  constructor(options: NonceCountOptions) {
    this.#capacity = Math.max(1, options.capacity ?? 4096);
    this.#lifetimeMs = (options.nonceExpire ?? 300) * 1000;
    this.#startedSecond = Math.floor(options.startedAt / 1000) * 1000;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Records a use of `nonce` with count `nc` (0 when the credentials have no qop) and says
   * whether to accept it. Call only for genuine, unexpired nonces whose digest was correct.
   */
  check(nonce: string, nc: number, expiresAt: number, now: number): NonceCountVerdict {
    this.#purge(now);
    const entry = this.#entries.get(nonce);
    if (entry) {
      if (nc <= entry.nc) return "reused";
      entry.nc = nc;
      return "ok";
    }
    if (expiresAt - this.#lifetimeMs < this.#startedSecond || expiresAt <= this.#watermark) return "stale";
    // The nonce was parsed out of its request: a copy, or the table keeps every request alive for
    // its nonce's lifetime (up to `capacity` whole REGISTERs per object, 4,096 by default).
    const key = ownString(nonce);
    this.#entries.set(key, { nc, expiresAt });
    this.#order.push(key);
    if (this.#entries.size > this.#capacity) this.#evictOldest();
    return "ok";
  }

  // Insertion order is close to expiry order (every nonce has the same lifetime and is first
  // used seconds after it was issued), so expired entries collect at the front.
  #purge(now: number): void {
    while (this.#head < this.#order.length) {
      const nonce = this.#order[this.#head]!;
      if (this.#entries.get(nonce)!.expiresAt > now) break;
      this.#entries.delete(nonce);
      this.#head++;
    }
    this.#compact();
  }

  #evictOldest(): void {
    const nonce = this.#order[this.#head++]!;
    const entry = this.#entries.get(nonce)!;
    this.#entries.delete(nonce);
    if (entry.expiresAt > this.#watermark) this.#watermark = entry.expiresAt;
    this.#compact();
  }

  /** Drops the consumed prefix of `#order` once it is most of the array (amortised O(1)). */
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    } else if (this.#head === this.#order.length && this.#head > 0) {
      this.#order = [];
      this.#head = 0;
    }
  }
}

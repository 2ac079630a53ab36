/**
 * Nonce-count replay protection (Kamailio auth `nc_enabled`). RFC 2617 §3.2.2 on nc: "The
 * purpose of this directive is to allow the server to detect request replays by maintaining
 * its own copy of this count - if the same nc-value is seen twice, then the request is a
 * replay."
 *
 * Remembers, per nonce, the highest nc accepted; a request whose nc is not greater is a replay.
 * A nonce is known by its serial, which its signer gives to no other nonce; a tracker serves one
 * signer (`createAuth` makes them together), and only that signer's nonces reach it. A number: a
 * check hashes no string (a nonce is 40-odd characters, hashed for every Map operation on a fresh
 * copy and, in workerd's V8, looked up in the isolate's string table), and the table keeps no text
 * of any request. Memory is bounded: entries leave when their nonce expires, and when
 * `capacity` is reached the entry first used longest ago is evicted and its serial (its place in
 * the issue order, nonce.ts) becomes a watermark: a nonce not in the table whose serial is at or
 * below the watermark might have been seen before, so it is refused as stale (the client gets a
 * fresh nonce, stale=true, and retries without asking its user). Nothing is ever accepted twice;
 * the worst case under pressure is one extra round trip.
 *
 * The watermark is exact: it covers the evicted nonce and those issued before it, never one
 * issued after it. (It used to be the nonce's expiry, in whole seconds, so once a shard evicted a
 * nonce of a second while others of that second were unused, every one of those was refused:
 * issuing 20,000 in one second accepted 4,097.) A fresh nonce is refused only when a nonce issued
 * after it was used and then `capacity` more before its own first use: its client took longer
 * to answer than `capacity` others (4,096 at 4,000 answers a second: about a second).
 *
 * Where it lives, and what that means: the table is plain memory in the object that holds the
 * client's socket (the SipConnection Durable Object), because the 401 and the authenticated
 * retry arrive on the same socket and no per-message hop to another object is affordable
 * (DESIGN.md §7). Two consequences:
 *  - A nonce presented to a different object is unknown there. The nonce names its issuer
 *    (nonce.ts), and a nonce of any signer but this object's is refused as stale: the client
 *    re-authenticates once, with a nonce of this object. That covers another isolate or shard
 *    with the same secret (reachable by a nonce issued without `bind`; with `bind` = the
 *    flow/connection id, nonce.ts, it does not even verify on another connection).
 *  - A restarted object (eviction, deploy, hibernation) has lost the table, and draws a new
 *    issuer: the nonces of its earlier incarnation are refused the same way, whatever the clocks
 *    of the two say.
 * Nonces without qop carry no nc (RFC 2069 clients); they are treated as nc=0, which makes
 * them single-use.
 */

export type NonceCountVerdict = "ok" | "reused" | "stale";

export interface NonceCountOptions {
  /** Most nonces remembered at once (per object). */
  capacity?: number;
}

/** What the signer vouched for (nonce.ts `verify`). */
export interface IssuedNonce {
  expiresAt: number;
  /** Its place in this object's issue order; undefined when another signer issued it. */
  serial: number | undefined;
}

/** What the table keeps per nonce, under its serial. */
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
  readonly #entries = new Map<number, Entry>();
  /**
   * The nonces in insertion order, oldest at `#head`. Entries leave only from the front (expiry
   * or eviction), so this is the Map's own order; it exists because iterating the Map from its
   * start walks past every entry deleted since V8 last compacted it, thousands once the table is
   * full, which profiled at microseconds per check.
   */
  #order: number[] = [];
  #head = 0;
  readonly #capacity: number;
  /** The highest serial evicted (serials start at 1). */
  #watermark = 0;

  constructor(options: NonceCountOptions = {}) {
    this.#capacity = Math.max(1, options.capacity ?? 4096);
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Records a use of the nonce `issued` with count `nc` (0 when the credentials have no qop) and
   * says whether to accept it. Call only for genuine, unexpired nonces whose digest was correct.
   */
  check(nc: number, issued: IssuedNonce, now: number): NonceCountVerdict {
    this.#purge(now);
    const serial = issued.serial;
    if (serial === undefined) return "stale";
    const entry = this.#entries.get(serial);
    if (entry) {
      if (nc <= entry.nc) return "reused";
      entry.nc = nc;
      return "ok";
    }
    if (serial <= this.#watermark) return "stale";
    this.#entries.set(serial, { nc, expiresAt: issued.expiresAt });
    this.#order.push(serial);
    if (this.#entries.size > this.#capacity) this.#evictOldest();
    return "ok";
  }

  // Insertion order is close to expiry order (every nonce has the same lifetime and is first
  // used seconds after it was issued), so expired entries collect at the front.
  #purge(now: number): void {
    while (this.#head < this.#order.length) {
      const serial = this.#order[this.#head]!;
      if (this.#entries.get(serial)!.expiresAt > now) break;
      this.#entries.delete(serial);
      this.#head++;
    }
    this.#compact();
  }

  #evictOldest(): void {
    const serial = this.#order[this.#head++]!;
    this.#entries.delete(serial);
    if (serial > this.#watermark) this.#watermark = serial;
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

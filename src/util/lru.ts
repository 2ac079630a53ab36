/**
 * A map with a fixed capacity and optional per-entry expiry, for every table that a party on the
 * internet can add entries to (pike fast paths, cached bans, call-load calls, ...).
 *
 * - At capacity, the least recently set entry goes (one per insert, never all of them: "clear
 *   everything at N" would let an attacker wipe the bans it had earned by adding N entries).
 * - An entry past its expiry reads as absent and is removed when met; `sweep` removes the rest.
 * - `get` leaves the order alone unless `touchOnGet` is set (then it is a true LRU).
 *
 * A JavaScript Map iterates in insertion order, so the oldest entry is the first key and
 * re-inserting an entry moves it to the end: every operation is O(1) except `sweep`.
 */

export interface BoundedMapOptions<K, V> {
  /** Most entries held at once (at least 1). */
  readonly capacity: number;
  /** Reading an entry makes it the most recent (LRU); default false (insertion order). */
  readonly touchOnGet?: boolean;
  /** Called for an entry pushed out by capacity (not for expiry or `delete`). */
  readonly onEvict?: (key: K, value: V) => void;
}

interface Slot<V> {
  value: V;
  expiresAt: number;
}

export class BoundedMap<K, V> {
  readonly capacity: number;
  /** Entries pushed out because the map was full (a sizing hint for operators). */
  evicted = 0;
  private readonly map = new Map<K, Slot<V>>();
  private readonly touchOnGet: boolean;
  private readonly onEvict: ((key: K, value: V) => void) | undefined;

  constructor(options: BoundedMapOptions<K, V>) {
    this.capacity = Math.max(1, Math.floor(options.capacity));
    this.touchOnGet = options.touchOnGet ?? false;
    this.onEvict = options.onEvict;
  }

  /** Entries held, expired ones not yet removed included. */
  get size(): number {
    return this.map.size;
  }

  /** The value of `key` unless absent or expired at `now`. */
  get(key: K, now = Date.now()): V | undefined {
    const slot = this.map.get(key);
    if (slot === undefined) return undefined;
    if (slot.expiresAt <= now) {
      this.map.delete(key);
      return undefined;
    }
    if (this.touchOnGet) {
      this.map.delete(key);
      this.map.set(key, slot);
    }
    return slot.value;
  }

  has(key: K, now = Date.now()): boolean {
    return this.get(key, now) !== undefined;
  }

  /** When `key` expires (epoch ms), if it is held. */
  expiresAt(key: K): number | undefined {
    return this.map.get(key)?.expiresAt;
  }

  /** Sets `key` (now the most recent entry), expiring at `expiresAt` (default never). */
  set(key: K, value: V, expiresAt = Number.POSITIVE_INFINITY): void {
    this.map.delete(key);
    this.map.set(key, { value, expiresAt });
    if (this.map.size > this.capacity) this.evictOldest();
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  /** Live entries, oldest first. */
  *entries(now = Date.now()): IterableIterator<[K, V, number]> {
    for (const [key, slot] of this.map) if (slot.expiresAt > now) yield [key, slot.value, slot.expiresAt];
  }

  /** Removes every expired entry, telling `removed` of each; returns how many went. O(size). */
  sweep(now = Date.now(), removed?: (key: K, value: V) => void): number {
    let n = 0;
    for (const [key, slot] of this.map) {
      if (slot.expiresAt <= now) {
        this.map.delete(key);
        removed?.(key, slot.value);
        n++;
      }
    }
    return n;
  }

  private evictOldest(): void {
    const oldest = this.map.entries().next();
    if (oldest.done) return;
    const [key, slot] = oldest.value;
    this.map.delete(key);
    this.evicted++;
    this.onEvict?.(key, slot.value);
  }
}

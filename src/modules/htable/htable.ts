/**
 * A named key/value table with per-table auto-expiry, in the manner of Kamailio's htable
 * (`$sht(name=>key)`). Items expire `autoexpire` seconds after their last update (or after
 * they were created, with `updateexpire=0`); a per-item expiry can be set as with `$shtex`.
 * Expired items read as absent at once and are removed by `expire()` or on access.
 *
 * Kamailio tables grow without bound; an edge facing the internet cannot allow that (an
 * attacker with many addresses fills `ipban`), so a table holds at most `maxItems` and drops
 * the item updated longest ago to make room.
 */

export type HtValue = string | number;

export interface HtableOptions {
  readonly name: string;
  /** Seconds after the last update an item is deleted; 0 = never. */
  readonly autoexpire?: number;
  /** Whether updates restart the expiry (Kamailio `updateexpire`, default true). */
  readonly updateexpire?: boolean;
  /** Value read for a missing key instead of undefined (Kamailio `initval`). */
  readonly initval?: number;
  /** Item cap; the least recently updated item is evicted beyond it. */
  readonly maxItems?: number;
  /** Milliseconds clock; injected so tests and Durable Objects control time. */
  readonly clock?: () => number;
}

export interface HtItem {
  readonly key: string;
  readonly value: HtValue;
  /** Epoch ms at which the item expires; undefined = never. */
  readonly expiresAt: number | undefined;
}

export interface HtableStats {
  readonly items: number;
  readonly expired: number;
  readonly evicted: number;
}

interface Cell {
  value: HtValue;
  expiresAt: number;
}

const NEVER = Number.POSITIVE_INFINITY;
export const HTABLE_DEFAULT_MAX_ITEMS = 100_000;

export class Htable {
  readonly name: string;
  readonly autoexpireMs: number;
  readonly updateexpire: boolean;
  readonly initval: number | undefined;
  readonly maxItems: number;
  private readonly clock: () => number;
  private readonly cells = new Map<string, Cell>();
  private expiredCount = 0;
  private evictedCount = 0;

  constructor(options: HtableOptions) {
    this.name = options.name;
    this.autoexpireMs = Math.max(0, options.autoexpire ?? 0) * 1000;
    this.updateexpire = options.updateexpire ?? true;
    this.initval = options.initval;
    this.maxItems = Math.max(1, options.maxItems ?? HTABLE_DEFAULT_MAX_ITEMS);
    this.clock = options.clock ?? Date.now;
  }

  get size(): number {
    return this.cells.size;
  }

  /** `$sht(name=>key)`: the value, `initval` when absent and set, else undefined ($null). */
  get(key: string): HtValue | undefined {
    const cell = this.live(key);
    return cell === undefined ? this.initval : cell.value;
  }

  has(key: string): boolean {
    return this.live(key) !== undefined;
  }

  /** `$sht(name=>key) = value`. */
  set(key: string, value: HtValue): void {
    const now = this.clock();
    const cell = this.live(key, now);
    if (cell === undefined) {
      this.insert(key, { value, expiresAt: this.defaultExpiry(now) });
      return;
    }
    cell.value = value;
    this.touch(key, cell, now);
  }

  /**
   * `$shtinc` / `$shtdec`: adds `delta` to an integer item (a missing item counts from
   * `initval`, or 0) and returns the new value; a string item is left alone and undefined
   * returned, as Kamailio returns $null.
   */
  inc(key: string, delta = 1): number | undefined {
    const now = this.clock();
    const cell = this.live(key, now);
    if (cell === undefined) {
      const value = (this.initval ?? 0) + delta;
      this.insert(key, { value, expiresAt: this.defaultExpiry(now) });
      return value;
    }
    if (typeof cell.value !== "number") return undefined;
    cell.value += delta;
    this.touch(key, cell, now);
    return cell.value;
  }

  dec(key: string, delta = 1): number | undefined {
    return this.inc(key, -delta);
  }

  /** `$shtex(name=>key) = seconds`: this item expires `seconds` from now (0 = never). */
  setExpire(key: string, seconds: number): boolean {
    const now = this.clock();
    const cell = this.live(key, now);
    if (cell === undefined) return false;
    cell.expiresAt = seconds > 0 ? now + seconds * 1000 : NEVER;
    return true;
  }

  /** Seconds until `key` expires (`$shtex` read); undefined when absent or never expiring. */
  expiresIn(key: string): number | undefined {
    const now = this.clock();
    const cell = this.live(key, now);
    if (cell === undefined || cell.expiresAt === NEVER) return undefined;
    return Math.ceil((cell.expiresAt - now) / 1000);
  }

  /** `sht_rm(name, key)`. */
  delete(key: string): boolean {
    return this.cells.delete(key);
  }

  /** `sht_reset(name)`. */
  reset(): void {
    this.cells.clear();
  }

  /** Removes expired items (the htable timer's job); returns how many went. */
  expire(): number {
    const now = this.clock();
    let removed = 0;
    for (const [key, cell] of this.cells) {
      if (cell.expiresAt <= now) {
        this.cells.delete(key);
        removed++;
      }
    }
    this.expiredCount += removed;
    return removed;
  }

  /** Live items for admin listing (`htable.dump`), in least-recently-updated order. */
  *entries(): IterableIterator<HtItem> {
    const now = this.clock();
    for (const [key, cell] of this.cells) {
      if (cell.expiresAt <= now) continue;
      yield { key, value: cell.value, expiresAt: cell.expiresAt === NEVER ? undefined : cell.expiresAt };
    }
  }

  stats(): HtableStats {
    return { items: this.cells.size, expired: this.expiredCount, evicted: this.evictedCount };
  }

  private defaultExpiry(now: number): number {
    return this.autoexpireMs > 0 ? now + this.autoexpireMs : NEVER;
  }

  private live(key: string, now: number = this.clock()): Cell | undefined {
    const cell = this.cells.get(key);
    if (cell === undefined) return undefined;
    if (cell.expiresAt > now) return cell;
    this.cells.delete(key);
    this.expiredCount++;
    return undefined;
  }

  private touch(key: string, cell: Cell, now: number): void {
    if (!this.updateexpire) return;
    if (this.autoexpireMs > 0) cell.expiresAt = now + this.autoexpireMs;
    // Moving the item to the end keeps the map in update order: eviction takes the stalest.
    this.cells.delete(key);
    this.cells.set(key, cell);
  }

  private insert(key: string, cell: Cell): void {
    if (this.cells.size >= this.maxItems) {
      for (const oldest of this.cells.keys()) {
        this.cells.delete(oldest);
        this.evictedCount++;
        break;
      }
    }
    this.cells.set(key, cell);
  }
}

import { BoundedMap } from "../../util/lru.ts";

/**
 * The ban directory: what every shard must know about an address without asking its Guard,
 * held once (the GuardDirectory object) and copied by each shard on demand. It plays the part of
 * Kamailio's `dmqreplicate` for the `ipban` and `auth_block_list` htables, pulled instead of
 * pushed, so that a ban costs one write here, not a message and a write in every shard.
 *
 * It holds, per address key (IPv6: the /64): the end of an all-transport ban (WebSocket
 * traffic caused it; UDP-only bans stay in their Guard, which the shards ask once a UDP source
 * spends its local pike budget), the end of its "watched" time (live auth failures), and a
 * tombstone when an admin lifted a ban (so the shards drop what they learned from the Guard).
 *
 * Changes are numbered; a shard asks for the changes after the last number it saw (`since`) in
 * the directory's current `epoch`. A new epoch (the object restarted) or a number older than
 * the oldest change still known answers with the whole table instead.
 */

/** One address in the directory: ends in epoch ms, 0 = none; `lifted`: a ban was lifted. */
export interface DirectoryEntry {
  readonly ban: number;
  readonly watch: number;
  readonly lifted?: boolean;
}

/** A change as it travels: `[key, ban, watch, lifted]`. */
export type DirectoryRow = readonly [key: string, ban: number, watch: number, lifted: 0 | 1];

export interface DirectoryChanges {
  readonly epoch: string;
  /** The number of the latest change included. */
  readonly seq: number;
  /** The whole table (replace the copy) rather than the changes since `since`. */
  readonly full: boolean;
  readonly rows: readonly DirectoryRow[];
}

/** What the route script records: a ban until, a watch until, or an admin lifting a ban. */
export type DirectoryRecord = { readonly ban: number } | { readonly watch: number } | { readonly lift: true; readonly until: number };

/** Entries the directory holds (~300 bytes each: ~15 MB at most); the oldest goes first. */
export const DIRECTORY_CAPACITY = 50_000;

/**
 * How old a shard's copy of the directory may be: older, the next message refreshes it in the
 * background; older than twice this, an admission or an auth check waits for the refresh. So an
 * all-transport ban, a watch or a lifted ban reaches a busy shard within about this long, and no
 * shard admits a connection or checks a password from a copy more than twice this old.
 */
export const DIRECTORY_MAX_AGE_MS = 1000;

interface Held extends DirectoryEntry {
  readonly seq: number;
}

export class BanDirectory {
  readonly epoch: string;
  private readonly entries: BoundedMap<string, Held>;
  /** (seq, key) of every change, in order; superseded ones are compacted away. */
  private log: { seq: number; key: string }[] = [];
  private seq = 0;
  /** Changes numbered at or below this may be missing from `log` (compacted or evicted). */
  private floor = 0;
  /** Keys pushed out by capacity since the last `drainEvicted` (their persisted copies can go). */
  private evicted: string[] = [];

  constructor(options: { epoch?: string; capacity?: number } = {}) {
    this.epoch = options.epoch ?? crypto.randomUUID();
    this.entries = new BoundedMap({
      capacity: options.capacity ?? DIRECTORY_CAPACITY,
      onEvict: (key, held) => {
        this.floor = Math.max(this.floor, held.seq);
        this.evicted.push(key);
      },
    });
  }

  /** Keys pushed out of the full table since the last call. */
  drainEvicted(): string[] {
    const keys = this.evicted;
    this.evicted = [];
    return keys;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now = Date.now()): DirectoryEntry | undefined {
    return this.entries.get(key, now);
  }

  /** Applies one record; returns the entry to persist (undefined: nothing changed). */
  record(key: string, change: DirectoryRecord, now = Date.now()): DirectoryEntry | undefined {
    const old = this.entries.get(key, now);
    let next: DirectoryEntry;
    if ("lift" in change) next = { ban: 0, watch: old?.watch ?? 0, lifted: true };
    else if ("ban" in change) next = { ban: Math.max(old?.ban ?? 0, change.ban), watch: old?.watch ?? 0 };
    else next = { ban: old?.ban ?? 0, watch: Math.max(old?.watch ?? 0, change.watch), ...(old?.lifted ? { lifted: true } : {}) };
    if (old !== undefined && old.ban === next.ban && old.watch === next.watch && (old.lifted ?? false) === (next.lifted ?? false)) return undefined;
    // A tombstone lives as long as what the shards may have learned: the lifted ban's end.
    const until = Math.max(next.ban, next.watch, "lift" in change ? change.until : 0);
    if (until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    this.put(key, next, until);
    return next;
  }

  /** Loads a persisted entry (after a restart: a new epoch, so every shard takes the whole table). */
  load(key: string, entry: DirectoryEntry, until: number, now = Date.now()): void {
    if (until > now) this.put(key, entry, until);
  }

  /** When `key`'s entry may be forgotten (epoch ms). */
  expiresAt(key: string): number | undefined {
    return this.entries.expiresAt(key);
  }

  /** The changes after `since` in `epoch`, or the whole table when those are not all known. */
  changes(epoch: string | undefined, since: number, now = Date.now()): DirectoryChanges {
    if (epoch !== this.epoch || since < this.floor || since > this.seq) {
      const rows: DirectoryRow[] = [];
      // Tombstones too: a shard that missed a lift must still drop what it learned from the Guard.
      for (const [key, e] of this.entries.entries(now)) rows.push(row(key, e));
      return { epoch: this.epoch, seq: this.seq, full: true, rows };
    }
    const rows: DirectoryRow[] = [];
    const seen = new Set<string>();
    for (let i = this.firstAfter(since); i < this.log.length; i++) {
      const { key } = this.log[i] as { key: string };
      if (seen.has(key)) continue;
      seen.add(key);
      const e = this.entries.get(key, now);
      // Gone since (expired): the shard's copy expires it by itself; say so anyway.
      rows.push(e === undefined ? [key, 0, 0, 0] : row(key, e));
    }
    return { epoch: this.epoch, seq: this.seq, full: false, rows };
  }

  /** Removes expired entries; returns the keys that went (their persisted copies can go too). */
  sweep(now = Date.now()): string[] {
    const gone: string[] = [];
    this.entries.sweep(now, (key) => gone.push(key));
    return gone;
  }

  private put(key: string, entry: DirectoryEntry, until: number): void {
    const seq = ++this.seq;
    this.entries.set(key, { ...entry, seq }, until);
    this.log.push({ seq, key });
    // Superseded changes are dropped once the log is twice the table: amortised O(1) per change.
    if (this.log.length > 2 * this.entries.size + 64) this.compact();
  }

  private compact(): void {
    const live: { seq: number; key: string }[] = [];
    for (const { seq, key } of this.log) {
      const held = this.entries.get(key, Number.NEGATIVE_INFINITY);
      if (held !== undefined && held.seq === seq) live.push({ seq, key });
    }
    this.log = live;
  }

  /** Index of the first logged change numbered above `since` (binary search). */
  private firstAfter(since: number): number {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.log[mid] as { seq: number }).seq <= since) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function row(key: string, e: DirectoryEntry): DirectoryRow {
  return [key, e.ban, e.watch, e.lifted ? 1 : 0];
}

/** What a shard does after taking changes: close the sockets of `banned`, forget what it learned of `lifted`. */
export interface CopyUpdate {
  readonly banned: readonly string[];
  readonly lifted: readonly string[];
}

/**
 * A shard's copy of the directory. Bounded like the directory itself; an entry pushed out of a
 * full copy is a ban this shard no longer applies at admission, while the Guard still holds it
 * (and hands it back when the address spends its local pike budget).
 */
export class DirectoryCopy {
  /** When the copy was last brought up to date (epoch ms). */
  fetchedAt = Number.NEGATIVE_INFINITY;
  private epoch: string | undefined;
  private seq = 0;
  private readonly banMap: BoundedMap<string, number>;
  private readonly watchMap: BoundedMap<string, number>;

  constructor(capacity = DIRECTORY_CAPACITY) {
    this.banMap = new BoundedMap({ capacity });
    this.watchMap = new BoundedMap({ capacity });
  }

  /** Where to ask from: `changes(epoch, seq)`. */
  get position(): { epoch: string | undefined; seq: number } {
    return { epoch: this.epoch, seq: this.seq };
  }

  get size(): number {
    return this.banMap.size + this.watchMap.size;
  }

  /** The end of the address's all-transport ban, when one is on at `now`. */
  bannedUntil(key: string, now: number): number | undefined {
    return this.banMap.get(key, now);
  }

  watched(key: string, now: number): boolean {
    return this.watchMap.has(key, now);
  }

  /** Live all-transport bans, `[key, until]` (admin, metrics). */
  *bans(now: number): IterableIterator<[string, number]> {
    for (const [key, until] of this.banMap.entries(now)) yield [key, until];
  }

  /** Live watches, `[key, until]` (admin, metrics). */
  *watches(now: number): IterableIterator<[string, number]> {
    for (const [key, until] of this.watchMap.entries(now)) yield [key, until];
  }

  apply(changes: DirectoryChanges, now: number): CopyUpdate {
    const banned: string[] = [];
    const lifted: string[] = [];
    const before = changes.full ? new Set([...this.banMap.entries(now)].map(([k]) => k)) : undefined;
    if (changes.full) {
      this.banMap.clear();
      this.watchMap.clear();
    }
    for (const [key, ban, watch, isLifted] of changes.rows) {
      const was = before?.has(key) ?? this.banMap.has(key, now);
      if (ban > now) {
        this.banMap.set(key, ban, ban);
        if (!was) banned.push(key);
      } else this.banMap.delete(key);
      if (watch > now) this.watchMap.set(key, watch, watch);
      else this.watchMap.delete(key);
      if (isLifted === 1) lifted.push(key);
    }
    this.epoch = changes.epoch;
    this.seq = changes.seq;
    this.fetchedAt = now;
    return { banned, lifted };
  }
}

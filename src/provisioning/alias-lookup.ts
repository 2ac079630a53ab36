/**
 * The registrar's `lookup("aliases")` over the D1 `aliases` table (Kamailio's location columns),
 * behind a per-isolate cache: a call to an alias should not cost a D1 read every time, and a
 * caller guessing names must not turn into one D1 read per guess.
 */
import type { AliasService } from "../modules/registrar/script.ts";
import type { SqlDatabase } from "./db.ts";
import { TtlCache } from "./ttl-cache.ts";

export interface AliasCacheOptions {
  /** How long an alias (or its absence) is served from memory, ms; an imported change takes this long to apply everywhere. */
  ttl?: number;
  /** Most entries kept; the oldest goes first. */
  maxEntries?: number;
  clock?: () => number;
}

export class AliasCache implements AliasService {
  private readonly entries: TtlCache<string | undefined>;
  private readonly ttl: number;
  private readonly inFlight = new WeakMap<object, Map<string, Promise<string | undefined>>>();

  constructor(
    private readonly db: SqlDatabase,
    options: AliasCacheOptions = {},
  ) {
    this.ttl = options.ttl ?? 10_000;
    this.entries = new TtlCache(options.maxEntries ?? 10_000, options.clock ?? Date.now);
  }

  /**
   * The alias's target URI. Of several rows for one alias, the one with the highest q wins, then
   * the first imported (Kamailio would fork to all; an alias here names one target). A row with
   * no domain matches the alias in any domain, as db_text rows without one do. An absence is
   * remembered as long as an answer; a failure is not (the next call asks D1 again).
   */
  async lookup(user: string, domain: string, inFlight?: Map<string, Promise<string | undefined>>): Promise<string | undefined> {
    const key = `${user.toLowerCase()}@${domain.toLowerCase()}`;
    return this.entries.get(key, () => this.fetch(user, domain), () => this.ttl, inFlight);
  }

  /**
   * The lookups of one Durable Object (`owner`): its concurrent misses of one alias share one D1
   * read (a burst of calls to one alias after its entry expired read it once). A read in flight
   * is never shared across objects: its promise belongs to the object that started it, and
   * awaiting it from another object of the isolate fails (workerd's I/O contexts).
   */
  lookupFor(owner: object): AliasService {
    let reads = this.inFlight.get(owner);
    if (reads === undefined) this.inFlight.set(owner, (reads = new Map()));
    const r = reads;
    return { lookup: (user, domain) => this.lookup(user, domain, r) };
  }

  /** Forgets every entry (after an import in this isolate; others see the change after `ttl`). */
  clear(): void {
    this.entries.clear();
  }

  private async fetch(user: string, domain: string): Promise<string | undefined> {
    const row = await this.db
      .prepare("SELECT contact FROM aliases WHERE lower(username) = lower(?1) AND (domain IS NULL OR domain = '' OR lower(domain) = lower(?2)) ORDER BY q DESC, id LIMIT 1")
      .bind(user, domain)
      .first<{ contact: string }>();
    return row?.contact || undefined;
  }
}

const caches = new WeakMap<SqlDatabase, AliasCache>();

/** The isolate's alias cache for `db`. */
export function aliasCacheFor(db: SqlDatabase, options?: AliasCacheOptions): AliasCache {
  let cache = caches.get(db);
  if (cache === undefined) {
    cache = new AliasCache(db, options);
    caches.set(db, cache);
  }
  return cache;
}

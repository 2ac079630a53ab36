/**
 * auth_db's subscriber query over D1, behind a per-isolate cache: DESIGN.md §3 wants a REGISTER
 * refresh to reach no other service, and a D1 read costs far more than the digest itself.
 */
import type { SubscriberKey, SubscriberLookup, SubscriberSecrets } from "../modules/auth/authorize.ts";
import type { SqlDatabase } from "./db.ts";

export interface SubscriberCacheOptions {
  /** How long a found subscriber is served from memory, ms. A changed password takes this long to apply everywhere. */
  ttl?: number;
  /** How long "no such subscriber" is remembered, ms: guessing attacks must not turn into D1 reads. */
  negativeTtl?: number;
  /** Most entries kept; the oldest is dropped first. */
  maxEntries?: number;
  /**
   * Kamailio auth_db `use_domain`: match the `domain` column too (the default here, since the
   * table's unique key is username + domain). With false the first row for the username wins.
   */
  useDomain?: boolean;
  /** Maps the digest realm to the `domain` column (e.g. an alias like 127.0.0.1 → localhost). */
  domainOf?: (realm: string) => string;
  clock?: () => number;
}

interface Entry {
  secrets: SubscriberSecrets | undefined;
  until: number;
}

interface Row {
  password: string;
  ha1: string;
  ha1b: string;
  ha1_sha256: string;
}

function secretsOf(row: Row): SubscriberSecrets {
  const s: SubscriberSecrets = {};
  if (row.ha1) s.ha1 = row.ha1;
  if (row.ha1b) s.ha1b = row.ha1b;
  if (row.ha1_sha256) s.ha1Sha256 = row.ha1_sha256;
  if (row.password) s.password = row.password;
  return s;
}

/**
 * A subscriber cache for one isolate; `lookup` is the auth module's `SubscriberLookup`. Answers
 * are shared by the whole isolate; a query in flight only by the lookups of one owner
 * (`lookupFor`: a Durable Object), since its promise belongs to the object that started it and
 * awaiting it from another object of the isolate fails (workerd's I/O contexts).
 */
export class SubscriberCache {
  readonly lookup: SubscriberLookup;
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new WeakMap<object, Map<string, Promise<SubscriberSecrets | undefined>>>();
  private readonly ttl: number;
  private readonly negativeTtl: number;
  private readonly maxEntries: number;
  private readonly useDomain: boolean;
  private readonly domainOf: (realm: string) => string;
  private readonly clock: () => number;
  private readonly db: SqlDatabase;

  constructor(db: SqlDatabase, options: SubscriberCacheOptions = {}) {
    this.db = db;
    this.ttl = options.ttl ?? 60_000;
    this.negativeTtl = options.negativeTtl ?? 10_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.useDomain = options.useDomain ?? true;
    this.domainOf = options.domainOf ?? ((realm) => realm.toLowerCase());
    this.clock = options.clock ?? Date.now;
    this.lookup = (key) => this.get(key);
  }

  /**
   * The lookup for one Durable Object (`owner`): concurrent misses of one account share one
   * query, as a reconnect storm of one user's devices into one shard would otherwise repeat it.
   * `domainOf` (an alias realm to the SIP domain) and `ttl` are the caller's, not the cache's:
   * the cache is the isolate's, and whoever made it first (the admin API, the phone page) chose
   * its options.
   */
  lookupFor(owner: object, own: { domainOf?: (realm: string) => string; ttl?: number } = {}): SubscriberLookup {
    let pending = this.inFlight.get(owner);
    if (pending === undefined) this.inFlight.set(owner, (pending = new Map()));
    const shared = pending;
    const domainOf = own.domainOf ?? this.domainOf;
    const ttl = own.ttl ?? this.ttl;
    return (key) => this.get(key, shared, domainOf(key.realm), ttl);
  }

  /** Forgets one account (after the admin API changed it in this isolate). */
  invalidate(user: string, domain: string): void {
    this.entries.delete(this.keyOf(user, domain.toLowerCase()));
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private keyOf(user: string, domain: string): string {
    return this.useDomain ? `${user}@${domain}` : user;
  }

  private get(key: SubscriberKey, pending?: Map<string, Promise<SubscriberSecrets | undefined>>, domain = this.domainOf(key.realm), ttl = this.ttl): SubscriberSecrets | undefined | Promise<SubscriberSecrets | undefined> {
    const k = this.keyOf(key.user, domain);
    const hit = this.entries.get(k);
    const now = this.clock();
    if (hit && hit.until > now) return hit.secrets;
    const running = pending?.get(k);
    if (running !== undefined) return running;
    const query = this.fetch(key.user, domain).then(
      (secrets) => {
        pending?.delete(k);
        this.store(k, secrets, ttl);
        return secrets;
      },
      (error: unknown) => {
        // Failures are not cached: the next request tries D1 again.
        pending?.delete(k);
        throw error;
      },
    );
    pending?.set(k, query);
    return query;
  }

  private store(k: string, secrets: SubscriberSecrets | undefined, ttl: number): void {
    this.entries.delete(k);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(k, { secrets, until: this.clock() + (secrets ? ttl : this.negativeTtl) });
  }

  private async fetch(user: string, domain: string): Promise<SubscriberSecrets | undefined> {
    const columns = "SELECT password, ha1, ha1b, ha1_sha256 FROM subscriber";
    const row = this.useDomain
      ? await this.db.prepare(`${columns} WHERE username = ?1 AND domain = ?2`).bind(user, domain).first<Row>()
      : await this.db.prepare(`${columns} WHERE username = ?1 ORDER BY id LIMIT 1`).bind(user).first<Row>();
    return row ? secretsOf(row) : undefined;
  }
}

// One cache per isolate and database binding: every request of the isolate shares it, and the
// admin API can drop an account it changed (other isolates see the change after `ttl`).
const caches = new WeakMap<SqlDatabase, SubscriberCache>();

/** The isolate's cache for `db`, created with `options` on first use. */
export function subscriberCacheFor(db: SqlDatabase, options?: SubscriberCacheOptions): SubscriberCache {
  let cache = caches.get(db);
  if (!cache) {
    cache = new SubscriberCache(db, options);
    caches.set(db, cache);
  }
  return cache;
}

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

/** A miss waiting for its owner's next read. */
interface Waiting {
  user: string;
  domain: string;
  /** The lookup's ttl for what the read finds. */
  ttl: number;
  resolve: (secrets: SubscriberSecrets | undefined) => void;
  reject: (error: unknown) => void;
}

/** One owner's reads: the queries in flight by key, and the misses waiting for a read of their own. */
interface OwnerReads {
  pending: Map<string, Promise<SubscriberSecrets | undefined>>;
  waiting: Map<string, Waiting>;
  reading: number;
}

/**
 * Reads one owner keeps in flight at once; a miss beyond them waits and goes with the others that
 * came meanwhile in one statement. After a deploy every REGISTER of a shard misses (the isolate's
 * cache starts empty): a thousand users were a thousand D1 reads, now one per batch.
 */
const READS_IN_FLIGHT = 2;
/** Accounts per batched statement (bound as one JSON array, so D1's 100-parameter limit does not apply). */
const BATCH = 200;

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
  private readonly owners = new WeakMap<object, OwnerReads>();
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
    let reads = this.owners.get(owner);
    if (reads === undefined) this.owners.set(owner, (reads = { pending: new Map(), waiting: new Map(), reading: 0 }));
    const shared = reads;
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

  private get(key: SubscriberKey, reads?: OwnerReads, domain = this.domainOf(key.realm), ttl = this.ttl): SubscriberSecrets | undefined | Promise<SubscriberSecrets | undefined> {
    const k = this.keyOf(key.user, domain);
    const hit = this.entries.get(k);
    const now = this.clock();
    if (hit && hit.until > now) return hit.secrets;
    if (reads === undefined) return this.fetch(key.user, domain).then((secrets) => this.store(k, secrets, ttl));
    const running = reads.pending.get(k);
    if (running !== undefined) return running;
    const query = new Promise<SubscriberSecrets | undefined>((resolve, reject) => reads.waiting.set(k, { user: key.user, domain, ttl, resolve, reject }));
    reads.pending.set(k, query);
    this.read(reads);
    return query;
  }

  /** Starts reads for the owner's waiting misses while it has fewer than READS_IN_FLIGHT. */
  private read(reads: OwnerReads): void {
    while (reads.reading < READS_IN_FLIGHT && reads.waiting.size > 0) {
      const batch = [...reads.waiting].slice(0, BATCH);
      for (const [k] of batch) reads.waiting.delete(k);
      reads.reading++;
      const done = () => {
        for (const [k] of batch) reads.pending.delete(k);
        reads.reading--;
        this.read(reads);
      };
      this.fetchMany(batch.map(([, w]) => w)).then(
        (found) => {
          for (const [k, w] of batch) w.resolve(this.store(k, found(w.user, w.domain), w.ttl));
          done();
        },
        (error: unknown) => {
          // Failures are not cached: the next request tries D1 again.
          for (const [, w] of batch) w.reject(error);
          done();
        },
      );
    }
  }

  private store(k: string, secrets: SubscriberSecrets | undefined, ttl: number): SubscriberSecrets | undefined {
    this.entries.delete(k);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(k, { secrets, until: this.clock() + (secrets ? ttl : this.negativeTtl) });
    return secrets;
  }

  private async fetch(user: string, domain: string): Promise<SubscriberSecrets | undefined> {
    const columns = "SELECT password, ha1, ha1b, ha1_sha256 FROM subscriber";
    const row = this.useDomain
      ? await this.db.prepare(`${columns} WHERE username = ?1 AND domain = ?2`).bind(user, domain).first<Row>()
      : await this.db.prepare(`${columns} WHERE username = ?1 ORDER BY id LIMIT 1`).bind(user).first<Row>();
    return row ? secretsOf(row) : undefined;
  }

  /**
   * Several accounts in one statement per domain (one alone as `fetch` reads it); the answer says
   * which were found. With use_domain off the first row of a username wins, as in `fetch`.
   */
  private async fetchMany(wanted: readonly Waiting[]): Promise<(user: string, domain: string) => SubscriberSecrets | undefined> {
    if (wanted.length === 1) {
      const only = wanted[0]!;
      const secrets = await this.fetch(only.user, only.domain);
      return () => secrets;
    }
    const found = new Map<string, SubscriberSecrets>();
    const columns = "SELECT id, username, domain, password, ha1, ha1b, ha1_sha256 FROM subscriber";
    const users = (list: readonly Waiting[]) => JSON.stringify([...new Set(list.map((w) => w.user))]);
    const statements = this.useDomain
      ? [...new Set(wanted.map((w) => w.domain))].map((domain) =>
          this.db.prepare(`${columns} WHERE domain = ?1 AND username IN (SELECT value FROM json_each(?2))`).bind(domain, users(wanted.filter((w) => w.domain === domain))),
        )
      : [this.db.prepare(`${columns} WHERE username IN (SELECT value FROM json_each(?1)) ORDER BY id DESC`).bind(users(wanted))];
    for (const statement of statements) {
      // ORDER BY id DESC: with use_domain off the last row set per username is its lowest id.
      for (const row of (await statement.all<Row & { username: string; domain: string }>()).results) {
        found.set(this.useDomain ? `${row.username}@${row.domain}` : row.username, secretsOf(row));
      }
    }
    return (user, domain) => found.get(this.keyOf(user, domain));
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

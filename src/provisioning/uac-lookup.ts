/**
 * The carrier-trunk tables as the route script reads them, behind per-isolate caches (a D1 read
 * costs far more than the call it serves): the `uacreg` rows, a subscriber's numbers and groups,
 * and the owner of a DID. An import in the same isolate clears them; other isolates see a change
 * after the time-to-live.
 */
import type { UserProfile } from "../modules/uac/caller-id.ts";
import type { UacRegRow } from "../modules/uac/uacreg.ts";
import type { SqlDatabase } from "./db.ts";
import { TtlCache } from "./ttl-cache.ts";
import { loadUacRegRows } from "./uac-tables.ts";

export interface UacLookupOptions {
  /** ms a read is served from memory. */
  ttl?: number;
  /** ms "no such DID" is remembered: a scan of numbers must not turn into D1 reads. */
  negativeTtl?: number;
  maxEntries?: number;
  clock?: () => number;
}

type Owner = { user: string; domain: string } | undefined;

/** One Durable Object's reads in flight, per cache. */
class InFlight {
  readonly rows = new Map<string, Promise<readonly UacRegRow[]>>();
  readonly profiles = new Map<string, Promise<UserProfile>>();
  readonly dids = new Map<string, Promise<Owner>>();
  readonly directory = new Map<string, Promise<Map<string, { user: string; domain: string }> | undefined>>();
}

export class UacLookup {
  private readonly rowsCache: TtlCache<readonly UacRegRow[]>;
  private readonly profiles: TtlCache<UserProfile>;
  private readonly dids: TtlCache<{ user: string; domain: string } | undefined>;
  private readonly directory: TtlCache<Map<string, { user: string; domain: string }> | undefined>;
  private readonly ttl: number;
  private readonly negativeTtl: number;
  private readonly maxEntries: number;
  private readonly inFlight = new WeakMap<object, InFlight>();

  constructor(private readonly db: SqlDatabase, options: UacLookupOptions = {}) {
    const clock = options.clock ?? Date.now;
    const max = options.maxEntries ?? 10_000;
    this.ttl = options.ttl ?? 30_000;
    this.negativeTtl = options.negativeTtl ?? 10_000;
    this.maxEntries = max;
    this.rowsCache = new TtlCache(1, clock);
    this.directory = new TtlCache(1, clock);
    this.profiles = new TtlCache(max, clock);
    this.dids = new TtlCache(max, clock);
  }

  /**
   * The lookups of one Durable Object (`owner`): its concurrent misses of one key share one D1
   * read (after a cache expiry, every call in flight would otherwise read the DID table again).
   */
  lookupFor(owner: object): Pick<UacLookup, "rows" | "profile" | "did"> {
    let reads = this.inFlight.get(owner);
    if (reads === undefined) this.inFlight.set(owner, (reads = new InFlight()));
    const r = reads;
    return { rows: () => this.rows(r), profile: (user, domain) => this.profile(user, domain, r), did: (e164) => this.did(e164, r) };
  }

  /** Every `uacreg` row. */
  async rows(reads?: InFlight): Promise<readonly UacRegRow[]> {
    return this.rowsCache.get("all", () => loadUacRegRows(this.db), () => this.ttl, reads?.rows);
  }

  /** A subscriber's `rpid`, the DIDs that point at it, and its `grp` groups: three reads in parallel. */
  async profile(user: string, domain: string, reads?: InFlight): Promise<UserProfile> {
    return this.profiles.get(`${user}@${domain}`, async () => {
      const [rpid, dids, groups] = await Promise.all([
        this.db.prepare("SELECT rpid FROM subscriber WHERE username = ?1 AND domain = ?2").bind(user, domain).all<{ rpid: string }>(),
        this.db.prepare("SELECT alias_username FROM dbaliases WHERE username = ?1 AND domain = ?2 ORDER BY id").bind(user, domain).all<{ alias_username: string }>(),
        this.db.prepare("SELECT grp FROM grp WHERE username = ?1 AND domain = ?2 ORDER BY id").bind(user, domain).all<{ grp: string }>(),
      ]);
      const numbers = [rpid.results[0]?.rpid ?? "", ...dids.results.map((d) => d.alias_username)].filter((n) => /^\+[1-9][0-9]{1,14}$/.test(n));
      return { numbers: [...new Set(numbers)], groups: groups.results.map((g) => g.grp) };
    }, () => this.ttl, reads?.profiles);
  }

  /**
   * The user a DID (E.164) belongs to. While the whole `dbaliases` table fits in the cache, it is
   * read at once and every number, owned or not, is answered from memory: calls to the PSTN each
   * dial a different number, so a per-number read was one D1 query per call (the largest share
   * of a gateway call's CPU in the local profile). A larger table is read number by number.
   */
  async did(e164: string, reads?: InFlight): Promise<{ user: string; domain: string } | undefined> {
    const directory = await this.directory.get("all", () => this.loadDirectory(), () => this.ttl, reads?.directory);
    if (directory !== undefined) return directory.get(e164);
    return this.dids.get(e164, async () => {
      const row = await this.db.prepare("SELECT username, domain FROM dbaliases WHERE alias_username = ?1 ORDER BY id LIMIT 1").bind(e164).first<{ username: string; domain: string }>();
      return row === null ? undefined : { user: row.username, domain: row.domain };
    }, (v) => (v === undefined ? this.negativeTtl : this.ttl), reads?.dids);
  }

  /** Every DID and its owner (the first row by id, as the per-number read picks), or undefined when the table is too large. */
  private async loadDirectory(): Promise<Map<string, { user: string; domain: string }> | undefined> {
    const { results } = await this.db
      .prepare("SELECT alias_username, username, domain FROM dbaliases ORDER BY id LIMIT ?1")
      .bind(this.maxEntries + 1)
      .all<{ alias_username: string; username: string; domain: string }>();
    if (results.length > this.maxEntries) return undefined;
    const out = new Map<string, { user: string; domain: string }>();
    for (const r of results) if (!out.has(r.alias_username)) out.set(r.alias_username, { user: r.username, domain: r.domain });
    return out;
  }

  clear(): void {
    this.directory.clear();
    this.rowsCache.clear();
    this.profiles.clear();
    this.dids.clear();
  }
}

const lookups = new WeakMap<SqlDatabase, UacLookup>();

/** The isolate's lookup for `db`. */
export function uacLookupFor(db: SqlDatabase, options?: UacLookupOptions): UacLookup {
  let lookup = lookups.get(db);
  if (lookup === undefined) {
    lookup = new UacLookup(db, options);
    lookups.set(db, lookup);
  }
  return lookup;
}

import { pikeKey } from "../pike/key.ts";
import { Htable, type HtItem, type HtValue } from "./htable.ts";

/**
 * The seed's "block user based on excessive REGISTER requests" rule, as a policy over an
 * htable. The seed's snippet, and what sipedge does about each odd part of it:
 *
 * 1. It keys the counters by `$au` alone, so anyone anywhere can lock a user out with 30
 *    wrong passwords. sipedge keys them by user AND source address (IPv6: the /64, see
 *    `pikeKey`), so failures from one place never block the user elsewhere.
 * 2. It tests `auth_count == 30`: a count that ever passes 30 (concurrent failures) never
 *    matches again and the block silently lapses. sipedge tests `>=`.
 * 3. It never increments `auth_count` nor sets `last_auth`; that is left to an auth-failure
 *    branch not shown (as in Kamailio's htable README). sipedge does it in `recordFailure`,
 *    which the route script calls only for a failed digest check: successful
 *    authentications neither count nor reset (a reset would let an attacker behind the
 *    user's NAT keep guessing whenever the user logs in).
 * 4. Its counter never decays: 30 typos spread over weeks would block. Its `last_auth` test
 *    (a failure within 300 s) comes closest to a window, so the count here lives in an item
 *    that expires `failureWindow` seconds (default 300) after the latest failure.
 * 5. Its block starts at the first request after the threshold (answered "Blocked
 *    Forbidden") and lasts 900 s, during which requests get "Already Blocked Forbidden"
 *    whatever their credentials; afterwards the count starts from zero. Kept as is.
 *
 * Emergency calls are never blocked (`emergencyNumbers`, plus RFC 5031 `urn:service:sos`).
 *
 * Memory is bounded without letting an attacker buy its blocks back: failure counts and blocks
 * live in two tables. Counts make room by dropping the count updated longest ago (guessing a
 * thousand other names only forgets counts); blocks are never pushed out: once `maxItems`
 * users are blocked from one address, every user is blocked from it until blocks expire.
 */

export interface AuthBlockOptions {
  /** Failures per user and source that trigger a block. Seed: 30. */
  readonly threshold?: number;
  /** Seconds a block lasts. Seed: 900. */
  readonly blockTime?: number;
  /** Seconds after the latest failure that the failure count is forgotten. Seed: 300. */
  readonly failureWindow?: number;
  /** Request-URI users that are never blocked. */
  readonly emergencyNumbers?: readonly string[];
  /** Item cap of each table: failure counts, and blocks (per source, in the Guard). */
  readonly maxItems?: number;
  readonly clock?: () => number;
}

export interface AuthBlockRequest {
  /** Authentication user (`$au`); when the request has no credentials, the To user. */
  readonly user: string;
  /** Source IP address (`$si`). */
  readonly source: string;
  /** The Request-URI user (or URN), to let emergency calls through. */
  readonly ruriUser?: string;
}

export type AuthBlockReason = "Blocked Forbidden" | "Already Blocked Forbidden";

export type AuthBlockVerdict =
  | { readonly verdict: "allow" }
  | { readonly verdict: "block"; readonly status: 403; readonly reason: AuthBlockReason; readonly first: boolean };

export const AUTH_BLOCK_DEFAULTS = Object.freeze({
  threshold: 30,
  blockTime: 900,
  failureWindow: 300,
  emergencyNumbers: Object.freeze(["112", "911"]),
});

const ALLOW: AuthBlockVerdict = Object.freeze({ verdict: "allow" });
const BLOCKED: AuthBlockVerdict = Object.freeze({
  verdict: "block",
  status: 403,
  reason: "Blocked Forbidden",
  first: true,
});
const ALREADY_BLOCKED: AuthBlockVerdict = Object.freeze({
  verdict: "block",
  status: 403,
  reason: "Already Blocked Forbidden",
  first: false,
});

/** A block as its owner stores it: key, value (the block's start, s) and end (epoch ms). */
export type KeptBlock = readonly [key: string, value: HtValue, expiresAt: number];

export class AuthBlockList {
  /** The `auth_count` items of the `auth_block_list` table. */
  readonly counts: Htable;
  /** The `last_block` items: never evicted (a full table blocks every user of the source). */
  readonly blocks: Htable;
  readonly threshold: number;
  readonly blockTime: number;
  private readonly emergency: ReadonlySet<string>;
  private readonly clock: () => number;

  constructor(options: AuthBlockOptions = {}) {
    this.threshold = Math.max(1, options.threshold ?? AUTH_BLOCK_DEFAULTS.threshold);
    this.blockTime = Math.max(1, options.blockTime ?? AUTH_BLOCK_DEFAULTS.blockTime);
    this.emergency = new Set(options.emergencyNumbers ?? AUTH_BLOCK_DEFAULTS.emergencyNumbers);
    this.clock = options.clock ?? Date.now;
    const maxItems = options.maxItems === undefined ? {} : { maxItems: options.maxItems };
    this.counts = new Htable({
      name: "auth_block_list",
      autoexpire: Math.max(1, options.failureWindow ?? AUTH_BLOCK_DEFAULTS.failureWindow),
      updateexpire: true,
      ...maxItems,
      clock: this.clock,
    });
    this.blocks = new Htable({ name: "auth_block_list", autoexpire: this.blockTime, updateexpire: false, ...maxItems, clock: this.clock });
  }

  /** Live items of both tables (`htable.dump`), counts first. */
  *entries(): IterableIterator<HtItem> {
    yield* this.counts.entries();
    yield* this.blocks.entries();
  }

  /** Items held in both tables (expired ones not yet removed included). */
  get size(): number {
    return this.counts.size + this.blocks.size;
  }

  /** Removes the expired items of both tables (the owner's timer); returns how many went. */
  expire(): number {
    return this.counts.expire() + this.blocks.expire();
  }

  /** Whether any count or block is live. */
  get live(): boolean {
    return !this.counts.entries().next().done || !this.blocks.entries().next().done;
  }

  /** Whether `ruriUser` names an emergency service, which no block may stop. */
  isEmergency(ruriUser: string | undefined): boolean {
    if (ruriUser === undefined) return false;
    if (this.emergency.has(ruriUser)) return true;
    // RFC 5031 §4.2: "urn:service:sos" and its sub-services identify emergency calls.
    return ruriUser.length >= 15 && ruriUser.slice(0, 15).toLowerCase() === "urn:service:sos";
  }

  /** Run before authenticating: whether this user may try from this source now. */
  check(request: AuthBlockRequest): AuthBlockVerdict {
    if (this.isEmergency(request.ruriUser)) return ALLOW;
    const base = keyBase(request.user, request.source);
    if (this.blocks.has(`${base}::last_block`)) return ALREADY_BLOCKED;
    // A source with a full block table is refused for every user (its blocks stay, see above).
    if (this.blocks.size >= this.blocks.maxItems) {
      this.blocks.expire();
      if (this.blocks.size >= this.blocks.maxItems) return ALREADY_BLOCKED;
    }
    const count = this.counts.get(`${base}::auth_count`);
    if (typeof count !== "number" || count < this.threshold) return ALLOW;
    // Like the seed's `last_block = $Ts`: the block's start, in seconds.
    this.blocks.set(`${base}::last_block`, Math.floor(this.clock() / 1000));
    this.counts.delete(`${base}::auth_count`);
    return BLOCKED;
  }

  /** Run after a failed digest check (wrong password, unknown user); returns the count. */
  recordFailure(user: string, source: string): number {
    return this.counts.inc(`${keyBase(user, source)}::auth_count`) ?? 0;
  }

  /**
   * The live blocks as `[key, value, expiresAt]`, for the owner to keep across a restart. Counts
   * are not kept (they fail open, as pike's do); a block is rare and is what the seed's rule is for.
   */
  keptBlocks(): KeptBlock[] {
    return [...this.blocks.entries()].map((i) => [i.key, i.value, i.expiresAt ?? Number.MAX_SAFE_INTEGER]);
  }

  /** Puts kept blocks back with the time they had left; ended ones are skipped. */
  restoreBlocks(kept: readonly KeptBlock[]): void {
    const now = this.clock();
    for (const [key, value, until] of kept) {
      if (until <= now) continue;
      this.blocks.set(key, value);
      this.blocks.setExpire(key, (until - now) / 1000);
    }
  }

  /** Admin unblock: forgets the block and the count of one user at one source. */
  unblock(user: string, source: string): void {
    const base = keyBase(user, source);
    this.blocks.delete(`${base}::last_block`);
    this.counts.delete(`${base}::auth_count`);
  }
}

/** `source|user`: an address never contains "|", so the pair maps to one key only. */
function keyBase(user: string, source: string): string {
  return `${pikeKey(source)}|${user}`;
}

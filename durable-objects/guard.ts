import { DurableObject } from "cloudflare:workers";
import { configFor, type SecurityConfig } from "../src/config.ts";
import type { Env } from "../src/env.ts";
import { AuthBlockList, type AuthBlockRequest, type AuthBlockVerdict } from "../src/modules/htable/index.ts";
import type { KeptBlock } from "../src/modules/htable/auth-block.ts";
import { NO_BAN, bannedUntil, lastEnd, scopeOf, withBan, type BanScope, type BanState } from "../src/modules/htable/ipban.ts";
import { Pike, type PikeVerdict } from "../src/modules/pike/index.ts";
import type { DirectoryRecord } from "../src/modules/htable/ban-directory.ts";
import { directoryOf } from "./guard-directory.ts";
import type { SipConnection } from "./sip-connection.ts";

export { GuardClient, guardOf } from "./guard-client.ts";

/**
 * Guard: one object per source address (IPv6: per /64, `pikeKey`), DESIGN.md §3. It owns what
 * must be counted across every connection of an address, whichever shard holds them:
 *
 * - pike's counters (`checkReq`, asked only when a connection's local budget is spent), one set
 *   for WebSocket traffic and one for UDP, so that datagrams forged with a WebSocket user's
 *   address never count against the user;
 * - the `ipban` entry with its scope and expiry (kept in storage, so an evicted Guard still
 *   refuses): a ban caused over UDP applies to UDP only (`htable/ipban.ts`);
 * - the connection count per shard, once an address has more connections in one shard than
 *   its share of the cap (`GuardClient.admit`);
 * - the seed's `auth_block_list` for this address (failures per user from here).
 *
 * A Guard exists only for an address that has something to count: an honest client with one
 * socket and a few requests per unit never creates one (a new object costs ~5 ms locally and a
 * placement round trip in production, which a deploy's reconnect storm would pay per client).
 * What the shards must know without asking a Guard (an all-transport ban, a watched address, a
 * lifted ban) goes to the GuardDirectory object, one write, and the shards copy it from there
 * when they are busy; nothing is sent to every shard.
 *
 * Counters live in memory and fail open: an evicted Guard starts from zero, and a continuing
 * flood is re-detected within one sampling unit. Bans and auth blocks are kept in storage
 * (written when one starts or is lifted, never per request), so a deploy lifts neither.
 */

export type ConnectVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: "banned" | "too-many-connections" };

export interface GuardCheck {
  readonly verdict: PikeVerdict;
  /** The address's bans (the shard keeps them to drop what they apply to). */
  readonly bans: BanState;
}

export interface GuardStatus {
  readonly key: string;
  /** When the address's last ban ends, whatever its scope (undefined: not banned). */
  readonly bannedUntil: number | undefined;
  /** When each scope's ban ends; a scope without a ban is absent. */
  readonly bans: { all?: number; udp?: number };
  readonly connections: Record<string, number>;
  readonly pike: ReturnType<Pike["top"]>;
  readonly authBlock: { key: string; value: string | number; expiresAt: number | undefined }[];
}

/** What a Guard (or the Worker, for `admit`) asks of a shard. */
export type GuardEvent =
  | { readonly kind: "count"; readonly key: string }
  /** A WebSocket upgrade from `ip` about to be handed to shard `shard` of `shards`: 0, 403 or 429. */
  | { readonly kind: "admit"; readonly ip: string; readonly shard: string; readonly shards: number }
  | { readonly kind: "reload-permissions" };

const BAN_KEY = "ipban";
/** The auth blocks of this address (`last_block` items), written when one starts or is lifted. */
const BLOCKS_KEY = "auth-blocks";

export class Guard extends DurableObject<Env> {
  private readonly security: SecurityConfig;
  private readonly shardCount: number;
  /** Pike counters per scope: WebSocket traffic and (forgeable) UDP traffic apart. */
  private readonly pike: { readonly all: Pike; readonly udp: Pike };
  private readonly blocks: AuthBlockList;
  /** Open WebSocket connections of this address, per shard that reports them. */
  private readonly shards = new Map<string, number>();
  private bans: BanState = NO_BAN;
  /** Admissions and releases, one after the other (see `admit`). */
  private queue: Promise<unknown> = Promise.resolve();
  /** How long the shards were last told to check this address's auth failures. */
  private watchAnnouncedUntil = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const config = configFor(env);
    this.security = config.security;
    this.shardCount = config.connectionShards;
    const { pike, authBlock } = this.security;
    const options = { samplingTimeUnit: pike.samplingTimeUnit, reqsDensityPerUnit: pike.reqsDensityPerUnit, removeLatency: pike.removeLatency, maxNodes: 4 };
    this.pike = { all: new Pike(options), udp: new Pike(options) };
    this.blocks = new AuthBlockList({ ...authBlock, maxItems: 10_000 });
    void ctx.blockConcurrencyWhile(async () => {
      const stored = await ctx.storage.get<BanState | number>(BAN_KEY);
      // Before scopes, the stored value was the end of a ban on everything.
      this.bans = typeof stored === "number" ? { all: stored, udp: 0 } : (stored ?? NO_BAN);
      this.blocks.restoreBlocks((await ctx.storage.get<KeptBlock[]>(BLOCKS_KEY)) ?? []);
    });
  }

  private get key(): string {
    return this.ctx.id.name ?? "";
  }

  /**
   * A WebSocket upgrade from this address to `shard`, asked by the shards once the address
   * holds more than its share of the cap in one of them. The shard already counts the new
   * connection as pending, so a count of the shards includes it. On the `first` ask the Guard
   * counts every shard (which from then on asks here for each upgrade of the address and
   * reports each close), so its count is exact however the sockets were spread.
   */
  async admit(shard: string, first = false): Promise<ConnectVerdict> {
    if (bannedUntil(this.bans, "ws", Date.now()) !== undefined) return { ok: false, reason: "banned" };
    // One at a time: a count of the shards must not interleave with another's increment.
    return this.serial(async () => {
      const cap = this.security.maxConnectionsPerAddress;
      if (first) await this.recount();
      else this.add(shard, 1);
      if (cap > 0 && this.total() > cap && (first || (await this.recount()) > cap)) {
        this.add(shard, -1); // the shard drops the refused upgrade
        return { ok: false, reason: "too-many-connections" } as const;
      }
      return { ok: true } as const;
    });
  }

  /**
   * One counted connection of `shard` closed. Returns how many the Guard still counts for the
   * address in all shards: at 0 a shard may answer for the address alone again.
   */
  async release(shard: string): Promise<number> {
    return this.serial(async () => {
      this.add(shard, -1);
      return this.total();
    });
  }

  /**
   * `pike_check_req` with the hits a connection held back, counted in the scope of `transport`
   * and in the unit of `at` (when the shard counted them; a shard from before this parameter
   * sends none: now); the answer carries the address's bans so the shard can keep them.
   */
  async checkReq(ip: string, hits: number, transport = "ws", at = Date.now()): Promise<GuardCheck> {
    const verdict = this.pike[scopeOf(transport)].checkReq(ip, at, hits);
    return { verdict, bans: this.bans };
  }

  /**
   * `$sht(ipban=>$si) = 1` in `scope`; returns when the ban ends. An all-transport ban is
   * written to the directory, from which every shard learns it (and closes the address's
   * sockets); a UDP-only ban stays here, and a shard learns it when the source spends its local
   * pike budget and asks. Either way one write here and at most one in the directory.
   */
  async ban(scope: BanScope = "all"): Promise<number> {
    const now = Date.now();
    const current = scope === "all" ? this.bans.all : this.bans.udp;
    if (current > now) return current;
    const until = now + this.security.ipbanExpire * 1000;
    this.bans = withBan(this.bans, scope, until);
    await this.ctx.storage.put(BAN_KEY, this.bans);
    await this.armAlarm();
    if (scope === "all") this.tellDirectory({ ban: until });
    return until;
  }

  /** Lifts every ban of the address; the directory tells the shards to forget what they learned. */
  async unban(): Promise<void> {
    const until = lastEnd(this.bans);
    this.bans = NO_BAN;
    this.pike.all.reset();
    this.pike.udp.reset();
    await this.ctx.storage.delete(BAN_KEY);
    if (until > Date.now()) this.tellDirectory({ lift: true, until });
  }

  override async alarm(): Promise<void> {
    if (lastEnd(this.bans) <= Date.now()) await this.ctx.storage.delete(BAN_KEY);
    await this.keepBlocks();
  }

  /** Whether this address has live auth failures or blocks (the shards check only then). */
  async authWatched(): Promise<boolean> {
    return this.blocks.live;
  }

  async authBlockCheck(request: AuthBlockRequest): Promise<AuthBlockVerdict> {
    const verdict = this.blocks.check(request);
    // A new block is written (a deploy must not lift it); checks of a block already on write nothing.
    if (verdict.verdict === "block" && verdict.first) await this.keepBlocks();
    return verdict;
  }

  /**
   * One failed digest check. The shards check the address from its first failure on, for as long
   * as a failure or block can live (window + block time after the latest failure); the
   * directory's watch is renewed once half of that is spent, so a steady guesser costs two
   * directory writes per horizon, not one per guess.
   */
  async authFailure(user: string, ip: string): Promise<number> {
    const count = this.blocks.recordFailure(user, ip);
    const now = Date.now();
    const { failureWindow, blockTime } = this.security.authBlock;
    const horizon = (failureWindow + blockTime) * 1000;
    if (this.watchAnnouncedUntil - now < horizon / 2) {
      this.watchAnnouncedUntil = now + horizon;
      this.tellDirectory({ watch: this.watchAnnouncedUntil });
    }
    return count;
  }

  async unblock(user: string, ip: string): Promise<void> {
    this.blocks.unblock(user, ip);
    await this.keepBlocks();
  }

  /** Stores the live blocks (or removes the record), and wakes up to sweep it when the last ends. */
  private async keepBlocks(): Promise<void> {
    const kept = this.blocks.keptBlocks();
    if (kept.length === 0) return void (await this.ctx.storage.delete(BLOCKS_KEY));
    await this.ctx.storage.put(BLOCKS_KEY, kept);
    await this.armAlarm();
  }

  private async armAlarm(): Promise<void> {
    const ends = [lastEnd(this.bans), ...this.blocks.keptBlocks().map(([, , until]) => until)].filter((t) => t > Date.now());
    if (ends.length > 0) await this.ctx.storage.setAlarm(Math.max(...ends));
  }

  /** Admin view (`pike.top`, `htable.dump` of both tables for this address). */
  async status(): Promise<GuardStatus> {
    const now = Date.now();
    const bans: { all?: number; udp?: number } = {};
    if (this.bans.all > now) bans.all = this.bans.all;
    if (this.bans.udp > now) bans.udp = this.bans.udp;
    const last = lastEnd(this.bans);
    return {
      key: this.key,
      bannedUntil: last > now ? last : undefined,
      bans,
      connections: Object.fromEntries(this.shards),
      pike: [...this.pike.all.top(now, "all"), ...this.pike.udp.top(now, "all").map((n) => ({ ...n, key: `udp:${n.key}` }))],
      authBlock: [...this.blocks.entries()],
    };
  }

  private add(shard: string, n: number): void {
    const count = (this.shards.get(shard) ?? 0) + n;
    if (count > 0) this.shards.set(shard, count);
    else this.shards.delete(shard);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private total(): number {
    let n = 0;
    for (const c of this.shards.values()) n += c;
    return n;
  }

  /**
   * Asks every shard for its real count (and makes each report to this Guard from now on):
   * on the first report, since shards under their share never reported; and before refusing at
   * the cap, since a shard that was restarted (a deploy) never reported its closed sockets and
   * honest clients must not be locked out by counts that leaked.
   */
  private async recount(): Promise<number> {
    const counts = await Promise.all(
      Array.from({ length: this.shardCount }, async (_, i) => [String(i), Number(await this.shard(String(i)).security({ kind: "count", key: this.key }))] as const),
    );
    this.shards.clear();
    for (const [shard, n] of counts) if (n > 0) this.shards.set(shard, n);
    return this.total();
  }

  /** One record in the directory (in the background: a lost one fails open, the Guard still refuses). */
  private tellDirectory(change: DirectoryRecord): void {
    this.ctx.waitUntil(directoryOf(this.env.GUARD_DIRECTORY).record(this.key, change).catch(() => undefined));
  }

  private shard(shard: string): DurableObjectStub<SipConnection> {
    return this.env.SIP_CONNECTION.get(this.env.SIP_CONNECTION.idFromName(`shard-${shard}`)) as DurableObjectStub<SipConnection>;
  }
}

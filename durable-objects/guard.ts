import { DurableObject } from "cloudflare:workers";
import { configFor, type SecurityConfig } from "../src/config.ts";
import type { Env } from "../src/env.ts";
import { AuthBlockList, type AuthBlockRequest, type AuthBlockVerdict } from "../src/modules/htable/index.ts";
import { Pike, type PikeVerdict } from "../src/modules/pike/index.ts";
import type { SipConnection } from "./sip-connection.ts";

export { GuardClient, guardOf } from "./guard-client.ts";

/**
 * Guard: one object per source address (IPv6: per /64, `pikeKey`), DESIGN.md §3. It owns what
 * must be counted across every connection of an address, whichever shard holds them:
 *
 * - pike's counters (`checkReq`, asked only when a connection's local budget is spent);
 * - the `ipban` entry with its expiry (kept in storage, so an evicted Guard still refuses);
 * - the connection count per shard, once an address has more connections in one shard than
 *   its share of the cap (`GuardClient.admit`);
 * - the seed's `auth_block_list` for this address (failures per user from here).
 *
 * A Guard exists only for an address that has something to count: an honest client with one
 * socket and a few requests per unit never creates one (a new object costs ~5 ms locally and a
 * placement round trip in production, which a deploy's reconnect storm would pay per client).
 * So that the shards can answer for addresses without a Guard, a ban or a first auth failure
 * is announced to every shard, which keeps it in its own storage.
 *
 * Counters live in memory and fail open: an evicted Guard starts from zero, and a continuing
 * flood is re-detected within one sampling unit.
 */

export type ConnectVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: "banned" | "too-many-connections" };

export interface GuardCheck {
  readonly verdict: PikeVerdict;
  /** Epoch ms the address's ban ends, when banned. */
  readonly bannedUntil: number | undefined;
}

export interface GuardStatus {
  readonly key: string;
  readonly bannedUntil: number | undefined;
  readonly connections: Record<string, number>;
  readonly pike: ReturnType<Pike["top"]>;
  readonly authBlock: { key: string; value: string | number; expiresAt: number | undefined }[];
}

/** What a Guard (or the Worker, for `admit`) tells a shard. */
export type GuardEvent =
  | { readonly kind: "ban"; readonly key: string; readonly until: number }
  | { readonly kind: "unban"; readonly key: string }
  /** The address has auth failures that may live until `until` (epoch ms). */
  | { readonly kind: "watch"; readonly key: string; readonly until: number }
  | { readonly kind: "count"; readonly key: string }
  /** A WebSocket upgrade from `ip` about to be handed to shard `shard` of `shards`: 0, 403 or 429. */
  | { readonly kind: "admit"; readonly ip: string; readonly shard: string; readonly shards: number }
  | { readonly kind: "reload-permissions" };

const BAN_KEY = "ipban";

export class Guard extends DurableObject<Env> {
  private readonly security: SecurityConfig;
  private readonly shardCount: number;
  private readonly pike: Pike;
  private readonly blocks: AuthBlockList;
  /** Open WebSocket connections of this address, per shard that reports them. */
  private readonly shards = new Map<string, number>();
  private bannedUntil = 0;
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
    this.pike = new Pike({ samplingTimeUnit: pike.samplingTimeUnit, reqsDensityPerUnit: pike.reqsDensityPerUnit, removeLatency: pike.removeLatency, maxNodes: 16 });
    this.blocks = new AuthBlockList({ ...authBlock, maxItems: 10_000 });
    void ctx.blockConcurrencyWhile(async () => {
      this.bannedUntil = (await ctx.storage.get<number>(BAN_KEY)) ?? 0;
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
    if (this.banned(Date.now())) return { ok: false, reason: "banned" };
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

  /** `pike_check_req` with the hits a connection held back; also says whether a ban is on. */
  async checkReq(ip: string, hits: number): Promise<GuardCheck> {
    const now = Date.now();
    const verdict = this.pike.checkReq(ip, now, hits);
    return { verdict, bannedUntil: this.banned(now) ? this.bannedUntil : undefined };
  }

  /** `$sht(ipban=>$si) = 1`: bans the address; every shard refuses it and closes its sockets. */
  async ban(): Promise<number> {
    const now = Date.now();
    if (this.banned(now)) return this.bannedUntil;
    this.bannedUntil = now + this.security.ipbanExpire * 1000;
    await this.ctx.storage.put(BAN_KEY, this.bannedUntil);
    await this.ctx.storage.setAlarm(this.bannedUntil);
    this.tellShards({ kind: "ban", key: this.key, until: this.bannedUntil });
    return this.bannedUntil;
  }

  async unban(): Promise<void> {
    this.bannedUntil = 0;
    this.pike.reset();
    await this.ctx.storage.delete(BAN_KEY);
    this.tellShards({ kind: "unban", key: this.key });
  }

  override async alarm(): Promise<void> {
    if (!this.banned(Date.now())) await this.ctx.storage.delete(BAN_KEY);
  }

  /** Whether this address has live auth failures or blocks (the shards check only then). */
  async authWatched(): Promise<boolean> {
    return this.blocks.table.size > 0 && this.blocks.table.entries().next().done !== true;
  }

  async authBlockCheck(request: AuthBlockRequest): Promise<AuthBlockVerdict> {
    return this.blocks.check(request);
  }

  /**
   * One failed digest check. The shards check the address from its first failure on, for as long
   * as a failure or block can live (window + block time after the latest failure); the
   * announcement is renewed once half of that is spent, so a steady guesser costs two
   * broadcasts per horizon, not one per guess.
   */
  async authFailure(user: string, ip: string): Promise<number> {
    const count = this.blocks.recordFailure(user, ip);
    const now = Date.now();
    const { failureWindow, blockTime } = this.security.authBlock;
    const horizon = (failureWindow + blockTime) * 1000;
    if (this.watchAnnouncedUntil - now < horizon / 2) {
      this.watchAnnouncedUntil = now + horizon;
      this.tellShards({ kind: "watch", key: this.key, until: this.watchAnnouncedUntil });
    }
    return count;
  }

  async unblock(user: string, ip: string): Promise<void> {
    this.blocks.unblock(user, ip);
  }

  /** Admin view (`pike.top`, `htable.dump` of both tables for this address). */
  async status(): Promise<GuardStatus> {
    const now = Date.now();
    return {
      key: this.key,
      bannedUntil: this.banned(now) ? this.bannedUntil : undefined,
      connections: Object.fromEntries(this.shards),
      pike: this.pike.top(now, "all"),
      authBlock: [...this.blocks.table.entries()],
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

  private banned(now: number): boolean {
    return this.bannedUntil > now;
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

  /** Bans and watches go to every shard: any of them may be handed the address's next socket. */
  private tellShards(event: GuardEvent): void {
    for (let i = 0; i < this.shardCount; i++) {
      this.ctx.waitUntil(this.shard(String(i)).security(event).catch(() => undefined));
    }
  }

  private shard(shard: string): DurableObjectStub<SipConnection> {
    return this.env.SIP_CONNECTION.get(this.env.SIP_CONNECTION.idFromName(`shard-${shard}`)) as DurableObjectStub<SipConnection>;
  }
}

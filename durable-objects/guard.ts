import { DurableObject } from "cloudflare:workers";
import { configFor, type SecurityConfig } from "../src/config.ts";
import type { Env } from "../src/env.ts";
import { AuthBlockList, type AuthBlockRequest, type AuthBlockVerdict } from "../src/modules/htable/index.ts";
import { Pike, type PikeVerdict } from "../src/modules/pike/index.ts";
import { PikeFastPath, pikeKey } from "../src/modules/pike/index.ts";
import type { GuardService } from "../src/modules/pike/script.ts";
import type { Logger } from "../src/log.ts";
import type { Source } from "../src/routing/context.ts";
import type { SipConnection } from "./sip-connection.ts";

/**
 * Guard: one object per source address (IPv6: per /64, `pikeKey`), DESIGN.md §3. It owns what
 * must be counted across every connection of an address, whichever shard holds them:
 *
 * - pike's counters (`checkReq`, asked only when a connection's local budget is spent);
 * - the `ipban` entry with its expiry (kept in storage, so an evicted Guard still refuses);
 * - the connection count per shard (the cap on concurrent connections per address);
 * - the seed's `auth_block_list` for this address (failures per user from here).
 *
 * Counters live in memory and fail open: an evicted Guard starts from zero, and a continuing
 * flood is re-detected within one sampling unit.
 */

export type ConnectVerdict =
  | { readonly ok: true; /** the address has live auth failures */ readonly watched: boolean }
  | { readonly ok: false; readonly reason: "banned" | "too-many-connections" };

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

/** What a Guard tells the shards that hold the address's sockets. */
export type GuardEvent =
  | { readonly kind: "ban"; readonly key: string; readonly until: number }
  | { readonly kind: "watch"; readonly key: string }
  | { readonly kind: "count"; readonly key: string }
  | { readonly kind: "reload-permissions" };

const BAN_KEY = "ipban";

export class Guard extends DurableObject<Env> {
  private readonly security: SecurityConfig;
  private readonly pike: Pike;
  private readonly blocks: AuthBlockList;
  /** Open WebSocket connections of this address, per shard. */
  private readonly shards = new Map<string, number>();
  private bannedUntil = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.security = configFor(env).security;
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

  /** A WebSocket upgrade from this address, before any shard is touched. */
  async admit(shard: string): Promise<ConnectVerdict> {
    if (this.banned(Date.now())) return { ok: false, reason: "banned" };
    const cap = this.security.maxConnectionsPerAddress;
    if (cap > 0 && this.total() >= cap && (await this.recount()) >= cap) return { ok: false, reason: "too-many-connections" };
    this.shards.set(shard, (this.shards.get(shard) ?? 0) + 1);
    return { ok: true, watched: this.blocks.table.size > 0 };
  }

  async release(shard: string): Promise<void> {
    const n = (this.shards.get(shard) ?? 0) - 1;
    if (n > 0) this.shards.set(shard, n);
    else this.shards.delete(shard);
  }

  /** `pike_check_req` with the hits a connection held back; also says whether a ban is on. */
  async checkReq(ip: string, hits: number): Promise<GuardCheck> {
    const now = Date.now();
    const verdict = this.pike.checkReq(ip, now, hits);
    return { verdict, bannedUntil: this.banned(now) ? this.bannedUntil : undefined };
  }

  /** `$sht(ipban=>$si) = 1`: bans the address and closes its sockets in every shard. */
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

  /** One failed digest check; the first one makes every shard check this address from now on. */
  async authFailure(user: string, ip: string): Promise<number> {
    const first = !(await this.authWatched());
    const count = this.blocks.recordFailure(user, ip);
    if (first) this.tellShards({ kind: "watch", key: this.key });
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

  private banned(now: number): boolean {
    return this.bannedUntil > now;
  }

  private total(): number {
    let n = 0;
    for (const c of this.shards.values()) n += c;
    return n;
  }

  /**
   * Before refusing at the cap, asks the shards for their real counts: a shard that was
   * restarted (a deploy) never reported its closed sockets, and honest clients must not be
   * locked out by counts that leaked.
   */
  private async recount(): Promise<number> {
    const counts = await Promise.all(
      [...this.shards.keys()].map(async (shard) => [shard, Number(await this.shard(shard).security({ kind: "count", key: this.key }))] as const),
    );
    this.shards.clear();
    for (const [shard, n] of counts) if (n > 0) this.shards.set(shard, n);
    return this.total();
  }

  private tellShards(event: GuardEvent): void {
    for (const shard of this.shards.keys()) {
      this.ctx.waitUntil(this.shard(shard).security(event).catch(() => undefined));
    }
  }

  private shard(shard: string): DurableObjectStub<SipConnection> {
    return this.env.SIP_CONNECTION.get(this.env.SIP_CONNECTION.idFromName(`shard-${shard}`)) as DurableObjectStub<SipConnection>;
  }
}

export function guardOf(ns: DurableObjectNamespace<Guard>, key: string): DurableObjectStub<Guard> {
  return ns.get(ns.idFromName(key));
}

const OK: PikeVerdict = Object.freeze({ verdict: "ok" });
const FLOOD: PikeVerdict = Object.freeze({ verdict: "flood", first: false });
/** Entries a shard keeps per map before it starts over (bounded memory under spoofed floods). */
const MAX_ENTRIES = 50_000;

/**
 * The shard's side of the Guards (`ctx.pike`, `ctx.htable`): a `PikeFastPath` per connection
 * (per source address for datagrams from the bridge) answers most requests without a hop; the
 * bans and "watched" addresses the Guards announce are cached here so a banned address's
 * datagrams are dropped locally. Sources that are the proxy itself never reach a Guard.
 */
export class GuardClient implements GuardService {
  private readonly fast = new Map<string, PikeFastPath>();
  private readonly bans = new Map<string, number>();
  private readonly watched = new Map<string, boolean>();

  constructor(
    private readonly ns: DurableObjectNamespace<Guard>,
    private readonly state: DurableObjectState,
    private readonly security: SecurityConfig,
    private readonly log: Logger,
  ) {}

  async checkReq(source: Source, now: number): Promise<PikeVerdict> {
    const key = pikeKey(source.ip);
    if (this.isBanned(source.ip, now)) return FLOOD;
    const id = source.flow ?? key;
    let fast = this.fast.get(id);
    if (fast === undefined) {
      if (this.fast.size >= MAX_ENTRIES) this.fast.clear();
      const { samplingTimeUnit, reqsDensityPerUnit, localBudget } = this.security.pike;
      fast = new PikeFastPath({ samplingTimeUnit, reqsDensityPerUnit, ...(localBudget === undefined ? {} : { localBudget }) });
      this.fast.set(id, fast);
    }
    const decision = fast.hit(now);
    if (!decision.escalate) return OK;
    try {
      const check = await guardOf(this.ns, key).checkReq(source.ip, decision.hits);
      if (check.bannedUntil !== undefined) this.remember(this.bans, key, check.bannedUntil);
      return check.verdict;
    } catch (err) {
      // Fail open, but still hold this connection to the density on its own.
      this.log.warn("guard unreachable", { key, error: String(err) });
      return fast.hitsThisUnit(now) > this.security.pike.reqsDensityPerUnit ? FLOOD : OK;
    }
  }

  isBanned(ip: string, now: number): boolean {
    if (this.bans.size === 0) return false;
    const key = pikeKey(ip);
    const until = this.bans.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.bans.delete(key);
    return false;
  }

  async ban(source: Source): Promise<void> {
    const key = pikeKey(source.ip);
    this.remember(this.bans, key, Date.now() + this.security.ipbanExpire * 1000);
    try {
      this.remember(this.bans, key, await guardOf(this.ns, key).ban());
    } catch (err) {
      this.log.warn("guard unreachable: ban kept in this shard only", { key, error: String(err) });
    }
  }

  authWatched(ip: string): boolean | Promise<boolean> {
    const key = pikeKey(ip);
    const known = this.watched.get(key);
    if (known !== undefined) return known;
    // Unknown after a wake-up (or a datagram source): ask once, then the Guard tells us.
    return guardOf(this.ns, key)
      .authWatched()
      .then((w) => (this.remember(this.watched, key, w), w))
      .catch(() => false);
  }

  authBlockCheck(request: AuthBlockRequest): Promise<AuthBlockVerdict> {
    return guardOf(this.ns, pikeKey(request.source)).authBlockCheck(request);
  }

  async authFailure(user: string, ip: string): Promise<void> {
    const key = pikeKey(ip);
    this.remember(this.watched, key, true);
    await guardOf(this.ns, key).authFailure(user, ip);
  }

  /** A WebSocket from `ip` was accepted; `watched` comes from the Guard's connect answer. */
  accepted(ip: string, watched: boolean): void {
    this.remember(this.watched, pikeKey(ip), watched);
  }

  /** A client socket closed: its fast path goes, and its Guard counts one connection less. */
  async closed(ip: string, flow: string, shard: string, guarded: boolean): Promise<void> {
    this.fast.delete(flow);
    if (guarded) await guardOf(this.ns, pikeKey(ip)).release(shard);
  }

  /** An event from a Guard (SipConnection.security RPC). */
  onEvent(event: GuardEvent): number | undefined {
    switch (event.kind) {
      case "ban":
        this.remember(this.bans, event.key, event.until);
        for (const ws of this.state.getWebSockets(`ip:${event.key}`)) {
          try {
            ws.close(1008, "Policy Violation");
          } catch {
            // already closing
          }
        }
        return undefined;
      case "watch":
        this.remember(this.watched, event.key, true);
        return undefined;
      case "count":
        return this.state.getWebSockets(`ip:${event.key}`).length;
      case "reload-permissions":
        return undefined;
    }
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    if (map.size >= MAX_ENTRIES && !map.has(key)) map.clear();
    map.set(key, value);
  }
}

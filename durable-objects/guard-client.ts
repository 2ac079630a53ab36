import type { SecurityConfig } from "../src/config.ts";
import type { Logger } from "../src/log.ts";
import { DIRECTORY_MAX_AGE_MS, DirectoryCopy, type DirectoryChanges } from "../src/modules/htable/ban-directory.ts";
import type { AuthBlockRequest, AuthBlockVerdict } from "../src/modules/htable/index.ts";
import { bannedUntil, lastEnd, scopeOf, withBan, type BanState } from "../src/modules/htable/ipban.ts";
import { PikeFastPath, pikeKey, type PikeVerdict } from "../src/modules/pike/index.ts";
import type { GuardService } from "../src/modules/pike/script.ts";
import type { Source } from "../src/routing/context.ts";
import { BoundedMap } from "../src/util/lru.ts";
import { directoryOf, type GuardDirectory } from "./guard-directory.ts";
import type { Guard, GuardEvent } from "./guard.ts";

export function guardOf(ns: DurableObjectNamespace<Guard>, key: string): DurableObjectStub<Guard> {
  return ns.get(ns.idFromName(key));
}

/** The namespaces a shard's GuardClient reaches. */
export interface GuardNamespaces {
  readonly guards: DurableObjectNamespace<Guard>;
  readonly directory: DurableObjectNamespace<GuardDirectory>;
}

const OK: PikeVerdict = Object.freeze({ verdict: "ok" });
const FLOOD: PikeVerdict = Object.freeze({ verdict: "flood", first: false });
/**
 * Entries a shard keeps per map (pike fast paths, bans, watched addresses): ~200–300 bytes each,
 * so at most ~15 MB for the three together. A full map drops its oldest entry, never all of
 * them; a dropped ban still lives in its Guard and comes back the next time the address spends
 * its local pike budget, and a dropped fast path only restarts that source's local count.
 */
export const GUARD_CLIENT_CAPACITY = 20_000;
/** After a failed refresh, the directory is not asked again for this long (fail open meanwhile). */
const DIRECTORY_RETRY_MS = 1000;
/** An admitted upgrade not yet accepted stops counting after this long (its Worker went away). */
const PENDING_MS = 10_000;
/** The shard's storage held bans and watches under these prefixes before the directory: removed. */
const LEGACY_PREFIXES = ["guard:ban:", "guard:watch:"];

/** The answer to an `admit` event: go on, or the HTTP status that refuses the upgrade. */
export type AdmitStatus = 0 | 403 | 429;

/**
 * The shard's side of the Guards (`ctx.pike`, `ctx.htable`, connection admission). Everything an
 * honest client does is answered here without a hop, so no Guard object exists for it:
 *
 * - a `PikeFastPath` per connection (per source address for datagrams from the bridge) asks the
 *   Guard only when the connection's local budget for the unit is spent;
 * - bans: those this shard made, those its Guards handed back when asked (UDP-only bans live
 *   only there), and a copy of the GuardDirectory (all-transport bans, watched addresses, lifted
 *   bans), refreshed on demand: a ban or a first auth failure costs one write in the Guard and
 *   one in the directory, whatever the number of shards;
 * - the connection cap: the shard counts the address's sockets itself until it holds its share
 *   of the cap (⌊cap / shards⌋); beyond that it asks the Guard, which counts every shard and
 *   makes each of them ask it for the address from then on (until none of its sockets are
 *   left), so no address passes the cap and one with a handful of sockets never creates a
 *   Guard. Bound: a shard that wakes from hibernation has forgotten which addresses its Guard
 *   counts, and may admit up to its share of such an address before asking again.
 *
 * Sources that are the proxy itself never reach a Guard.
 */
export class GuardClient implements GuardService {
  private readonly fast = new BoundedMap<string, PikeFastPath>({ capacity: GUARD_CLIENT_CAPACITY, touchOnGet: true });
  /** Bans this shard made or learned from the address's Guard. */
  private readonly bans = new BoundedMap<string, BanState>({ capacity: GUARD_CLIENT_CAPACITY });
  /** Addresses whose auth failures this shard saw, until the directory says so too. */
  private readonly watched = new BoundedMap<string, true>({ capacity: GUARD_CLIENT_CAPACITY });
  private readonly directory = new DirectoryCopy(GUARD_CLIENT_CAPACITY);
  private syncing: Promise<void> | undefined;
  private retryAt = 0;
  /** Addresses whose sockets in this shard the Guard counts (admit/release go through it). */
  private readonly counted = new Set<string>();
  /** Upgrades admitted but not yet accepted: count and when the latest was admitted. */
  private readonly pending = new Map<string, { n: number; at: number }>();

  constructor(
    private readonly ns: GuardNamespaces,
    private readonly state: DurableObjectState,
    private readonly security: SecurityConfig,
    private readonly log: Logger,
  ) {
    void state.blockConcurrencyWhile(() => this.dropLegacyStorage());
  }

  /**
   * Admission of a WebSocket upgrade from `ip`, asked by the Worker before it hands the upgrade
   * over (issue 5: a banned address is refused before any socket exists for it).
   */
  async admit(ip: string, shard: string, shards: number, now = Date.now()): Promise<AdmitStatus> {
    const key = pikeKey(ip);
    await this.fresh(now, true);
    if (this.bannedKey(key, "ws", now)) return 403;
    const cap = this.security.maxConnectionsPerAddress;
    if (cap === 0) return 0;
    const held = this.held(key, now);
    const counted = this.counted.has(key);
    if (!counted && held < Math.floor(cap / shards)) return this.pend(key, now);
    this.counted.add(key);
    // Pending before the Guard is asked, so that its count of the shards includes this one.
    this.pend(key, now);
    try {
      const verdict = await guardOf(this.ns.guards, key).admit(shard, !counted);
      if (verdict.ok) return 0;
      this.unpend(key);
      if (verdict.reason === "too-many-connections") return 429;
      this.learn(key, withBan(this.bans.get(key, now), "all", now + this.security.ipbanExpire * 1000), now);
      return 403;
    } catch (err) {
      this.log.warn("guard unreachable: connection admitted", { key, error: String(err) });
      return 0;
    }
  }

  async checkReq(source: Source, now: number): Promise<PikeVerdict> {
    const key = pikeKey(source.ip);
    if (this.isBanned(source, now)) return FLOOD;
    // Datagrams and sockets of one address count apart, as in the Guard.
    const id = source.flow ?? (source.transport === "udp" ? `udp:${key}` : key);
    let fast = this.fast.get(id, now);
    if (fast === undefined) {
      const { samplingTimeUnit, reqsDensityPerUnit, localBudget } = this.security.pike;
      fast = new PikeFastPath({ samplingTimeUnit, reqsDensityPerUnit, ...(localBudget === undefined ? {} : { localBudget }) });
      this.fast.set(id, fast);
    }
    const decision = fast.hit(now);
    if (!decision.escalate) return OK;
    try {
      // `now`: the held-back hits belong to this connection's unit, whenever the Guard gets them.
      const check = await guardOf(this.ns.guards, key).checkReq(source.ip, decision.hits, source.transport, now);
      this.learn(key, check.bans, now);
      // Banned there already (by another shard): drop this one too, without banning again.
      if (bannedUntil(check.bans, source.transport, now) !== undefined) return FLOOD;
      return check.verdict;
    } catch (err) {
      // Fail open, but still hold this connection to the density on its own.
      this.log.warn("guard unreachable", { key, error: String(err) });
      return fast.hitsThisUnit(now) > this.security.pike.reqsDensityPerUnit ? FLOOD : OK;
    }
  }

  /** `$sht(ipban=>$si)`, in the scope of the source's transport; starts a refresh of the copy when due. */
  isBanned(source: Pick<Source, "ip" | "transport">, now: number): boolean {
    void this.fresh(now, false);
    return this.bannedKey(pikeKey(source.ip), source.transport, now);
  }

  /**
   * `$sht(ipban=>$si) = 1`, scoped by the source's transport (`htable/ipban.ts`): UDP traffic
   * bans UDP only. An all-transport ban closes the address's sockets in this shard at once; the
   * other shards close theirs when their copy of the directory brings the ban.
   */
  async ban(source: Source): Promise<void> {
    const key = pikeKey(source.ip);
    const scope = scopeOf(source.transport);
    const now = Date.now();
    const held = this.bans.get(key, now);
    // Already banned for this transport (a UDP source under an all-transport ban included).
    if (bannedUntil(held, source.transport, now) !== undefined) return;
    this.learn(key, withBan(held, scope, now + this.security.ipbanExpire * 1000), now);
    try {
      const until = await guardOf(this.ns.guards, key).ban(scope);
      this.learn(key, withBan(this.bans.get(key, now), scope, until), now);
    } catch (err) {
      this.log.warn("guard unreachable: ban kept in this shard only", { key, scope, error: String(err) });
    }
  }

  /** Watched here (a failure seen in this shard) or in the directory's copy. */
  authWatched(ip: string): boolean | Promise<boolean> {
    const key = pikeKey(ip);
    const now = Date.now();
    if (this.watchedKey(key, now)) return true;
    const refresh = this.fresh(now, true);
    return refresh === undefined ? false : refresh.then(() => this.watchedKey(key, Date.now()));
  }

  authBlockCheck(request: AuthBlockRequest): Promise<AuthBlockVerdict> {
    return guardOf(this.ns.guards, pikeKey(request.source)).authBlockCheck(request);
  }

  async authFailure(user: string, ip: string): Promise<void> {
    const key = pikeKey(ip);
    const now = Date.now();
    // Watched here at once; the Guard's record in the directory (with its horizon) follows.
    if (!this.watchedKey(key, now)) this.watched.set(key, true, now + this.security.authBlock.failureWindow * 1000);
    await guardOf(this.ns.guards, key).authFailure(user, ip);
  }

  /**
   * A WebSocket from `ip` was accepted (its admission is no longer pending). `watched` is the
   * Worker's old hint; the announcements kept here are the truth, so only `true` is taken.
   */
  accepted(ip: string, watched: boolean): void {
    const key = pikeKey(ip);
    const now = Date.now();
    this.unpend(key);
    if (watched && !this.watchedKey(key, now)) this.watched.set(key, true, now + this.security.authBlock.failureWindow * 1000);
  }

  /**
   * A client socket closed: its fast path goes, and the Guard hears of it if it counts the
   * address. Once the Guard counts none of its sockets anywhere, this shard answers alone again.
   */
  async closed(ip: string, flow: string, shard: string, guarded: boolean): Promise<void> {
    this.fast.delete(flow);
    const key = pikeKey(ip);
    if (!guarded || !this.counted.has(key)) return;
    if ((await guardOf(this.ns.guards, key).release(shard)) === 0) this.counted.delete(key);
  }

  /** An event from a Guard or the Worker (SipConnection.security RPC). */
  onEvent(event: GuardEvent): number | undefined | Promise<number | undefined> {
    switch (event.kind) {
      case "admit":
        return this.admit(event.ip, event.shard, event.shards);
      case "count":
        // The Guard now counts this address: its upgrades and closes here go through it.
        this.counted.add(event.key);
        return this.held(event.key, Date.now());
      case "reload-permissions":
        return undefined;
    }
  }

  /**
   * The live bans and watched addresses this shard applies, `[key, until]` (admin, metrics):
   * those it made or learned from Guards (any scope) and those of its directory copy.
   */
  known(now = Date.now()): { bans: [string, number][]; watched: [string, number][] } {
    const bans = new Map<string, number>();
    for (const [key, state] of this.bans.entries(now)) bans.set(key, lastEnd(state));
    for (const [key, until] of this.directory.bans(now)) bans.set(key, Math.max(until, bans.get(key) ?? 0));
    const watched = new Map<string, number>();
    for (const [key, , until] of this.watched.entries(now)) watched.set(key, until);
    for (const [key, until] of this.directory.watches(now)) watched.set(key, Math.max(until, watched.get(key) ?? 0));
    return { bans: [...bans], watched: [...watched] };
  }

  /** Bans, fast paths and the directory copy held (admin, tests). */
  stats(): { fastPaths: number; bans: number; watched: number; directory: number; evicted: number } {
    return { fastPaths: this.fast.size, bans: this.bans.size, watched: this.watched.size, directory: this.directory.size, evicted: this.fast.evicted + this.bans.evicted + this.watched.evicted };
  }

  private bannedKey(key: string, transport: string, now: number): boolean {
    return bannedUntil(this.bans.get(key, now), transport, now) !== undefined || this.directory.bannedUntil(key, now) !== undefined;
  }

  private watchedKey(key: string, now: number): boolean {
    return this.watched.has(key, now) || this.directory.watched(key, now);
  }

  /** Keeps `bans` for `key`; a new all-transport ban closes the address's sockets here. */
  private learn(key: string, bans: BanState, now: number): void {
    const end = lastEnd(bans);
    if (end <= now) return;
    const before = this.bans.get(key, now);
    this.bans.set(key, bans, end);
    if (bans.all > now && (before?.all ?? 0) <= now) this.closeSockets(key);
  }

  private closeSockets(key: string): void {
    for (const ws of this.state.getWebSockets(`ip:${key}`)) {
      try {
        ws.close(1008, "Policy Violation");
      } catch {
        // already closing
      }
    }
  }

  /**
   * Brings the directory copy up to date when it is older than DIRECTORY_MAX_AGE_MS: in the
   * background, or (`wait`, and older than twice that: an idle shard) before answering.
   */
  private fresh(now: number, wait: boolean): Promise<void> | undefined {
    const age = now - this.directory.fetchedAt;
    if (age <= DIRECTORY_MAX_AGE_MS || now < this.retryAt) return undefined;
    const sync = (this.syncing ??= this.sync().finally(() => (this.syncing = undefined)));
    return wait && age > 2 * DIRECTORY_MAX_AGE_MS ? sync : undefined;
  }

  private async sync(): Promise<void> {
    const { epoch, seq } = this.directory.position;
    try {
      // RPC's structured clone widens tuples to arrays in the stub's types; the rows are the same.
      const changes = (await directoryOf(this.ns.directory).changes(epoch, seq)) as unknown as DirectoryChanges;
      const update = this.directory.apply(changes, Date.now());
      // An admin lifted these: forget what the Guards handed back as well.
      for (const key of update.lifted) this.bans.delete(key);
      for (const key of update.banned) this.closeSockets(key);
    } catch (err) {
      this.retryAt = Date.now() + DIRECTORY_RETRY_MS;
      this.log.warn("guard directory unreachable: answering from the copy", { error: String(err) });
    }
  }

  /** Sockets of the address in this shard, with upgrades admitted and on their way. */
  private held(key: string, now: number): number {
    const p = this.pending.get(key);
    const pending = p !== undefined && now - p.at < PENDING_MS ? p.n : 0;
    return this.state.getWebSockets(`ip:${key}`).length + pending;
  }

  private pend(key: string, now: number): 0 {
    const p = this.pending.get(key);
    if (p === undefined || now - p.at >= PENDING_MS) this.pending.set(key, { n: 1, at: now });
    else {
      p.n++;
      p.at = now;
    }
    return 0;
  }

  private unpend(key: string): void {
    const p = this.pending.get(key);
    if (p !== undefined && --p.n <= 0) this.pending.delete(key);
  }

  /** Bans and watches were once kept in the shard's own storage; the directory holds them now. */
  private async dropLegacyStorage(): Promise<void> {
    for (const prefix of LEGACY_PREFIXES) {
      const keys = [...(await this.state.storage.list({ prefix, limit: 1000 })).keys()];
      // The KV API deletes at most 128 keys per call.
      for (let i = 0; i < keys.length; i += 128) await this.state.storage.delete(keys.slice(i, i + 128));
    }
  }
}

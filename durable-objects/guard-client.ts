import type { SecurityConfig } from "../src/config.ts";
import type { Logger } from "../src/log.ts";
import type { AuthBlockRequest, AuthBlockVerdict } from "../src/modules/htable/index.ts";
import { PikeFastPath, pikeKey, type PikeVerdict } from "../src/modules/pike/index.ts";
import type { GuardService } from "../src/modules/pike/script.ts";
import type { Source } from "../src/routing/context.ts";
import type { Guard, GuardEvent } from "./guard.ts";

export function guardOf(ns: DurableObjectNamespace<Guard>, key: string): DurableObjectStub<Guard> {
  return ns.get(ns.idFromName(key));
}

const OK: PikeVerdict = Object.freeze({ verdict: "ok" });
const FLOOD: PikeVerdict = Object.freeze({ verdict: "flood", first: false });
/** Entries a shard keeps per map before it starts over (bounded memory under spoofed floods). */
const MAX_ENTRIES = 50_000;
/** An admitted upgrade not yet accepted stops counting after this long (its Worker went away). */
const PENDING_MS = 10_000;
/** Storage keys (the shard's own storage): `guard:ban:<key>` → until, `guard:watch:<key>` → until. */
const BAN_PREFIX = "guard:ban:";
const WATCH_PREFIX = "guard:watch:";

/** The answer to an `admit` event: go on, or the HTTP status that refuses the upgrade. */
export type AdmitStatus = 0 | 403 | 429;

/**
 * The shard's side of the Guards (`ctx.pike`, `ctx.htable`, connection admission). Everything an
 * honest client does is answered here without a hop, so no Guard object exists for it:
 *
 * - a `PikeFastPath` per connection (per source address for datagrams from the bridge) asks the
 *   Guard only when the connection's local budget for the unit is spent;
 * - bans and "watched" addresses (live auth failures) are announced by the Guards to every
 *   shard and kept in this shard's storage, so a restarted shard still refuses a banned address;
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
  private readonly fast = new Map<string, PikeFastPath>();
  private readonly bans = new Map<string, number>();
  private readonly watched = new Map<string, number>();
  /** Addresses whose sockets in this shard the Guard counts (admit/release go through it). */
  private readonly counted = new Set<string>();
  /** Upgrades admitted but not yet accepted: count and when the latest was admitted. */
  private readonly pending = new Map<string, { n: number; at: number }>();

  constructor(
    private readonly ns: DurableObjectNamespace<Guard>,
    private readonly state: DurableObjectState,
    private readonly security: SecurityConfig,
    private readonly log: Logger,
  ) {
    void state.blockConcurrencyWhile(() => this.restore());
  }

  /**
   * Admission of a WebSocket upgrade from `ip`, asked by the Worker before it hands the upgrade
   * over (issue 5: a banned address is refused before any socket exists for it).
   */
  async admit(ip: string, shard: string, shards: number, now = Date.now()): Promise<AdmitStatus> {
    if (this.isBanned(ip, now)) return 403;
    const cap = this.security.maxConnectionsPerAddress;
    if (cap === 0) return 0;
    const key = pikeKey(ip);
    const held = this.held(key, now);
    const counted = this.counted.has(key);
    if (!counted && held < Math.floor(cap / shards)) return this.pend(key, now);
    this.counted.add(key);
    // Pending before the Guard is asked, so that its count of the shards includes this one.
    this.pend(key, now);
    try {
      const verdict = await guardOf(this.ns, key).admit(shard, !counted);
      if (verdict.ok) return 0;
      this.unpend(key);
      if (verdict.reason === "too-many-connections") return 429;
      this.remember(this.bans, key, now + this.security.ipbanExpire * 1000);
      return 403;
    } catch (err) {
      this.log.warn("guard unreachable: connection admitted", { key, error: String(err) });
      return 0;
    }
  }

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
    return this.bans.size > 0 && this.live(this.bans, pikeKey(ip), now);
  }

  async ban(source: Source): Promise<void> {
    const key = pikeKey(source.ip);
    this.remember(this.bans, key, Date.now() + this.security.ipbanExpire * 1000);
    try {
      // The Guard announces the ban to every shard, this one included (which stores it).
      this.remember(this.bans, key, await guardOf(this.ns, key).ban());
    } catch (err) {
      this.log.warn("guard unreachable: ban kept in this shard only", { key, error: String(err) });
    }
  }

  /** The live bans and watched addresses this shard was told of, `[key, until]` (admin, metrics). */
  known(now = Date.now()): { bans: [string, number][]; watched: [string, number][] } {
    const live = (map: Map<string, number>) => [...map].filter(([, until]) => until > now);
    return { bans: live(this.bans), watched: live(this.watched) };
  }

  /** Known from the Guards' announcements: an address never announced has no failures. */
  authWatched(ip: string): boolean {
    return this.watched.size > 0 && this.live(this.watched, pikeKey(ip), Date.now());
  }

  authBlockCheck(request: AuthBlockRequest): Promise<AuthBlockVerdict> {
    return guardOf(this.ns, pikeKey(request.source)).authBlockCheck(request);
  }

  async authFailure(user: string, ip: string): Promise<void> {
    const key = pikeKey(ip);
    // Watched here at once; the Guard's announcement (with its horizon) follows.
    if (!this.authWatched(ip)) this.remember(this.watched, key, Date.now() + this.security.authBlock.failureWindow * 1000);
    await guardOf(this.ns, key).authFailure(user, ip);
  }

  /**
   * A WebSocket from `ip` was accepted (its admission is no longer pending). `watched` is the
   * Worker's old hint; the announcements kept here are the truth, so only `true` is taken.
   */
  accepted(ip: string, watched: boolean): void {
    const key = pikeKey(ip);
    this.unpend(key);
    if (watched && !this.authWatched(ip)) this.remember(this.watched, key, Date.now() + this.security.authBlock.failureWindow * 1000);
  }

  /**
   * A client socket closed: its fast path goes, and the Guard hears of it if it counts the
   * address. Once the Guard counts none of its sockets anywhere, this shard answers alone again.
   */
  async closed(ip: string, flow: string, shard: string, guarded: boolean): Promise<void> {
    this.fast.delete(flow);
    const key = pikeKey(ip);
    if (!guarded || !this.counted.has(key)) return;
    if ((await guardOf(this.ns, key).release(shard)) === 0) this.counted.delete(key);
  }

  /** An event from a Guard or the Worker (SipConnection.security RPC). */
  onEvent(event: GuardEvent): number | undefined | Promise<number | undefined> {
    switch (event.kind) {
      case "admit":
        return this.admit(event.ip, event.shard, event.shards);
      case "ban":
        this.remember(this.bans, event.key, event.until);
        for (const ws of this.state.getWebSockets(`ip:${event.key}`)) {
          try {
            ws.close(1008, "Policy Violation");
          } catch {
            // already closing
          }
        }
        return this.state.storage.put(BAN_PREFIX + event.key, event.until).then(() => undefined);
      case "unban":
        this.bans.delete(event.key);
        return this.state.storage.delete(BAN_PREFIX + event.key).then(() => undefined);
      case "watch":
        this.remember(this.watched, event.key, event.until);
        return this.state.storage.put(WATCH_PREFIX + event.key, event.until).then(() => undefined);
      case "count":
        // The Guard now counts this address: its upgrades and closes here go through it.
        this.counted.add(event.key);
        return this.held(event.key, Date.now());
      case "reload-permissions":
        return undefined;
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

  /** The bans and watches this shard was told of, minus those that ended while it slept. */
  private async restore(): Promise<void> {
    const now = Date.now();
    const ended: string[] = [];
    for (const [prefix, map] of [[BAN_PREFIX, this.bans], [WATCH_PREFIX, this.watched]] as const) {
      for (const [name, until] of await this.state.storage.list<number>({ prefix })) {
        if (until > now) this.remember(map, name.slice(prefix.length), until);
        else ended.push(name);
      }
    }
    // The KV API deletes at most 128 keys per call.
    for (let i = 0; i < ended.length; i += 128) await this.state.storage.delete(ended.slice(i, i + 128));
  }

  /** Whether `key` has an entry in `map` that has not ended (an ended one is dropped). */
  private live(map: Map<string, number>, key: string, now: number): boolean {
    const until = map.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    map.delete(key);
    void this.state.storage.delete((map === this.bans ? BAN_PREFIX : WATCH_PREFIX) + key).catch(() => undefined);
    return false;
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    if (map.size >= MAX_ENTRIES && !map.has(key)) map.clear();
    map.set(key, value);
  }
}

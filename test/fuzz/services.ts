/**
 * In-memory stand-ins for what the Durable Objects hold, built from the same pure modules the
 * objects run (registrar, pike, htable, dispatcher selection), so the fuzzed pipeline exercises
 * real behaviour without workerd: a Location table, a Guard, a Dispatcher. Each exposes the size
 * of its tables, which the fuzzer compares before and after a run (no unbounded state).
 */
import type { SecurityConfig } from "../../src/config.ts";
import { ALG, CallLoad, createSelectState, markDst, onProbeReply, parseDispatcherList, select } from "../../src/modules/dispatcher/index.ts";
import type { DispatcherSource } from "../../src/modules/dispatcher/client.ts";
import type { DispatcherList, SelectInput, Selection } from "../../src/modules/dispatcher/index.ts";
import { AuthBlockList, type AuthBlockRequest, type AuthBlockVerdict } from "../../src/modules/htable/index.ts";
import { Pike, pikeKey, type PikeVerdict } from "../../src/modules/pike/index.ts";
import type { GuardService } from "../../src/modules/pike/script.ts";
import type { Binding, LookupResult, RegisterInput, Registrar } from "../../src/modules/registrar/index.ts";
import type { LocationService, SaveReply } from "../../src/modules/registrar/script.ts";
import type { Source } from "../../src/routing/context.ts";
import type { Clock, TimerHandle, Timers } from "../../src/sip/timers.ts";

/** A deterministic scheduler and clock: nothing fires until `advance`. */
export class FakeClock implements Timers, Clock {
  private time = 1_800_000_000_000;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  /** Errors thrown by timer callbacks (a timer that throws would crash a Durable Object). */
  readonly errors: unknown[] = [];

  now = (): number => this.time;

  set(ms: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    this.pending.set(id, { at: this.time + Math.max(0, ms), fn });
    return id;
  }

  clear(handle: TimerHandle): void {
    this.pending.delete(handle as number);
  }

  get count(): number {
    return this.pending.size;
  }

  /** Moves time forward, firing due timers in deadline order (timers set meanwhile included). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.pending) if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.pending.delete(next[0]);
      this.time = Math.max(this.time, next[1].at);
      try {
        next[1].fn();
      } catch (err) {
        this.errors.push(err);
      }
    }
    this.time = end;
  }
}

/** The Location objects: bindings per AOR, with the registrar's own save/lookup/expiry rules. */
export class MemoryLocation implements LocationService {
  private readonly aors = new Map<string, Binding[]>();
  private version = 0;

  constructor(
    private readonly registrar: Registrar,
    private readonly clock: () => number,
  ) {}

  async save(input: RegisterInput): Promise<SaveReply> {
    const now = this.clock();
    const result = this.registrar.save(this.live(input.aor, now), input, now);
    if (!result.ok) return { ...result, version: this.version };
    if (result.bindings.length === 0) this.aors.delete(input.aor);
    else this.aors.set(input.aor, result.bindings);
    if (result.changed) this.version++;
    return { ok: true, ...this.registrar.saveReply(result.bindings, input, now), version: this.version };
  }

  async lookup(aor: string): Promise<LookupResult> {
    const now = this.clock();
    return this.registrar.lookup(this.live(aor, now), now);
  }

  /** `handle_lost_tcp`: a closed flow's bindings go. */
  removeFlow(flow: string): void {
    for (const [aor, bindings] of this.aors) {
      const { bindings: kept } = this.registrar.removeFlow(bindings, flow);
      if (kept.length === 0) this.aors.delete(aor);
      else this.aors.set(aor, kept);
    }
  }

  /** The usrloc timer: expired bindings go (the Location object's alarm). */
  sweep(): void {
    for (const aor of [...this.aors.keys()]) this.live(aor, this.clock());
  }

  get sizes(): { aors: number; bindings: number } {
    let bindings = 0;
    for (const b of this.aors.values()) bindings += b.length;
    return { aors: this.aors.size, bindings };
  }

  private live(aor: string, now: number): Binding[] {
    const bindings = this.aors.get(aor);
    if (bindings === undefined) return [];
    const { bindings: kept } = this.registrar.expire(bindings, now);
    if (kept.length === 0) this.aors.delete(aor);
    else if (kept.length !== bindings.length) this.aors.set(aor, kept);
    return kept;
  }
}

/**
 * The Guard objects and a shard's view of them, in one: pike counts per address, `ipban` with
 * its expiry, and the seed's `auth_block_list`, on the fake clock (the route script asks pike
 * with the wall clock, which would read a burst of fuzz cases as a flood).
 */
export class MemoryGuard implements GuardService {
  private readonly pike: Pike;
  private readonly bans = new Map<string, number>();
  readonly blocks: AuthBlockList;

  constructor(
    private readonly security: SecurityConfig,
    private readonly clock: () => number,
  ) {
    const { samplingTimeUnit, reqsDensityPerUnit, removeLatency } = security.pike;
    this.pike = new Pike({ samplingTimeUnit, reqsDensityPerUnit, removeLatency, maxNodes: 16 });
    this.blocks = new AuthBlockList({ ...security.authBlock, maxItems: 10_000, clock });
  }

  async checkReq(source: Source): Promise<PikeVerdict> {
    return this.pike.checkReq(source.ip, this.clock());
  }

  isBanned(source: Pick<Source, "ip" | "transport">): boolean {
    const key = pikeKey(source.ip);
    const until = this.bans.get(key);
    if (until === undefined) return false;
    if (until > this.clock()) return true;
    this.bans.delete(key);
    return false;
  }

  async ban(source: Source): Promise<void> {
    this.bans.set(pikeKey(source.ip), this.clock() + this.security.ipbanExpire * 1000);
  }

  authWatched(): boolean {
    return this.blocks.live;
  }

  async authBlockCheck(request: AuthBlockRequest): Promise<AuthBlockVerdict> {
    return this.blocks.check(request);
  }

  async authFailure(user: string, ip: string): Promise<void> {
    this.blocks.recordFailure(user, ip);
  }

  /** Drops what has expired (the Guards' alarms and pike's own sweep). */
  sweep(): void {
    const now = this.clock();
    for (const [key, until] of this.bans) if (until <= now) this.bans.delete(key);
    this.pike.sweep(now);
    this.blocks.expire();
  }

  get sizes(): { bans: number; pikeNodes: number; authBlockItems: number } {
    return { bans: this.bans.size, pikeNodes: this.pike.size, authBlockItems: this.blocks.size };
  }
}

/**
 * The Dispatcher object over a list text: states, `ds_mark_dst`, algorithm 10's call load, and
 * a probe round (`probeAll`) that answers every destination 200, as live gateways do.
 */
export class MemoryDispatcher implements DispatcherSource {
  readonly list: DispatcherList;
  private version = 1;
  private readonly loadState = createSelectState();

  constructor(text: string, private readonly clock: () => number) {
    const loaded = parseDispatcherList(text);
    if (!loaded.ok) throw new Error(`dispatcher list: ${JSON.stringify(loaded.error)}`);
    this.list = loaded.value;
  }

  async snapshot(): Promise<{ version: number; list: DispatcherList }> {
    return { version: this.version, list: this.list };
  }

  async markDst(setId: number, uri: string, state: string): Promise<boolean> {
    const set = this.list.sets.get(setId);
    const dst = set?.destinations.find((d) => d.uri === uri);
    if (!set || !dst) return false;
    const t = markDst(dst, state, PROBING, set);
    if (typeof t === "string") return false;
    if (t.changed) this.version++;
    return true;
  }

  async selectByLoad(setId: number, input: SelectInput, useDefault: boolean): Promise<Selection> {
    return select(this.list.sets.get(setId), ALG.CALL_LOAD, input, this.loadState, { useDefault, failover: true });
  }

  async loadEvent(callId: string, event: "confirm" | "release" | "move", duid?: string): Promise<void> {
    const load: CallLoad = this.loadState.callLoad;
    const now = this.clock();
    load.expire(now);
    if (event === "confirm") load.confirm(callId, now);
    else if (event === "release") load.release(callId);
    else if (duid !== undefined) load.replace(callId, duid);
  }

  /** One keepalive round in which every destination answers 200. */
  probeAll(): void {
    for (const set of this.list.sets.values()) {
      for (const dst of set.destinations) if (onProbeReply(dst, 200, PROBING, set).changed) this.version++;
    }
  }
}

const PROBING = { probingThreshold: 1, inactiveThreshold: 1, mode: 1 as const };

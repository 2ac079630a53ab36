import { DurableObject } from "cloudflare:workers";
import { configFor, type Config } from "../src/config.ts";
import type { Env } from "../src/env.ts";
import { createLogger, type Logger } from "../src/log.ts";
import {
  ALG,
  kamailioStateLetters,
  createSelectState,
  emptyLatencyStats,
  select,
  loadDispatcherRows,
  markDst,
  onProbeReply,
  recordLatency,
  recordTimeout,
  shouldProbe,
  type Destination,
  type DispatcherList,
  type DispatcherRow,
  type SelectInput,
  type Selection,
} from "../src/modules/dispatcher/index.ts";
import { captureStates, listStates, restoreStates, type KeptStates } from "../src/modules/dispatcher/kept-states.ts";
import type { Probe, ProbeResult } from "./bridge-probes.ts";

/** Storage key of the destination states that differ from the list (written only on a change). */
const KEPT_STATES = "dispatcher:kept-states";

/** What shards cache: the destination sets with their states, and a version that moves on change. */
export interface DispatcherSnapshot {
  version: number;
  /** Absent when the shard asked with the version it holds: nothing changed. */
  list?: DispatcherList;
}

/** One destination for metrics and the dashboard: state, latency, recent keepalive round trips. */
export interface DestinationStatus {
  setid: number;
  uri: string;
  description: string;
  state: string;
  /** Kamailio's state letters (AP, IP, DX ...). */
  flags: string;
  latency: { count: number; avgMs: number; ewmaMs: number; lastMs: number | undefined; maxMs: number; timeouts: number };
  /** The latest keepalives, oldest first: a round trip in ms, or null for one that timed out. */
  history: (number | null)[];
}

/** Keepalive results kept per destination for the dashboard's chart (memory only). */
const HISTORY = 120;

/** A shard that can send keepalives through a bridge link (SipConnection.probe). */
interface ProbingShard {
  probe(probes: Probe[], timeoutMs: number): Promise<ProbeResult[] | "no-link">;
  bridgeFrozen(bridge: string, since: number): Promise<number>;
}

/**
 * Dispatcher: one object per destination-set partition (Kamailio's dispatcher module state). It
 * owns the sets (from the D1 `dispatcher` table), the destination states, OPTIONS probing every
 * `DS_PING_INTERVAL` (alarm; the keepalives go out through a shard's bridge link) and latency
 * statistics. Shards select from a cached snapshot (by version), so a call never stops here.
 */
export class Dispatcher extends DurableObject<Env> {
  private readonly config: Config;
  private readonly log: Logger;
  private list: DispatcherList = { sets: new Map() };
  /**
   * Moves on every change of the sets or states. It starts from the clock, so a restarted object
   * never repeats a version a shard still holds with other contents.
   */
  private version = Date.now();
  private loaded: Promise<void> | undefined;
  /** Algorithm 10's call-load table: exact only here, so that algorithm costs a hop per call. */
  private readonly loadState = createSelectState();
  /** Recent keepalive round trips per destination URI (null: timed out), newest last. */
  private readonly history = new Map<string, (number | null)[]>();
  /** Each destination's state as the list loads it: what a kept state is compared against. */
  private listed: KeptStates = {};
  /** The first load of this instance restores kept states; `reload` starts from the list. */
  private restore = true;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = configFor(env);
    this.log = createLogger(this.config.logLevel);
  }

  /**
   * The sets and states for a shard's cache; starts probing on first use. A shard that holds
   * version `since` already gets only the version (the list is not copied over RPC again).
   */
  async snapshot(since?: number): Promise<DispatcherSnapshot> {
    await this.ensureLoaded();
    return since === this.version ? { version: this.version } : { version: this.version, list: this.list };
  }

  /** Every destination with its state and latency (the scrape and the dashboard). */
  async status(): Promise<DestinationStatus[]> {
    await this.ensureLoaded();
    const out: DestinationStatus[] = [];
    for (const set of this.list.sets.values()) {
      for (const d of set.destinations) {
        const l = d.latency;
        const history = this.history.get(d.uri) ?? [];
        const last = [...history].reverse().find((v) => v !== null);
        out.push({
          setid: set.id,
          uri: d.uri,
          description: d.description ?? "",
          state: d.state,
          flags: kamailioStateLetters(d),
          latency: { count: l?.count ?? 0, avgMs: l?.average ?? 0, ewmaMs: l?.estimate ?? 0, lastMs: last ?? undefined, maxMs: l?.max ?? 0, timeouts: l?.timeouts ?? 0 },
          history,
        });
      }
    }
    return out;
  }

  /** Kamailio `dispatcher.reload`: reads the `dispatcher` table again; states start active. */
  async reload(): Promise<{ sets: number; destinations: number } | { error: string }> {
    this.loaded = undefined;
    this.restore = false;
    try {
      await this.ensureLoaded();
      await this.ctx.storage.delete(KEPT_STATES);
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
    let destinations = 0;
    for (const set of this.list.sets.values()) destinations += set.destinations.length;
    return { sets: this.list.sets.size, destinations };
  }

  /** Kamailio `ds_mark_dst(state)` for one destination of a set (a shard's failure route calls it). */
  async markDst(setId: number, uri: string, state: string): Promise<boolean> {
    await this.ensureLoaded();
    const set = this.list.sets.get(setId);
    const dst = set?.destinations.find((d) => d.uri === uri);
    if (!set || !dst) return false;
    const probing = dst.probe;
    const t = markDst(dst, state, this.probingOptions(), set);
    if (typeof t === "string") return false;
    if (t.changed) this.changed(dst, t.from, t.to);
    else if (dst.probe !== probing) this.keepStates();
    return true;
  }

  /**
   * `ds_select_dst(set, 10)`: the least-loaded destination under its maxload, counted against its
   * duid here (DESIGN.md §3: call load is the one selection that must not be approximate).
   */
  async selectByLoad(setId: number, input: SelectInput, useDefault: boolean): Promise<Selection> {
    await this.ensureLoaded();
    return select(this.list.sets.get(setId), ALG.CALL_LOAD, input, this.loadState, { useDefault, failover: true });
  }

  /** Kamailio `ds_load_update` / `ds_load_unset` / ds_next_dst moving a call: keeps the counts. */
  async loadEvent(callId: string, event: "confirm" | "release" | "move", duid?: string): Promise<void> {
    const now = Date.now();
    this.loadState.callLoad.expireDue(now);
    if (event === "confirm") this.loadState.callLoad.confirm(callId, now);
    else if (event === "release") this.loadState.callLoad.release(callId);
    else if (duid !== undefined) this.loadState.callLoad.replace(callId, duid);
  }

  /**
   * Kamailio's ping timer: every `ds_ping_interval`, whatever earlier keepalives are still waiting
   * for (a silent gateway takes the probe timeout to count), so a dead destination is marked
   * within interval × threshold + timeout.
   */
  override async alarm(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + this.config.dispatcher.pingInterval * 1000);
    await this.ensureLoaded();
    this.ctx.waitUntil(this.probeAll().catch((err: unknown) => this.log.error("dispatcher probing failed", { error: String(err) })));
  }

  private async ensureLoaded(): Promise<void> {
    this.loaded ??= (async () => {
      const { results } = await this.env.DB.prepare("SELECT id, setid, destination, flags, priority, attrs, description FROM dispatcher ORDER BY id").all<DispatcherRow>();
      const loaded = loadDispatcherRows(results, "dispatcher (D1)");
      if (!loaded.ok) {
        const e = loaded.error;
        this.log.error("dispatcher table refused", { file: e.file, line: e.line, field: e.field, reason: e.reason });
        throw new Error(`${e.file}:${e.line}: ${e.field}: ${e.reason}`);
      }
      this.list = loaded.value;
      this.listed = listStates(this.list);
      if (this.restore) this.restoreKeptStates(await this.ctx.storage.get<KeptStates>(KEPT_STATES));
      this.version++;
      if (this.config.dispatcher.pingInterval > 0 && (await this.ctx.storage.getAlarm()) === null) {
        await this.ctx.storage.setAlarm(Date.now() + 1000);
      }
    })();
    try {
      await this.loaded;
    } catch (err) {
      this.loaded = undefined;
      throw err;
    }
  }

  private probingOptions() {
    const d = this.config.dispatcher;
    return { probingThreshold: d.probingThreshold, inactiveThreshold: d.inactiveThreshold, mode: d.probingMode, replyCodes: d.replyCodes };
  }

  /** Sends every due keepalive through the first shard that has a bridge link. */
  private async probeAll(): Promise<void> {
    const due: { dst: Destination; setId: number }[] = [];
    for (const set of this.list.sets.values()) {
      for (const dst of set.destinations) if (shouldProbe(dst, this.config.dispatcher.probingMode)) due.push({ dst, setId: set.id });
    }
    if (due.length === 0) return;
    const probes: Probe[] = due.map(({ dst }) => ({
      uri: dst.uri,
      dst: `${dst.host}:${dst.port}`,
      from: dst.attrs.pingFrom ?? this.config.dispatcher.pingFrom,
    }));
    const results = await this.sendProbes(probes);
    if (!results) return;
    const frozen = results.find((r) => r.frozen !== undefined)?.frozen;
    if (frozen !== undefined) await this.bridgeFrozen(frozen.bridge, frozen.since);
    const byUri = new Map(results.map((r) => [r.uri, r]));
    for (const { dst, setId } of due) {
      const r = byUri.get(dst.uri);
      if (!r || r.lost) continue;
      const set = this.list.sets.get(setId);
      dst.latency ??= emptyLatencyStats();
      if (r.status === 408) recordTimeout(dst.latency);
      else recordLatency(dst.latency, r.latencyMs, this.config.dispatcher.latencyAlpha);
      this.remember(dst.uri, r.status === 408 ? null : r.latencyMs);
      const t = onProbeReply(dst, r.status, this.probingOptions(), set);
      if (t.changed) this.changed(dst, t.from, t.to);
    }
  }

  /**
   * A bridge left its ping unanswered in one shard: its links in every shard are as dead (one
   * process holds them all), so calls must not leave through them. Each shard closes the ones
   * opened before the ping; the bridge dials them all again when it wakes.
   */
  private async bridgeFrozen(bridge: string, since: number): Promise<void> {
    const closed = await Promise.all(
      Array.from({ length: this.config.connectionShards }, (_, shard) =>
        this.shard(shard).bridgeFrozen(bridge, since).catch((err: unknown) => {
          this.log.warn("dispatcher: a shard did not close a frozen bridge's link", { shard, bridge, error: String(err) });
          return 0;
        }),
      ),
    );
    this.log.warn("dispatcher: bridge unresponsive, its links closed", { bridge, links: closed.reduce((a, b) => a + b, 0) });
  }

  private shard(shard: number): ProbingShard {
    return this.env.SIP_CONNECTION.get(this.env.SIP_CONNECTION.idFromName(`shard-${shard}`)) as unknown as ProbingShard;
  }

  private async sendProbes(probes: Probe[]): Promise<ProbeResult[] | undefined> {
    const timeout = this.config.dispatcher.probeTimeout * 1000;
    for (let shard = 0; shard < this.config.connectionShards; shard++) {
      const results = await this.shard(shard).probe(probes, timeout);
      if (results !== "no-link") return results;
    }
    this.log.warn("dispatcher: no bridge link to probe through");
    return undefined;
  }

  private remember(uri: string, latencyMs: number | null): void {
    let h = this.history.get(uri);
    if (h === undefined) this.history.set(uri, (h = []));
    h.push(latencyMs);
    if (h.length > HISTORY) h.splice(0, h.length - HISTORY);
  }

  private changed(dst: Destination, from: string, to: string): void {
    this.version++;
    this.log.info("dispatcher destination state", { uri: dst.uri, from, to });
    this.keepStates();
  }

  private restoreKeptStates(kept: KeptStates | undefined): void {
    if (kept === undefined) return;
    const restored = restoreStates(this.list, kept);
    if (restored > 0) this.log.info("dispatcher states restored", { destinations: restored });
  }

  /**
   * Writes the states that differ from the list, on a change only (a state changes a few times
   * a day, not per call): one coalesced `storage.put`, never on the call path.
   */
  private keepStates(): void {
    const kept = captureStates(this.list, this.listed);
    this.ctx.waitUntil(
      (Object.keys(kept).length === 0 ? this.ctx.storage.delete(KEPT_STATES) : this.ctx.storage.put(KEPT_STATES, kept)).catch((err: unknown) =>
        this.log.error("dispatcher states not kept", { error: String(err) }),
      ),
    );
  }
}

import { BoundedMap } from "../../util/lru.ts";
import { CALL_LOAD_MAX_CALLS } from "./call-load.ts";
import { createSelectState, type DispatcherList, type SelectInput, type SelectState, type Selection } from "./index.ts";

/**
 * How long a shard's copy of the sets answers selections before it is refreshed (ms); a copy up
 * to twice this old is still used while its refresh runs, so a state change reaches every shard
 * within 2 × this.
 */
export const SNAPSHOT_MAX_AGE_MS = 1000;

/**
 * A selection that found no usable destination in a copy older than this (ms) asks again before
 * the call is refused: a refusal for want of a gateway rests on states at most this old.
 */
export const RECHECK_AFTER_MS = 200;

/** How long a shard remembers a call counted by algorithm 10 (Kamailio's ds_hash_expire default). */
const LOAD_CALL_MS = 7200_000;

export interface DispatcherSource {
  /** The sets and states; only the version when `since` is the version the caller holds. */
  snapshot(since?: number): Promise<{ version: number; list?: DispatcherList }>;
  markDst(setId: number, uri: string, state: string): Promise<boolean>;
  selectByLoad(setId: number, input: SelectInput, useDefault: boolean): Promise<Selection>;
  loadEvent(callId: string, event: "confirm" | "release" | "move", duid?: string): Promise<void>;
}

/**
 * A shard's copy of the Dispatcher object's sets and states. DESIGN.md §3: a call to a gateway
 * does not stop at the Dispatcher object; selection runs on this snapshot, refreshed in the
 * background once it is older than `maxAge`. Round-robin positions (and the other per-selection
 * counters) are per shard, so across shards the rotation is approximate.
 */
export class DispatcherClient {
  readonly state: SelectState = createSelectState();
  /**
   * Calls of this shard counted by algorithm 10 (their 2xx, BYE or failure updates the count);
   * bounded like the Dispatcher object's table, so calls whose BYE never came cannot pile up.
   */
  private readonly loadCalls = new BoundedMap<string, true>({ capacity: CALL_LOAD_MAX_CALLS });
  private snap: { version: number; list: DispatcherList; at: number } | undefined;
  private refreshing: Promise<void> | undefined;
  /** Bumped by markDst: snapshots asked for before it are stale on arrival. */
  private generation = 0;

  constructor(
    private readonly source: DispatcherSource,
    private readonly maxAge = SNAPSHOT_MAX_AGE_MS,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * The sets to select from: the cached copy while it is younger than `maxAge`; a copy up to
   * twice that old is used while a refresh runs in the background; an older one (an idle shard)
   * or none is waited for, so a destination marked down long ago is never picked from it.
   */
  async list(): Promise<DispatcherList> {
    const age = this.snap ? this.clock() - this.snap.at : Infinity;
    if (age > 2 * this.maxAge) await this.refresh();
    else if (age > this.maxAge) void this.refresh().catch(() => undefined);
    return this.snap?.list ?? { sets: new Map() };
  }

  /**
   * The sets once more, for a selection that found nothing usable in the copy: a copy older than
   * `RECHECK_AFTER_MS` is refreshed first (one RPC; only the version comes back when nothing
   * changed), so a gateway back up a moment ago is not refused for the rest of the copy's life (in
   * Kamailio the states are in shared memory, seen by every process at once). Undefined when the
   * copy is that fresh already: nothing newer to select from. A refresh makes the copy fresh, so a
   * shard asks at most once per `RECHECK_AFTER_MS` however many calls find every gateway down.
   */
  async recheck(): Promise<DispatcherList | undefined> {
    const age = this.snap ? this.clock() - this.snap.at : Infinity;
    if (age <= RECHECK_AFTER_MS) return undefined;
    await this.refresh();
    return this.snap?.list;
  }

  /** Kamailio `ds_mark_dst`: tells the Dispatcher object and drops the stale copy. */
  async markDst(setId: number, uri: string, state: string): Promise<boolean> {
    const ok = await this.source.markDst(setId, uri, state);
    // A refresh started before the mark would bring back the old state: it is disowned.
    this.generation++;
    this.snap = undefined;
    this.refreshing = undefined;
    return ok;
  }

  /** Algorithm 10 runs in the Dispatcher object, where the call counts are exact. */
  async selectByLoad(setId: number, input: SelectInput, useDefault: boolean): Promise<Selection> {
    const selection = await this.source.selectByLoad(setId, input, useDefault);
    if (selection.selected && selection.loadCallId !== undefined) this.loadCalls.set(selection.loadCallId, true, this.clock() + LOAD_CALL_MS);
    return selection;
  }

  /** Calls this shard remembers for algorithm 10 (tests, admin). */
  get loadCallCount(): number {
    return this.loadCalls.size;
  }

  /** Kamailio `ds_load_update` (2xx: confirm; BYE: release), `ds_load_unset` (failure: release). */
  loadEvent(callId: string, event: "confirm" | "release" | "move", duid?: string): void {
    if (!this.loadCalls.has(callId, this.clock())) return;
    if (event === "release") this.loadCalls.delete(callId);
    void this.source.loadEvent(callId, event, duid).catch(() => undefined);
  }

  private refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    const generation = this.generation;
    const held = this.snap;
    const refreshing: Promise<void> = this.source
      .snapshot(held?.version)
      .then((s) => {
        if (generation !== this.generation) return;
        // Unchanged (no list sent, or the same version): the copy is fresh again.
        if (held !== undefined && this.snap === held && s.version === held.version) held.at = this.clock();
        else if (s.list !== undefined) this.snap = { version: s.version, list: s.list, at: this.clock() };
      })
      .finally(() => {
        if (this.refreshing === refreshing) this.refreshing = undefined;
      });
    this.refreshing = refreshing;
    return refreshing;
  }
}

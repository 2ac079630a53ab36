import { createSelectState, type DispatcherList, type SelectState } from "./index.ts";

export interface DispatcherSource {
  snapshot(): Promise<{ version: number; list: DispatcherList }>;
  markDst(setId: number, uri: string, state: string): Promise<boolean>;
}

/**
 * A shard's copy of the Dispatcher object's sets and states. DESIGN.md §3: a call to a gateway
 * does not stop at the Dispatcher object; selection runs on this snapshot, refreshed in the
 * background once it is older than `maxAge`. Round-robin positions (and the other per-selection
 * counters) are per shard, so across shards the rotation is approximate.
 */
export class DispatcherClient {
  readonly state: SelectState = createSelectState();
  private snap: { version: number; list: DispatcherList; at: number } | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly source: DispatcherSource,
    private readonly maxAge = 1000,
    private readonly clock: () => number = Date.now,
  ) {}

  async list(): Promise<DispatcherList> {
    const now = this.clock();
    if (!this.snap) {
      await this.refresh();
    } else if (now - this.snap.at > this.maxAge) {
      void this.refresh().catch(() => undefined);
    }
    return this.snap?.list ?? { sets: new Map() };
  }

  /** Kamailio `ds_mark_dst`: tells the Dispatcher object and drops the stale copy. */
  async markDst(setId: number, uri: string, state: string): Promise<boolean> {
    const ok = await this.source.markDst(setId, uri, state);
    this.snap = undefined;
    return ok;
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.source
      .snapshot()
      .then((s) => {
        if (!this.snap || s.version !== this.snap.version) this.snap = { ...s, at: this.clock() };
        else this.snap.at = this.clock();
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }
}

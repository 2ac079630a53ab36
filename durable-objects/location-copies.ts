/**
 * Which shards may hold a cached copy of one AOR's binding list (LocationClient in
 * src/modules/registrar), so that a change of the set is announced to those shards only.
 *
 * A shard caches the list only from a save reply of the Location object, so the object knows the
 * shards it handed a copy to since it started. Copies handed out by an earlier run of the object
 * (before an eviction or a deploy) it cannot know: until it has announced one change, it also
 * tells every shard that holds one of the AOR's flows, old or new (the rule that held before this
 * tracking). After that announcement those copies are gone, and the shards told drop out of the
 * set. Measured in the deploy storm: ~4 RPCs per re-registration fell to ~1.
 */
import type { Binding } from "../src/modules/registrar/index.ts";
import { flowShard } from "../src/transport/flow.ts";

export class ShardCopies {
  /** Shards this run of the object handed the list to, and not told since. */
  private readonly holders = new Set<string>();
  /** An earlier run's copies may still be out there (no change announced by this run yet). */
  private inherited = true;
  /** A reply went to a requester whose shard the flow token does not name: announce to flows always. */
  private unnamed = false;

  /** A save reply carrying the list went to the shard of `flowToken` (the REGISTER's flow). */
  handedTo(flowToken: string | undefined): void {
    const shard = flowToken === undefined ? undefined : flowShard(flowToken);
    if (shard === undefined) this.unnamed = true;
    else this.holders.add(shard);
  }

  /**
   * The binding set changed (from `before` to `after`) through the shard `changer` (undefined:
   * not through a save, e.g. expiry or `ul rm`): the shards whose copy is now stale. The changer
   * learns the new list from its reply and is not told. Those returned are forgotten as holders.
   */
  toForget(before: readonly Binding[], after: readonly Binding[], changer: string | undefined): string[] {
    const shards = new Set(this.holders);
    if (this.inherited || this.unnamed) {
      for (const b of [...before, ...after]) {
        const shard = b.flowToken === undefined ? undefined : flowShard(b.flowToken);
        if (shard !== undefined) shards.add(shard);
      }
    }
    this.inherited = false;
    this.holders.clear();
    if (changer !== undefined) shards.delete(changer);
    return [...shards];
  }
}

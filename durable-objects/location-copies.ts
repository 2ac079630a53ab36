/**
 * Which shards may hold a copy of one AOR's binding list (LocationClient answers refreshes from
 * it), so the Location object tells only those when the set changes.
 *
 * A copy is made only from a save's reply, so the object knows the shards it handed one to since
 * its last change; a shard that was told has none until its next save. What an object cannot
 * know is what its earlier incarnation handed out before an eviction or a restart: such a copy
 * can answer only a refresh over one of the flows it lists, so it sits in the shard of a flow of
 * the bindings the object started with, and those shards hear of the first change.
 */
export class CopyHolders {
  private readonly handed = new Set<string>();
  private earlierTold = false;

  /** The shard got the binding list in a save's reply. */
  handedTo(shard: string): void {
    this.handed.add(shard);
  }

  /**
   * The binding set changed: the shards to tell, forgotten as holders. `flowShards` are the shards
   * of every flow of the bindings before and after the change (read only at the first change);
   * `changing` made the change and learns it from the reply.
   */
  change(changing: string | undefined, flowShards: () => Iterable<string>): Set<string> {
    const tell = new Set(this.handed);
    this.handed.clear();
    if (!this.earlierTold) {
      this.earlierTold = true;
      for (const shard of flowShards()) tell.add(shard);
    }
    if (changing !== undefined) tell.delete(changing);
    return tell;
  }
}

/** The shard of a flow token (`<shard>.<kind><id>`, src/transport/flow.ts), or undefined. */
export function tokenShard(token: string | undefined): string | undefined {
  const dot = token?.indexOf(".") ?? -1;
  return dot > 0 ? token!.slice(0, dot) : undefined;
}

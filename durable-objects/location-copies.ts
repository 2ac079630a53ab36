import { flowShard } from "../src/transport/flow.ts";

/**
 * Which shards may hold a cached copy of an AOR's binding list (LocationClient), so that a
 * Location object tells only those when the set changes, instead of every shard that has one of
 * the AOR's flows at every change.
 *
 * A shard gets a copy only from a `save` reply, and the Location object knows which shard asked
 * (the first part of the REGISTER's flow token). Once told, a shard has dropped its copy and holds
 * none until its next save reply. What this object cannot know is what an earlier incarnation of
 * it handed out (before an eviction or a restart), so until its first change it counts, as before,
 * every shard of a stored or new flow: a copy can only answer REGISTERs of bindings on its own
 * shard's flows (a REGISTER on another flow re-points the binding, a change), so those shards
 * cover every copy that can answer anything. A save without a flow token names no shard: the
 * next change tells every flow's shard again.
 *
 * After a deploy every AOR's first change still tells all its flows' shards (5-8 at five devices
 * per AOR), but each later one tells only the shards that saved since the change before it
 * (usually one): in a reconnect storm about a third of the RPCs.
 */
export class CopyHolders {
  /** Shards handed a copy since they were last told. */
  private readonly holders = new Set<string>();
  /** False until every shard that may hold an earlier incarnation's (or an unnamed caller's) copy was told. */
  private known = false;

  /** A save reply went to the shard of `flowToken` (undefined: a caller this object cannot name). */
  handedTo(flowToken: string | undefined): void {
    const shard = shardOfFlow(flowToken);
    if (shard === undefined) this.known = false;
    else this.holders.add(shard);
  }

  /**
   * The binding set changed: the shards to tell, all but `changing` (it learns the change from
   * its reply). `flowTokens` are the flows of the set before and after the change, used while the
   * holders are not known. The shards returned count as told.
   */
  toTell(flowTokens: Iterable<string | undefined>, changing: string | undefined): string[] {
    const shards = new Set(this.holders);
    if (!this.known) {
      for (const token of flowTokens) {
        const shard = shardOfFlow(token);
        if (shard !== undefined) shards.add(shard);
      }
      this.known = true;
    }
    this.holders.clear();
    if (changing !== undefined) shards.delete(changing);
    return [...shards];
  }
}

/** The shard a flow token names (src/transport/flow.ts), if it is one. */
export function shardOfFlow(token: string | undefined): string | undefined {
  return token === undefined ? undefined : flowShard(token);
}

import { flowShard } from "../src/transport/flow.ts";
import { COPY_TTL_MS } from "../src/modules/registrar/location-client.ts";

/**
 * How far apart the clocks of a shard and a Location object may be, and the reply's time in
 * flight: a copy's lease is counted from the shard's receipt of it, by the shard's clock.
 */
export const COPY_SKEW_MS = 5_000;

/**
 * Which shards may hold a cached copy of an AOR's binding list (LocationClient), so that a
 * Location object tells only those when the set changes, instead of every shard that has one of
 * the AOR's flows at every change.
 *
 * A shard gets a copy only with the reply to a refresh (a `save` that changed nothing) of a client
 * that refreshes faster than a copy lives (`COPY_TTL_MS`: a slower client's next refresh would
 * find it expired), from a flow whose shard the Location object can name (the first part of the
 * flow token); the reply says so (`copy`), and the shard keeps the list only then. Once told, a
 * shard has dropped its copy and holds none until its next such reply.
 *
 * What one incarnation of the object handed out, the next cannot know from memory (an eviction, a
 * restart): so whenever it hands a copy it keeps, in its meta row, a time until which the copies
 * it handed may live (written at most once per `COPY_TTL_MS`). At its first change, a new
 * incarnation tells every shard of a stored or new flow only while that time has not passed; after
 * a deploy, where the clients come back with new REGISTERs (changes, which hand no copies) minutes
 * after any refresh, it tells nobody.
 */
export class CopyHolders {
  /** Shards handed a copy since they were last told. */
  private readonly holders = new Set<string>();

  /** `earlierUntil`: until when copies an earlier incarnation handed may live (its meta row; 0: none). */
  constructor(private earlierUntil: number) {}

  /** The refresh of a flow on `shard` was answered with a copy. */
  handedTo(shard: string): void {
    this.holders.add(shard);
  }

  /**
   * The binding set changed: the shards to tell, all but `changing` (it learns the change from
   * its reply). `flowTokens` are the flows of the set before and after the change, used while an
   * earlier incarnation's copies may live. The shards returned count as told.
   */
  toTell(flowTokens: Iterable<string | undefined>, changing: string | undefined, now: number): string[] {
    const shards = new Set(this.holders);
    if (this.earlierUntil > 0 && now < this.earlierUntil + COPY_SKEW_MS) {
      for (const token of flowTokens) {
        const shard = shardOfFlow(token);
        if (shard !== undefined) shards.add(shard);
      }
    }
    this.earlierUntil = 0;
    this.holders.clear();
    if (changing !== undefined) shards.delete(changing);
    return [...shards];
  }
}

/** The lease to keep in the meta row when a copy is handed at `now`: long enough that the next write is a `COPY_TTL_MS` away. */
export function copyLease(now: number): number {
  return now + 2 * COPY_TTL_MS;
}

/** The shard a flow token names (src/transport/flow.ts), if it is one. */
export function shardOfFlow(token: string | undefined): string | undefined {
  return token === undefined ? undefined : flowShard(token);
}

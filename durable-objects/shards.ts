import type { SipConnection } from "./sip-connection.ts";

export { isShard } from "../src/transport/flow.ts";

/**
 * The one way to name a SipConnection shard object: `shard-<n>`. Shards are numbered from 0 to
 * CONNECTION_SHARDS - 1; flow tokens and Via branches carry the number (src/transport/flow.ts,
 * src/modules/tm/branch-id.ts).
 */
export function shardOf(ns: DurableObjectNamespace, shard: string | number): DurableObjectStub<SipConnection> {
  return ns.get(ns.idFromName(`shard-${shard}`)) as DurableObjectStub<SipConnection>;
}

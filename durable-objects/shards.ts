import type { SipConnection } from "./sip-connection.ts";

/**
 * The one way to name a SipConnection shard object: `shard-<n>`. Shards are numbered from 0 to
 * CONNECTION_SHARDS - 1; flow tokens and Via branches carry the number (src/transport/flow.ts,
 * src/modules/tm/branch-id.ts).
 */
export function shardOf(ns: DurableObjectNamespace, shard: string | number): DurableObjectStub<SipConnection> {
  return ns.get(ns.idFromName(`shard-${shard}`)) as DurableObjectStub<SipConnection>;
}

/** Whether `shard` (text from a message) names one of `count` shards: never create an object for it otherwise. */
export function isShard(shard: string | undefined, count: number): shard is string {
  if (shard === undefined || shard.length === 0 || shard.length > 6) return false;
  for (let i = 0; i < shard.length; i++) {
    const c = shard.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return Number(shard) < count && (shard === "0" || shard.charCodeAt(0) !== 0x30);
}

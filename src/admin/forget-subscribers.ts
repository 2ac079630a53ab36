/**
 * An admin change to the subscriber table reaches every shard's HA1 cache at once, so a changed
 * or removed password stops working everywhere as soon as the admin API answers, whatever
 * SUBSCRIBER_CACHE_TTL is (the shards may run in other isolates, on other machines). A change
 * written to D1 some other way (`wrangler d1 execute`) applies after SUBSCRIBER_CACHE_TTL.
 */
import { configFor, type Vars } from "../config.ts";
import type { SqlDatabase } from "../provisioning/db.ts";
import { subscriberCacheFor } from "../provisioning/subscriber-lookup.ts";

/** The accounts to forget, or "all" (an import replaced the table's rows). */
export type Forget = readonly { user: string; domain: string }[] | "all";

/** What the fan-out needs of a shard (SipConnection.forgetSubscribers). */
export interface ForgettingShard {
  forgetSubscribers(accounts: Forget): Promise<void>;
}

/** The shards' namespace as this module uses it (a DurableObjectNamespace of SipConnection). */
interface ShardNamespace<Id> {
  idFromName(name: string): Id;
  get(id: Id): unknown;
}

/** What the fan-out reads of the Worker's env. */
export type ForgetEnv<Id> = Vars & { DB: SqlDatabase; SIP_CONNECTION: ShardNamespace<Id> };

/** This isolate's cache and every shard's; resolves with the number of shards that confirmed. */
export async function forgetSubscribers<Id>(env: ForgetEnv<Id>, accounts: Forget, shardOf = (i: number): ForgettingShard => defaultShard(env, i)): Promise<number> {
  forgetHere(env, accounts);
  const shards = configFor(env).connectionShards;
  const results = await Promise.allSettled(Array.from({ length: shards }, (_, i) => shardOf(i).forgetSubscribers(accounts)));
  return results.filter((r) => r.status === "fulfilled").length;
}

/** The isolate's own cache (also what a shard does when told). */
export function forgetHere(env: { DB: SqlDatabase }, accounts: Forget): void {
  const cache = subscriberCacheFor(env.DB);
  if (accounts === "all") cache.clear();
  else for (const a of accounts) cache.invalidate(a.user, a.domain);
}

function defaultShard<Id>(env: ForgetEnv<Id>, i: number): ForgettingShard {
  return env.SIP_CONNECTION.get(env.SIP_CONNECTION.idFromName(`shard-${i}`)) as ForgettingShard;
}

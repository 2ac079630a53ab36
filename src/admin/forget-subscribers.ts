/**
 * An admin change to the subscriber table reaches every shard's HA1 cache at once, so a changed
 * or removed password stops working everywhere as soon as the admin API answers, whatever
 * SUBSCRIBER_CACHE_TTL is (the shards may run in other isolates, on other machines). A change
 * written to D1 some other way (`wrangler d1 execute`) applies after SUBSCRIBER_CACHE_TTL.
 */
import { configFor } from "../config.ts";
import type { Env } from "../env.ts";
import { subscriberCacheFor } from "../provisioning/subscriber-lookup.ts";

/** The accounts to forget, or "all" (an import replaced the table's rows). */
export type Forget = readonly { user: string; domain: string }[] | "all";

/** What the fan-out needs of a shard (SipConnection.forgetSubscribers). */
export interface ForgettingShard {
  forgetSubscribers(accounts: Forget): Promise<void>;
}

/** This isolate's cache and every shard's; resolves with the number of shards that confirmed. */
export async function forgetSubscribers(env: Env, accounts: Forget, shardOf = (i: number): ForgettingShard => defaultShard(env, i)): Promise<number> {
  forgetHere(env, accounts);
  const shards = configFor(env).connectionShards;
  const results = await Promise.allSettled(Array.from({ length: shards }, (_, i) => shardOf(i).forgetSubscribers(accounts)));
  return results.filter((r) => r.status === "fulfilled").length;
}

/** The isolate's own cache (also what a shard does when told). */
export function forgetHere(env: Pick<Env, "DB">, accounts: Forget): void {
  const cache = subscriberCacheFor(env.DB);
  if (accounts === "all") cache.clear();
  else for (const a of accounts) cache.invalidate(a.user, a.domain);
}

function defaultShard(env: Env, i: number): ForgettingShard {
  return env.SIP_CONNECTION.get(env.SIP_CONNECTION.idFromName(`shard-${i}`)) as unknown as ForgettingShard;
}

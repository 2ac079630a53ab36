/**
 * An admin change to the subscriber table reaches every shard's HA1 cache at once, so a changed
 * or removed password stops working everywhere as soon as the admin API answers, whatever
 * SUBSCRIBER_CACHE_TTL is (the shards may run in other isolates, on other machines). A change
 * written to D1 some other way (`wrangler d1 execute`) applies after SUBSCRIBER_CACHE_TTL.
 */
import { configFor, type Vars } from "../config.ts";
import { createLogger, type LogSink } from "../log.ts";
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

/**
 * How far a change reached: the admin API returns it as `caches`. A shard that did not confirm
 * (unreachable, overloaded) serves the old HA1 until SUBSCRIBER_CACHE_TTL runs out.
 */
export interface ForgetReport {
  shards: number;
  confirmed: number;
}

/** This isolate's cache and every shard's; a shard that did not confirm is logged at warn. */
export async function forgetSubscribers<Id>(
  env: ForgetEnv<Id>,
  accounts: Forget,
  shardOf = (i: number): ForgettingShard => defaultShard(env, i),
  sink?: LogSink,
): Promise<ForgetReport> {
  forgetHere(env, accounts);
  const config = configFor(env);
  const shards = config.connectionShards;
  const results = await Promise.allSettled(Array.from({ length: shards }, (_, i) => shardOf(i).forgetSubscribers(accounts)));
  const unconfirmed = results.flatMap((r, shard) => (r.status === "rejected" ? [{ shard, reason: String(r.reason) }] : []));
  if (unconfirmed.length > 0) {
    createLogger(config.logLevel, sink).warn("subscriber change not confirmed by every shard; those serve the old HA1 until SUBSCRIBER_CACHE_TTL", {
      accounts: accounts === "all" ? "all" : accounts.length,
      shards,
      unconfirmed,
      cacheTtl: config.subscriberCacheTtl,
    });
  }
  return { shards, confirmed: shards - unconfirmed.length };
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

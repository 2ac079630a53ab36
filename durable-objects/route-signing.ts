import type { Env } from "../src/env.ts";
import type { Logger } from "../src/log.ts";
import { Signer, type SignerSecrets } from "../src/util/signer.ts";

/** The signers of the routing state a shard hands out (src/util/signer.ts): one secret, two uses. */
export interface RouteSigners {
  /** Record-Route entries (flow tokens, shard, instance, gateway address). */
  rr: Signer;
  /** Via branches (the owner shard a response is passed to). */
  branch: Signer;
}

// Used when no secret is configured: every shard of one isolate agrees, a restart does not.
let isolateSecret: string | undefined;
const cache = new WeakMap<object, RouteSigners>();

/**
 * ROUTE_SECRET (ROUTE_SECRET_PREVIOUS during a rotation), else NONCE_SECRET, else BRIDGE_SECRET:
 * every shard must sign with the same secret, or a dialog set up in one shard cannot be continued
 * in another. Without any, a random secret per isolate, with a warning: dialogs then do not
 * survive a restart, and objects in different isolates (production) cannot check each other's.
 */
export function routeSignersFor(env: Env, log: Logger): RouteSigners {
  let signers = cache.get(env);
  if (signers === undefined) {
    const secrets = routeSecrets(env, log);
    signers = { rr: new Signer(secrets, "sipedge rr"), branch: new Signer(secrets, "sipedge branch") };
    cache.set(env, signers);
  }
  return signers;
}

function routeSecrets(env: Env, log: Logger): SignerSecrets {
  if (env.ROUTE_SECRET) return { current: env.ROUTE_SECRET, previous: env.ROUTE_SECRET_PREVIOUS || undefined };
  const fallback = env.NONCE_SECRET || env.BRIDGE_SECRET?.split(",")[0]?.trim();
  if (fallback) return { current: fallback };
  if (isolateSecret === undefined) {
    isolateSecret = crypto.randomUUID();
    log.warn("no ROUTE_SECRET: Record-Route entries and branches are signed with a random per-isolate secret; dialogs will not survive a restart (wrangler secret put ROUTE_SECRET)", {});
  }
  return { current: isolateSecret };
}

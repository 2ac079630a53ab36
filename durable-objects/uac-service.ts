import type { Env } from "../src/env.ts";
import type { Logger } from "../src/log.ts";
import type { UacService } from "../src/modules/uac/service.ts";
import { uacLookupFor } from "../src/provisioning/uac-lookup.ts";
import { loadUacRegRows } from "../src/provisioning/uac-tables.ts";
import { callRateOf } from "./call-rate.ts";
import { uacRegistrationOf, type RegInfo } from "./uac-registration.ts";

/** The uac module's service in a shard: the isolate's table caches, the per-user call counters, the refusal log. */
export function createUacService(env: Env, log: Logger): UacService {
  // This shard's concurrent misses of one key share one D1 read, never another object's.
  const lookup = uacLookupFor(env.DB).lookupFor({});
  return {
    rows: () => lookup.rows(),
    profile: (user, domain) => lookup.profile(user, domain),
    did: (e164) => lookup.did(e164),
    takeCall: async (aor, perMinute) => (await callRateOf(env.CALL_RATE, aor).take(perMinute)).allowed,
    // The accounting hook: src/modules/acc records refused calls here once it exists.
    refused: (record) => log.warn("call refused", { ...record }),
  };
}

/**
 * Starts (or, with `now`, restarts at once: Kamailio `uac.reg_reload`) the registration of every
 * `uacreg` row; an object that already runs keeps its schedule otherwise. Rows removed since are
 * noticed by their own objects at their next attempt.
 */
export async function startRegistrations(env: Env, now = false): Promise<RegInfo[]> {
  const rows = await loadUacRegRows(env.DB);
  return Promise.all(rows.map((row) => uacRegistrationOf(env.UAC_REG, row.l_uuid).ensure(row.l_uuid, now)));
}

/** What the dashboard receives every refresh: one JSON object built from the scrape's sources. */
import { authBlocks, registrationIndex, summarize } from "../admin/ops.ts";
import type { Env } from "../env.ts";
import { collectEdge } from "../metrics/scrape.ts";

/** Registrations shown on the page (the CLI's `ul dump` pages through all of them). */
const REGISTRATIONS_SHOWN = 200;

export async function dashboardSnapshot(env: Env) {
  const status = await collectEdge(env);
  const [registrations, blocks] = await Promise.all([
    registrationIndex(env, { limit: REGISTRATIONS_SHOWN, after: "", prefix: "" }).catch(() => ({ aors: [], next: null })),
    authBlocks(env, status.watched, 20),
  ]);
  return {
    stats: summarize(status),
    destinations: status.destinations,
    registrations: registrations.aors,
    moreRegistrations: registrations.next !== null,
    bans: status.bans.map((b) => ({ address: b.key, until: new Date(b.until).toISOString() })),
    authBlocks: blocks,
  };
}

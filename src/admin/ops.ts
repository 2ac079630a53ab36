/**
 * Operations routes (issue 13), mounted under /admin: what `kamcmd ul.dump`, `htable.dump`,
 * `stats.get_statistics` and the acc/CDR tables give a Kamailio operator.
 *
 * | route | does |
 * |---|---|
 * | `GET /admin/location?limit=&after=&prefix=` | every binding from the registration index, by AOR (`ul.dump`); how stale it may be: README |
 * | `GET /admin/bans` | addresses banned now (ipban) and the auth-failure table of every watched address |
 * | `GET /admin/htable/:table` | `ipban` or `auth_block_list` entries (`htable.dump`) |
 * | `GET /admin/stats` | counters summed over the shards, gauges, destinations (`stats.get_statistics all`) |
 * | `GET /admin/acc?since=&until=&limit=&format=json|csv` | call attempts and calls from the acc records |
 */
import { Hono } from "hono";
import { guardOf } from "../../durable-objects/guard.ts";
import { locationOf } from "../../durable-objects/location.ts";
import { indexStatements } from "../../durable-objects/location-index.ts";
import type { Binding } from "../modules/registrar/index.ts";
import type { SqlDatabase } from "../provisioning/db.ts";
import type { Env } from "../env.ts";
import { SHARD_COUNTERS, type CounterKey } from "../metrics/counters.ts";
import { collectEdge, type EdgeStatus } from "../metrics/scrape.ts";
import { accByesSql, ACC_INVITES_SQL, assembleCalls, callsCsv, type AccRow } from "../modules/acc/index.ts";

export const opsAdmin = new Hono<{ Bindings: Env }>();

function count(value: string | undefined, fallback: number, max: number): number | undefined {
  if (value === undefined || value === "") return fallback;
  if (!/^\d{1,9}$/.test(value)) return undefined;
  return Math.min(Number(value), max);
}

/** A time given as ms since the epoch, seconds since the epoch, or an ISO date. */
export function parseTime(value: string | undefined, fallback: number): number | undefined {
  if (value === undefined || value === "") return fallback;
  if (/^\d{13}$/.test(value)) return Number(value);
  if (/^\d{9,10}$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

interface IndexRow {
  aor: string;
  contact: string;
  expires: number;
  q: number;
  user_agent: string;
  received: string;
  flow_shard: string;
  instance: string;
  reg_id: number;
  last_modified: number;
  indexed_at: number;
}

/** AORs of a page whose rows all passed their indexed expiry, asked of their objects at most. */
const VERIFY_PER_PAGE = 50;

function bindingView(b: Binding, indexedAt: number) {
  const token = b.flowToken ?? "";
  return {
    contact: b.contact, expires: new Date(b.expires).toISOString(), q: b.q, userAgent: b.userAgent ?? "", received: b.received ?? "",
    shard: token.includes(".") ? token.slice(0, token.indexOf(".")) : "", instance: b.instance, regId: b.regId,
    lastModified: new Date(b.lastModified).toISOString(), indexedAt: new Date(indexedAt).toISOString(),
  };
}

/**
 * The AORs among `rows` whose indexed expiry passed: each is asked of its Location object (the
 * truth). A refreshed binding is shown with its live expiry; a row the index kept by mistake (a
 * shard stopped before its batch went out) is dropped, and the index is rewritten for it.
 */
async function verifyExpired(env: Env, rows: readonly IndexRow[], now: number): Promise<Map<string, unknown[]>> {
  const stale = [...new Set(rows.filter((r) => r.expires <= now).map((r) => r.aor))].slice(0, VERIFY_PER_PAGE);
  const live = new Map<string, unknown[]>();
  const changes = await Promise.all(
    stale.map(async (aor) => {
      const dump = await locationOf(env.LOCATION, aor).bindings();
      live.set(aor, dump.bindings.map((b) => bindingView(b as Binding, now)));
      return { kind: "set" as const, aor, version: dump.version, bindings: dump.bindings as Binding[] };
    }),
  );
  if (changes.length > 0) {
    const db: SqlDatabase = env.DB;
    await db.batch(indexStatements(db, changes, now)).catch(() => undefined);
  }
  return live;
}

/** `ul dump`: AORs in name order, `limit` AORs a page, the page after `after`. */
export async function registrationIndex(env: Env, options: { limit: number; after: string; prefix: string }): Promise<{ aors: { aor: string; bindings: unknown[] }[]; next: string | null }> {
  const { results } = await env.DB.prepare(
    `SELECT * FROM location_index WHERE aor IN (
       SELECT DISTINCT aor FROM location_index WHERE aor > ?1 AND aor >= ?2 AND aor < ?2 || char(1114111) ORDER BY aor LIMIT ?3)
     ORDER BY aor, last_modified`,
  )
    .bind(options.after, options.prefix, options.limit)
    .all<IndexRow>();
  const live = await verifyExpired(env, results, Date.now());
  const byAor = new Map<string, unknown[]>(live);
  for (const r of results) {
    if (live.has(r.aor)) continue;
    const list = byAor.get(r.aor) ?? [];
    list.push({
      contact: r.contact, expires: new Date(r.expires).toISOString(), q: r.q, userAgent: r.user_agent, received: r.received,
      shard: r.flow_shard, instance: r.instance || undefined, regId: r.reg_id || undefined,
      lastModified: new Date(r.last_modified).toISOString(), indexedAt: new Date(r.indexed_at).toISOString(),
    });
    byAor.set(r.aor, list);
  }
  const names = [...new Set(results.map((r) => r.aor))];
  const aors = names.map((aor) => ({ aor, bindings: byAor.get(aor) ?? [] })).filter((a) => a.bindings.length > 0);
  return { aors, next: names.length === options.limit ? (names[names.length - 1] ?? null) : null };
}

opsAdmin.get("/location", async (c) => {
  const limit = count(c.req.query("limit"), 100, 1000);
  if (limit === undefined || limit === 0) return c.json({ error: { field: "limit", reason: "expected a whole number from 1 to 1000" } }, 400);
  const page = await registrationIndex(c.env, { limit, after: c.req.query("after") ?? "", prefix: (c.req.query("prefix") ?? "").toLowerCase() });
  return c.json({ ...page, source: "registration index (D1): expiry as of the last binding-set change; GET /admin/location/:aor asks the AOR's object" });
});

/** An auth_block_list entry as the admin API shows it. */
export interface AuthBlockEntry {
  address: string;
  user: string;
  failures: number;
  blocked: boolean;
  /** ISO time the entry (count or block) expires. */
  expires: string | undefined;
}

/** The auth-failure tables of the watched addresses (their Guards), grouped per user and address. */
export async function authBlocks(env: Env, watched: readonly { key: string }[], max = 50): Promise<AuthBlockEntry[]> {
  const statuses = await Promise.all(watched.slice(0, max).map((w) => guardOf(env.GUARD, w.key).status().catch(() => undefined)));
  const entries = new Map<string, AuthBlockEntry>();
  for (const status of statuses) {
    for (const item of status?.authBlock ?? []) {
      const m = /^(.*)\|(.*)::(auth_count|last_block)$/.exec(item.key);
      if (m === null) continue;
      const id = `${m[1]}|${m[2]}`;
      const entry = entries.get(id) ?? { address: m[1] as string, user: m[2] as string, failures: 0, blocked: false, expires: undefined };
      if (m[3] === "auth_count") entry.failures = Number(item.value);
      else entry.blocked = true;
      const expires = item.expiresAt === undefined ? undefined : new Date(item.expiresAt).toISOString();
      if (expires !== undefined && (entry.expires === undefined || expires > entry.expires)) entry.expires = expires;
      entries.set(id, entry);
    }
  }
  return [...entries.values()];
}

opsAdmin.get("/bans", async (c) => {
  const status = await collectEdge(c.env);
  return c.json({
    ipban: status.bans.map((b) => ({ address: b.key, until: new Date(b.until).toISOString() })),
    authBlocks: await authBlocks(c.env, status.watched),
  });
});

opsAdmin.get("/htable/:table", async (c) => {
  const table = c.req.param("table");
  const status = await collectEdge(c.env);
  if (table === "ipban") return c.json({ table, entries: status.bans.map((b) => ({ key: b.key, value: 1, expires: new Date(b.until).toISOString() })) });
  if (table === "auth_block_list") return c.json({ table, entries: await authBlocks(c.env, status.watched) });
  return c.json({ error: { field: "table", reason: "one of ipban, auth_block_list" } }, 404);
});

/** Counters summed over the shards, gauges and destinations: `sipedge stats`. */
export function summarize(status: EdgeStatus) {
  const counters: Record<string, Record<string, number> | number> = {};
  for (const key of Object.keys(SHARD_COUNTERS) as CounterKey[]) {
    const def = SHARD_COUNTERS[key];
    const total: Record<string, number> = {};
    for (const s of status.shards) for (const [label, v] of Object.entries(s.counters[key] ?? {})) total[label] = (total[label] ?? 0) + v;
    counters[def.name] = def.label === undefined ? (total[""] ?? 0) : total;
  }
  const sum = (f: (s: EdgeStatus["shards"][number]) => number) => status.shards.reduce((n, s) => n + f(s), 0);
  const links: Record<string, number> = {};
  for (const s of status.shards) for (const l of s.bridgeLinks) links[l.bridge] = (links[l.bridge] ?? 0) + 1;
  return {
    time: new Date(status.time).toISOString(),
    shards: status.shardCount,
    unreachableShards: status.unreachableShards,
    connections: sum((s) => s.connections),
    registrations: status.registrations?.bindings ?? null,
    registeredAors: status.registrations?.aors ?? null,
    transactions: sum((s) => s.transactions),
    timers: sum((s) => s.timers),
    dialogs: sum((s) => s.dialogs),
    storedTransactions: sum((s) => s.storedTransactions),
    guardEntries: sum((s) => s.guardEntries),
    bridgeLinks: links,
    ipbans: status.bans.length,
    authWatched: status.watched.length,
    counters,
    destinations: status.destinations.map((d) => ({ setid: d.setid, uri: d.uri, state: d.state, flags: d.flags, ewmaMs: d.latency.ewmaMs, lastMs: d.latency.lastMs ?? null })),
  };
}

opsAdmin.get("/stats", async (c) => c.json(summarize(await collectEdge(c.env))));

opsAdmin.get("/acc", async (c) => {
  const now = Date.now();
  const since = parseTime(c.req.query("since"), now - 24 * 3600_000);
  const until = parseTime(c.req.query("until"), now + 60_000);
  if (since === undefined) return c.json({ error: { field: "since", reason: "expected ms or s since the epoch, or an ISO time" } }, 400);
  if (until === undefined) return c.json({ error: { field: "until", reason: "expected ms or s since the epoch, or an ISO time" } }, 400);
  const limit = count(c.req.query("limit"), 1000, 10_000);
  if (limit === undefined) return c.json({ error: { field: "limit", reason: "expected a whole number up to 10000" } }, 400);
  const format = c.req.query("format") ?? "json";
  if (format !== "json" && format !== "csv") return c.json({ error: { field: "format", reason: "json or csv" } }, 400);
  const { results: invites } = await c.env.DB.prepare(ACC_INVITES_SQL)
    .bind(since, until, limit)
    .all<AccRow>();
  // BYEs come after their INVITE, possibly after `until`: look them up by Call-ID.
  const callIds = [...new Set(invites.filter((r) => r.sip_code.startsWith("2")).map((r) => r.callid))];
  const byes: AccRow[] = [];
  for (let i = 0; i < callIds.length; i += 50) {
    const chunk = callIds.slice(i, i + 50);
    const { results } = await c.env.DB.prepare(accByesSql(chunk.length))
      .bind(...chunk)
      .all<AccRow>();
    byes.push(...results);
  }
  const assembled = assembleCalls(invites, byes);
  if (format === "csv") return c.body(callsCsv(assembled.calls), 200, { "Content-Type": "text/csv; charset=utf-8" });
  return c.json({ since: new Date(since).toISOString(), until: new Date(until).toISOString(), ...assembled });
});

/**
 * What a scrape (and the dashboard, and `sipedge stats`) reads: every shard's status by RPC, the
 * Dispatcher object's destinations, and the registration index's counts from D1. Nothing is
 * written anywhere; counters live in the objects that own them (counters.ts).
 */
import type { DestinationStatus } from "../../durable-objects/dispatcher.ts";
import type { ShardStatus } from "../../durable-objects/shard-ops.ts";
import type { SipConnection } from "../../durable-objects/sip-connection.ts";
import { directoryOf } from "../../durable-objects/guard-directory.ts";
import { uacRegStats } from "../admin/uac.ts";
import { configFor } from "../config.ts";
import type { DirectoryRow } from "../modules/htable/ban-directory.ts";
import type { Env } from "../env.ts";
import { SHARD_COUNTERS, type CounterKey } from "./counters.ts";
import type { Family, Sample } from "./exposition.ts";

export interface EdgeStatus {
  /** ms since the epoch. */
  time: number;
  shardCount: number;
  shards: ShardStatus[];
  /** Shards that did not answer the scrape. */
  unreachableShards: string[];
  destinations: DestinationStatus[];
  /** From the D1 registration index (migrations/0003); undefined when D1 did not answer. */
  registrations: { bindings: number; aors: number } | undefined;
  /** Union over the shards of the bans and watched addresses the Guards announced. */
  bans: { key: string; until: number }[];
  watched: { key: string; until: number }[];
  /** Carrier registrations (Kamailio's uac counters); undefined when D1 did not answer. */
  uac: { regtotal: number; regactive: number; regdisabled: number } | undefined;
  scrapeMs: number;
}

export function shardStub(env: Env, shard: number | string): DurableObjectStub<SipConnection> {
  return env.SIP_CONNECTION.get(env.SIP_CONNECTION.idFromName(`shard-${shard}`)) as DurableObjectStub<SipConnection>;
}

function union(lists: [string, number][][], lifted: ReadonlySet<string> = new Set()): { key: string; until: number }[] {
  const out = new Map<string, number>();
  for (const list of lists) for (const [key, until] of list) if (!lifted.has(key)) out.set(key, Math.max(until, out.get(key) ?? 0));
  return [...out].map(([key, until]) => ({ key, until })).sort((a, b) => a.key.localeCompare(b.key));
}

export async function collectEdge(env: Env): Promise<EdgeStatus> {
  const started = Date.now();
  const count = configFor(env).connectionShards;
  const [shardResults, destinations, registrations, directory, uac] = await Promise.all([
    Promise.allSettled(Array.from({ length: count }, (_, i) => shardStub(env, i).status())),
    env.DISPATCHER.get(env.DISPATCHER.idFromName("default"))
      .status()
      .catch(() => [] as DestinationStatus[]),
    env.DB.prepare("SELECT COUNT(*) AS bindings, COUNT(DISTINCT aor) AS aors FROM location_index")
      .first<{ bindings: number; aors: number }>()
      .then((r) => r ?? { bindings: 0, aors: 0 })
      .catch(() => undefined),
    // The bans that apply to every transport, and the ones lifted, as the GuardDirectory has them:
    // a shard's copy may be a second or two behind (an idle shard's longer), the directory is not.
    directoryOf(env.GUARD_DIRECTORY)
      .changes(undefined, 0)
      .then((c) => c.rows as unknown as DirectoryRow[])
      .catch(() => [] as DirectoryRow[]),
    // One D1 read and one RPC per uacreg row: carriers are a handful of rows.
    uacRegStats(env).catch(() => undefined),
  ]);
  const now = Date.now();
  const lifted = new Set(directory.filter((row) => row[3] === 1).map((row) => row[0]));
  const directoryBans: [string, number][] = directory.filter((row) => row[3] === 0 && row[1] > now).map((row) => [row[0], row[1]]);
  const directoryWatches: [string, number][] = directory.filter((row) => row[2] > now).map((row) => [row[0], row[2]]);
  const shards: ShardStatus[] = [];
  const unreachableShards: string[] = [];
  shardResults.forEach((r, i) => {
    if (r.status === "fulfilled") shards.push(r.value as ShardStatus);
    else unreachableShards.push(String(i));
  });
  return {
    time: started,
    shardCount: count,
    shards,
    unreachableShards,
    destinations: destinations as DestinationStatus[],
    registrations,
    bans: union([...shards.map((s) => s.bans), directoryBans], lifted),
    watched: union([...shards.map((s) => s.watched), directoryWatches]),
    uac,
    scrapeMs: Date.now() - started,
  };
}

function gauge(name: string, help: string, samples: Sample[]): Family {
  return { name, help, type: "gauge", samples };
}

function shardCounterFamilies(shards: readonly ShardStatus[]): Family[] {
  return (Object.keys(SHARD_COUNTERS) as CounterKey[]).map((key) => {
    const def = SHARD_COUNTERS[key];
    const samples: Sample[] = [];
    for (const s of shards) {
      for (const [label, value] of Object.entries(s.counters[key] ?? {})) {
        samples.push({ labels: def.label === undefined ? { shard: s.shard } : { shard: s.shard, [def.label]: label }, value });
      }
    }
    return { name: def.name, help: def.help + " (per shard; resets when the shard restarts)", type: "counter" as const, samples };
  });
}

function destinationFamilies(destinations: readonly DestinationStatus[]): Family[] {
  const id = (d: DestinationStatus) => ({ setid: d.setid, destination: d.uri });
  const per = (value: (d: DestinationStatus) => number | undefined): Sample[] =>
    destinations.flatMap((d) => {
      const v = value(d);
      return v === undefined ? [] : [{ labels: id(d), value: v }];
    });
  return [
    gauge("sipedge_dispatcher_destination_up", "1 when the destination is active (selectable), else 0", per((d) => (d.state === "active" ? 1 : 0))),
    gauge("sipedge_dispatcher_destination_state", "The destination's state (active, inactive, probing, trying, disabled): 1 for the current one",
      destinations.map((d) => ({ labels: { ...id(d), state: d.state }, value: 1 }))),
    gauge("sipedge_dispatcher_latency_ewma_ms", "Keepalive round trip, EWMA estimate (ds_latency_estimator_alpha), ms", per((d) => (d.latency.count > 0 ? d.latency.ewmaMs : undefined))),
    gauge("sipedge_dispatcher_latency_last_ms", "Latest answered keepalive round trip, ms", per((d) => d.latency.lastMs)),
    gauge("sipedge_dispatcher_latency_avg_ms", "Keepalive round trip, average since load, ms", per((d) => (d.latency.count > 0 ? d.latency.avgMs : undefined))),
    gauge("sipedge_dispatcher_latency_max_ms", "Keepalive round trip, maximum since load, ms", per((d) => (d.latency.count > 0 ? d.latency.maxMs : undefined))),
    { name: "sipedge_dispatcher_keepalives_total", help: "Answered keepalives (OPTIONS) since the destination set was loaded", type: "counter", samples: per((d) => d.latency.count) },
    { name: "sipedge_dispatcher_keepalive_timeouts_total", help: "Keepalives without reply since the destination set was loaded", type: "counter", samples: per((d) => d.latency.timeouts) },
  ];
}

/** The Prometheus families of one scrape. */
export function edgeFamilies(status: EdgeStatus): Family[] {
  const byShard = (value: (s: ShardStatus) => number): Sample[] => status.shards.map((s) => ({ labels: { shard: s.shard }, value: value(s) }));
  const links = new Map<string, number>();
  for (const s of status.shards) for (const l of s.bridgeLinks) links.set(l.bridge, (links.get(l.bridge) ?? 0) + 1);
  const sum = (value: (s: ShardStatus) => number) => status.shards.reduce((n, s) => n + value(s), 0);
  return [
    ...shardCounterFamilies(status.shards),
    gauge("sipedge_shard_connections", "Client WebSocket connections held by the shard", byShard((s) => s.connections)),
    gauge("sipedge_connections", "Client WebSocket connections, all shards", [{ value: sum((s) => s.connections) }]),
    gauge("sipedge_shard_registered_flows", "Connections of the shard over which a binding was registered (it may have expired since)", byShard((s) => s.registeredFlows)),
    gauge("sipedge_registrations", "Bindings in the registration index (all AORs; see README for how stale)", status.registrations ? [{ value: status.registrations.bindings }] : []),
    gauge("sipedge_registered_aors", "Addresses-of-record with at least one binding in the registration index", status.registrations ? [{ value: status.registrations.aors }] : []),
    gauge("sipedge_transactions", "Live stateful transactions (tm), per shard", byShard((s) => s.transactions)),
    gauge("sipedge_timers", "Pending tm timers (retransmissions, fr_timer, Timer C), per shard", byShard((s) => s.timers)),
    gauge("sipedge_dialogs", "Gateway calls watched for their client's flow, per shard", byShard((s) => s.dialogs)),
    gauge("sipedge_stored_transactions", "Transactions with a copy in storage, per shard", byShard((s) => s.storedTransactions)),
    gauge("sipedge_guard_entries", "Pike fast paths, bans, watched addresses and directory entries a shard holds", byShard((s) => s.guardEntries)),
    gauge("sipedge_acc_buffered", "Call records waiting for their D1 batch, per shard", byShard((s) => s.accBuffered)),
    gauge("sipedge_registration_index_pending", "AORs whose changed bindings wait for the registration index's batch, per shard", byShard((s) => s.indexPending)),
    gauge("sipedge_bridge_links_up", "Open bridge links, per bridge (one per shard when all are up)", [...links].map(([bridge, n]) => ({ labels: { bridge }, value: n }))),
    gauge("sipedge_shards", "SipConnection shards (CONNECTION_SHARDS)", [{ value: status.shardCount }]),
    gauge("sipedge_shards_unreachable", "Shards that did not answer this scrape", [{ value: status.unreachableShards.length }]),
    gauge("sipedge_ipbans_active", "Addresses banned now (htable ipban; IPv6 per /64)", [{ value: status.bans.length }]),
    gauge("sipedge_auth_watched_addresses", "Addresses with live auth failures or blocks (auth_block_list)", [{ value: status.watched.length }]),
    ...destinationFamilies(status.destinations),
    gauge("sipedge_uac_regtotal", "Carrier registrations configured (uacreg rows)", status.uac ? [{ value: status.uac.regtotal }] : []),
    gauge("sipedge_uac_regactive", "Carrier registrations registered now", status.uac ? [{ value: status.uac.regactive }] : []),
    gauge("sipedge_uac_regdisabled", "Carrier registrations disabled (uacreg flags)", status.uac ? [{ value: status.uac.regdisabled }] : []),
    gauge("sipedge_scrape_duration_ms", "Time this scrape took to collect, ms", [{ value: status.scrapeMs }]),
  ];
}

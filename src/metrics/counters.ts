/**
 * The counters one object keeps in memory (a SipConnection shard): no storage write per message;
 * the scrape collects them by RPC (src/metrics/scrape.ts). They start from zero when the object
 * restarts or is evicted, which Prometheus reads as a counter reset of that shard's series.
 */

/** Every counter a shard keeps: its Prometheus name, help and (at most one) label. */
export const SHARD_COUNTERS = {
  requests: { name: "sipedge_requests_received_total", help: "SIP requests received (from clients and through the bridge), by method", label: "method" },
  repliesReceived: { name: "sipedge_replies_received_total", help: "SIP replies received from downstream, by class", label: "class" },
  repliesSent: { name: "sipedge_replies_sent_total", help: "SIP replies sent upstream (generated or relayed), by class", label: "class" },
  malformed: { name: "sipedge_malformed_messages_total", help: "Messages that did not parse (requests answered 400/505, responses dropped)", label: undefined },
  registrations: { name: "sipedge_registrar_replies_total", help: "REGISTER final replies, by result (accepted = 2xx, challenged = 401, rejected = other)", label: "result" },
  transactionTimeouts: { name: "sipedge_transaction_timeouts_total", help: "Branches ended by fr_timer / fr_inv_timer (RFC 3261 Timer C) without a final reply", label: undefined },
  pikeDrops: { name: "sipedge_pike_drops_total", help: "Requests dropped because their source exceeded the pike density", label: undefined },
  bans: { name: "sipedge_ipban_set_total", help: "Addresses banned by this shard (htable ipban)", label: undefined },
  bannedDrops: { name: "sipedge_ipban_drops_total", help: "Requests dropped from banned addresses", label: undefined },
  authFailures: { name: "sipedge_auth_failures_total", help: "Failed digest checks counted by the auth-failure block", label: undefined },
  authBlocked: { name: "sipedge_auth_blocked_total", help: "Requests refused 403 by the auth-failure block", label: undefined },
  accRecords: { name: "sipedge_acc_records_total", help: "Call records written to D1, by method (INVITE attempt, BYE)", label: "method" },
  keepalivePings: { name: "sipedge_ws_keepalive_pings_total", help: "OPTIONS pings sent to client WebSockets that had not proven they read (WS_KEEPALIVE_INTERVAL)", label: undefined },
  keepaliveCloses: { name: "sipedge_ws_keepalive_closes_total", help: "Client WebSockets closed by the edge, by reason (keepalive-timeout: a ping unanswered for WS_KEEPALIVE_TIMEOUT; idle: no SIP message within WS_IDLE_TIMEOUT)", label: "reason" },
  registersDropped: { name: "sipedge_register_dropped_total", help: "REGISTERs dropped unrun: their socket closed while they waited for a slot of the shard's RegisterGate (the client gave up)", label: undefined },
  locationForgets: { name: "sipedge_location_forget_total", help: "Word from a Location object that its AOR's binding set changed, by whether this shard held a cached copy to drop (cached) or not (absent)", label: "copy" },
  accDropped: { name: "sipedge_acc_dropped_total", help: "Call records dropped (D1 unreachable and the buffer full)", label: undefined },
  rowsWritten: {
    name: "sipedge_storage_rows_written_total",
    help: "Storage rows written on this shard's behalf, as the platform bills them (index entries included), by store: acc and location_index (D1, as D1 reports them), location (the Location objects' SQLite, as their replies to this shard's REGISTERs and closed flows report them), dialogs, transactions and alarm (this shard's key-value storage and alarm: one row per key put or deleted, one per setAlarm)",
    label: "store",
  },
} as const;

export type CounterKey = keyof typeof SHARD_COUNTERS;

/** What a shard returns on scrape: counter → label value → count ("" without label). */
export type CounterSnapshot = Partial<Record<CounterKey, Record<string, number>>>;

export class Metrics {
  readonly #values = new Map<CounterKey, Map<string, number>>();

  inc(key: CounterKey, label = "", n = 1): void {
    let byLabel = this.#values.get(key);
    if (byLabel === undefined) {
      byLabel = new Map();
      this.#values.set(key, byLabel);
    }
    byLabel.set(label, (byLabel.get(label) ?? 0) + n);
  }

  get(key: CounterKey, label = ""): number {
    return this.#values.get(key)?.get(label) ?? 0;
  }

  snapshot(): CounterSnapshot {
    const out: CounterSnapshot = {};
    for (const [key, byLabel] of this.#values) out[key] = Object.fromEntries(byLabel);
    return out;
  }
}

// Methods are label values: an unknown one (any token is a valid method) is counted as "other",
// so a scanner cannot grow the series without bound.
const METHODS = new Set(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "MESSAGE", "INFO", "UPDATE", "PRACK", "REFER", "NOTIFY", "SUBSCRIBE", "PUBLISH"]);

export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : "other";
}

// Interned: a label built per reply was a fresh string to hash in every counter lookup.
const CLASSES = ["other", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

export function classLabel(status: number): string {
  return status >= 100 && status < 700 ? CLASSES[Math.floor(status / 100)]! : "other";
}

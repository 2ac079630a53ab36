/**
 * The registration index in D1 (`location_index`, migrations/0003; WITHOUT ROWID since 0006):
 * Durable Objects cannot be listed, so `ul dump` and the dashboard read every AOR from here. It is written when an AOR's
 * binding set changes, never on a refresh, and in batches: a shard collects the changes its
 * REGISTERs and closed flows made (`IndexBatcher`) and writes them every `flushMs` in a few
 * statements whatever their number, so a reconnect storm after a deploy (every flow closes, every
 * client registers again) costs D1 a handful of batches per shard, not two writes per client. A
 * Location object writes its own set only for changes no shard saw (expiry, `ul rm`).
 *
 * Changes may reach D1 from several shards out of order: each carries the Location object's
 * version, `location_index_version` keeps the highest applied per AOR, and a set older than it is
 * not applied. A flow's rows are deleted whatever the version: a closed flow never returns.
 */
import type { Logger } from "../src/log.ts";
import type { Binding } from "../src/modules/registrar/index.ts";
import { col, jsonChunks, rowsWrittenBy, type SqlDatabase, type SqlStatement } from "../src/provisioning/db.ts";

/** One AOR's pending change: its whole binding set, or flows whose bindings went. */
export type IndexChange =
  | { kind: "set"; aor: string; version: number; bindings: readonly Binding[] }
  | { kind: "flows-gone"; aor: string; version: number; flows: string[] };

/** A binding's identity within its AOR (the Location object's key). */
export function bindingKey(b: Binding): string {
  return b.instance === undefined ? `c:${b.contact}` : `i:${b.instance};${b.regId ?? ""}`;
}

const COLUMNS = ["aor", "binding_key", "contact", "expires", "q", "user_agent", "received", "flow_token", "flow_shard", "instance", "reg_id", "last_modified", "version", "indexed_at"] as const;

const UPSERT_VERSIONS = `INSERT INTO location_index_version (aor, version, changed_at)
  SELECT ${col(0)}, ${col(1)}, ${col(2)} FROM json_each(?1) WHERE true
  ON CONFLICT (aor) DO UPDATE SET version = excluded.version, changed_at = excluded.changed_at
  WHERE excluded.version > location_index_version.version`;
// A set is applied only where its version is the one now recorded (it was the newest).
const DELETE_SETS = `DELETE FROM location_index WHERE aor IN (
  SELECT ${col(0)} FROM json_each(?1) WHERE ${col(1)} = (SELECT version FROM location_index_version v WHERE v.aor = ${col(0)}))`;
const INSERT_ROWS = `INSERT OR REPLACE INTO location_index (${COLUMNS.join(", ")})
  SELECT ${COLUMNS.map((_, i) => col(i)).join(", ")} FROM json_each(?1)
  WHERE ${col(12)} = (SELECT version FROM location_index_version v WHERE v.aor = ${col(0)})`;
const DELETE_FLOWS = `DELETE FROM location_index WHERE flow_token IN (SELECT value FROM json_each(?1))`;

function row(aor: string, version: number, b: Binding, now: number): unknown[] {
  const token = b.flowToken ?? "";
  const dot = token.indexOf(".");
  return [aor, bindingKey(b), b.contact, b.expires, b.q, b.userAgent ?? "", b.received ?? "", token, dot > 0 ? token.slice(0, dot) : "", b.instance ?? "", b.regId ?? 0, b.lastModified, version, now];
}

/** The statements that apply `changes`, in one D1 batch: versions, then sets, then gone flows. */
export function indexStatements(db: SqlDatabase, changes: readonly IndexChange[], now = Date.now()): SqlStatement[] {
  const versions = changes.map((c) => [c.aor, c.version, now]);
  const sets = changes.filter((c) => c.kind === "set");
  const rows = sets.flatMap((c) => c.bindings.filter((b) => b.expires > now).map((b) => row(c.aor, c.version, b, now)));
  const flows = changes.flatMap((c) => (c.kind === "flows-gone" ? c.flows : []));
  return [
    ...jsonChunks(db, UPSERT_VERSIONS, versions),
    ...jsonChunks(db, DELETE_SETS, sets.map((c) => [c.aor, c.version])),
    ...jsonChunks(db, INSERT_ROWS, rows),
    ...jsonChunks(db, DELETE_FLOWS, flows),
  ];
}

export interface IndexBatcherOptions {
  db: SqlDatabase;
  log: Logger;
  /** Keeps the object alive while a flush runs (DO `waitUntil`). */
  waitUntil: (promise: Promise<unknown>) => void;
  flushMs?: number;
  /** The wait after a write that carried more than `busyAors` AORs (a reconnect storm, a busy shard). */
  busyFlushMs?: number;
  busyAors?: number;
  /** AORs with a pending change beyond this are dropped (their next change rewrites them). */
  maxPending?: number;
  /** A batch reached D1: the rows D1 says it wrote (index entries included). */
  onWritten?: (rowsWritten: number) => void;
}

/**
 * A shard's pending index changes, one per AOR (a newer set replaces what was pending; flows gone
 * after a pending set are taken out of it), written `flushMs` (default 1 s) after the first one.
 * Once a write carried more than `busyAors` (8) AORs, the next waits `busyFlushMs` (5 s): a D1
 * request costs about as much as the rows it carries, and in a reconnect storm an AOR changes
 * once per device within seconds, so a longer wait writes each AOR's set fewer times and sends D1
 * a fifth of the requests (measured: bench/README.md, "Re-registration storm, round 10").
 * A D1 error keeps them for the next flush, backing off to a minute; a missing table (migrations
 * not applied) is reported once and turns the index off in this object.
 */
export class IndexBatcher {
  readonly #options: Required<Pick<IndexBatcherOptions, "flushMs" | "busyFlushMs" | "busyAors" | "maxPending">> & IndexBatcherOptions;
  #pending = new Map<string, IndexChange>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #off = false;
  /** The wait before the next write: `busyFlushMs` after a large one. */
  #wait: number;

  constructor(options: IndexBatcherOptions) {
    this.#options = { flushMs: 1000, busyFlushMs: 5000, busyAors: 8, maxPending: 50_000, ...options };
    this.#wait = this.#options.flushMs;
  }

  /** How long a change may wait now before it is written, ms. */
  get wait(): number {
    return this.#wait;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** A REGISTER changed the AOR's set: this is the whole set at `version`. */
  set(aor: string, version: number, bindings: readonly Binding[]): void {
    const was = this.#pending.get(aor);
    if (was !== undefined && was.version > version) return;
    this.#put({ kind: "set", aor, version, bindings });
  }

  /** A closed flow's bindings were removed from the AOR (now at `version`). */
  flowGone(aor: string, version: number, flow: string): void {
    const was = this.#pending.get(aor);
    if (was?.kind === "set" && was.version < version) {
      this.#put({ kind: "set", aor, version, bindings: was.bindings.filter((b) => b.flowToken !== flow) });
    } else if (was?.kind === "flows-gone") {
      this.#put({ kind: "flows-gone", aor, version: Math.max(version, was.version), flows: [...was.flows, flow] });
    } else if (was === undefined) {
      this.#put({ kind: "flows-gone", aor, version, flows: [flow] });
    }
  }

  /** Writes what is pending now (tests, shutdown). */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0 || this.#off) return;
    const batch = this.#pending;
    this.#pending = new Map();
    this.#wait = batch.size > this.#options.busyAors ? this.#options.busyFlushMs : this.#options.flushMs;
    try {
      const results = await this.#options.db.batch(indexStatements(this.#options.db, [...batch.values()]));
      this.#failures = 0;
      this.#options.onWritten?.(rowsWrittenBy(results));
    } catch (error) {
      if (String(error).includes("no such table")) {
        this.#off = true;
        this.#options.log.error("location index missing: apply the D1 migrations (wrangler d1 migrations apply DB)", { error: String(error) });
        return;
      }
      this.#failures++;
      // Keep each AOR's change unless a newer one arrived meanwhile.
      for (const [aor, change] of batch) if (!this.#pending.has(aor)) this.#pending.set(aor, change);
      this.#options.log.warn("location index write failed, kept for the next flush", { error: String(error), pending: this.#pending.size });
      this.#schedule(Math.min(60_000, this.#options.flushMs * 2 ** this.#failures));
    }
  }

  #put(change: IndexChange): void {
    if (this.#off) return;
    if (!this.#pending.has(change.aor) && this.#pending.size >= this.#options.maxPending) return;
    this.#pending.set(change.aor, change);
    this.#schedule(this.#wait);
  }

  #schedule(ms: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#options.waitUntil(this.flush());
    }, ms);
  }
}

/** One info line per binding added or removed: what Kamailio's default script prints with xlog. */
export function logBindingChanges(log: Logger, aor: string, before: readonly Binding[], after: readonly Binding[], now: number): void {
  if (!log.enabled("info")) return;
  const old = new Map(before.map((b) => [bindingKey(b), b]));
  for (const b of after) {
    const was = old.get(bindingKey(b));
    old.delete(bindingKey(b));
    if (was === undefined || was.contact !== b.contact || was.flowToken !== b.flowToken) {
      log.info("registered", { aor, contact: b.contact, expiresS: Math.round((b.expires - now) / 1000), userAgent: b.userAgent, received: b.received });
    }
  }
  for (const b of old.values()) log.info("unregistered", { aor, contact: b.contact, reason: b.expires <= now ? "expired" : "removed" });
}

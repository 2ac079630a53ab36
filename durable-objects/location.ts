import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env.ts";
import { configFor } from "../src/config.ts";
import { createLogger, type Logger } from "../src/log.ts";
import type { SqlDatabase } from "../src/provisioning/db.ts";
import { indexStatements, logBindingChanges } from "./location-index.ts";
import {
  createRegistrar,
  expireBindings,
  lookup,
  nextExpiry,
  removeFlow,
  sameRoute,
  type Binding,
  type LookupResult,
  type RegisterInput,
  type Registrar,
  type RegistrarConfig,
  type SaveFailure,
} from "../src/modules/registrar/index.ts";
import { CallTable, type CallCountService, type CallStart } from "../src/modules/calllimit/index.ts";
import { FRESH_SCHEMA, MIGRATIONS, SCHEMA_VERSION, bindingOf, keyOf, sameTimes, str, writeBinding, type Row } from "./location-rows.ts";
import { CopyHolders, copyLease, shardOfFlow } from "./location-copies.ts";
import { COPY_TTL_MS } from "../src/modules/registrar/location-client.ts";

/** The answer to a REGISTER: what the 200 carries, or the registrar's error answer. */
export type LocationSaveReply =
  | {
      ok: true;
      status: 200;
      reason: "OK";
      contacts: string[];
      headers: [name: string, value: string][];
      version: number;
      bindings: Binding[];
      /** The binding set changed (not a plain refresh): the shard writes it to the registration index. */
      changed: boolean;
      /** The caller may keep `bindings` to answer refreshes: this object will tell it of a change (location-copies.ts). */
      copy: boolean;
      /** Rows this REGISTER wrote, as the platform bills them (the shard's `sipedge_storage_rows_written_total`). */
      rowsWritten: number;
    }
  | (SaveFailure & { version: number });

export type LocationLookup = LookupResult & { version: number };

export interface LocationRemoval {
  removed: number;
  version: number;
  /** Rows the removal wrote, as the platform bills them. */
  rowsWritten?: number;
}

/** `kamcmd ul.show` for one AOR. */
export interface LocationDump {
  aor: string | undefined;
  version: number;
  bindings: Binding[];
}

/**
 * A refresh (same contact, flow and path; only expiry and CSeq move) is written only when the
 * stored expiry is closer than this fraction of the newly granted interval. While it is further
 * away, the stored expiry still covers a client that refreshes at least every half interval, so
 * an eviction or a restart (which lose the memory) cannot drop its binding before its next
 * refresh, and that refresh is then written. The price: a client that refreshes early and then
 * falls silent loses its binding up to half an interval sooner than granted (never later).
 * Clients that refresh past the half (JsSIP: 50–100 %, SIP.js: 99 % of the interval) write at
 * every refresh; DESIGN.md §3's write-nothing refresh needs the caller to answer those from its
 * cached binding list, keyed by `version`.
 */
export const REFRESH_HORIZON = 0.5;

/**
 * Location: the registrations of one address-of-record (`idFromName(aor)`), Kamailio's usrloc
 * for that AOR. The binding list is kept in memory and in SQLite, which is the truth across
 * evictions and restarts; the registrar rules themselves are the pure `src/modules/registrar`.
 * `version` grows with every change of the binding set (added, removed, re-pointed), never with
 * a plain refresh, so callers can cache lookups by it.
 */
export class Location extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private bindingList: Binding[];
  /** What SQLite holds, by key: the rows as last written. */
  private readonly stored = new Map<string, Binding>();
  private currentVersion: number;
  /** The shard of the REGISTER being saved: it learns the change from the reply and drops its copy (notifyShards). */
  private changingShard: string | undefined;
  /** The shards that may hold a copy of the binding list: the ones a change must tell. */
  private readonly copies: CopyHolders;
  /** Until when copies this object handed may live, as its meta row says (location-copies.ts). */
  private copiesUntil: number;
  private aor: string | undefined;
  /** The AOR's meta row: written with the first change, never again. */
  private storedAor: string | undefined;
  private alarmAt: number | undefined;
  private readonly registrars = new Map<string, Registrar>();
  private schemaReady: boolean;
  /**
   * Rows written since the object started, as the platform bills them: each statement's
   * `rowsWritten` (index entries included) and one per `setAlarm`. Replies to shards carry their
   * share, which the shards count in /metrics.
   */
  private written = 0;
  /** Registration lines (registered / unregistered) at info. */
  private readonly log: Logger;
  /** The AOR's calls in progress (MAX_CALLS_PER_USER), created by the first call method. */
  private callTable: CallTable | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.log = createLogger(configFor(env).logLevel);
    this.sql = ctx.storage.sql;
    // An AOR that never registered (a lookup for an unknown user) gets no tables: creating them
    // would be a write per scanner request.
    this.schemaReady = this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").toArray().length > 0;
    // Every meta row in one read: each statement is a price paid by every AOR after a deploy.
    const meta = new Map<string, SqlStorageValue>();
    if (this.schemaReady) {
      for (const row of this.sql.exec<{ key: string; value: SqlStorageValue }>("SELECT key, value FROM meta")) meta.set(row.key, row.value);
      this.migrate(Number(meta.get("schema") ?? 0));
      for (const row of this.sql.exec<Row>("SELECT * FROM binding")) this.stored.set(String(row["key"]), bindingOf(row));
    }
    this.bindingList = [...this.stored.values()];
    this.currentVersion = Number(meta.get("version") ?? 0);
    this.storedAor = str(meta.get("aor"));
    this.copiesUntil = Number(meta.get("copies_until") ?? 0);
    this.copies = new CopyHolders(this.copiesUntil);
    this.aor = ctx.id.name ?? this.storedAor;
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = (await ctx.storage.getAlarm()) ?? undefined;
    });
  }

  /**
   * Kamailio `save("location")` for this AOR. `config` is the route script's registrar
   * configuration (`registrar.config`); absent fields take Kamailio's defaults.
   */
  async save(input: RegisterInput, config?: Partial<RegistrarConfig>): Promise<LocationSaveReply> {
    const registrar = this.registrarFor(config);
    const now = Date.now();
    const before = this.bindingList;
    const written = this.written;
    const result = registrar.save(before, input, now);
    if (!result.ok) return { ...result, version: this.currentVersion };
    this.aor ??= input.aor;
    this.bindingList = result.bindings;
    this.changingShard = shardOfFlow(input.flowToken);
    const changed = this.persist(now, false, "shard");
    this.changingShard = undefined;
    const copy = !changed && this.handCopy(before, input.flowToken, now);
    await this.scheduleAlarm();
    const reply = registrar.saveReply(this.bindingList, input, now);
    // The bindings travel back so the caller can answer the next refreshes from its cache (with
    // `copy`), and index a changed set (durable-objects/location-index.ts).
    return { ok: true, ...reply, version: this.currentVersion, bindings: this.bindingList, changed, copy, rowsWritten: this.written - written };
  }

  /**
   * Whether the refresh of `flowToken` gets a copy of the binding list: only a client that
   * refreshed that flow within COPY_TTL_MS (a slower one's copy would expire unused), on a flow
   * whose shard can be named and told. The lease in the meta row is extended when it would run
   * out within COPY_TTL_MS, so a later incarnation knows the copies may still live.
   */
  private handCopy(before: readonly Binding[], flowToken: string | undefined, now: number): boolean {
    const shard = shardOfFlow(flowToken);
    if (shard === undefined || !before.some((b) => b.flowToken === flowToken && b.lastModified >= now - COPY_TTL_MS)) return false;
    if (this.copiesUntil < now + COPY_TTL_MS) {
      this.copiesUntil = copyLease(now);
      if (!this.schemaReady) this.migrate(0);
      this.setMeta("copies_until", this.copiesUntil);
    }
    this.copies.handedTo(shard);
    return true;
  }

  /** Kamailio `lookup("location")`: q-ordered targets with their flow tokens. */
  async lookup(): Promise<LocationLookup> {
    return { ...lookup(this.bindingList, Date.now()), version: this.currentVersion };
  }

  /** The current version, for a caller that holds a cached binding list. */
  async version(): Promise<number> {
    return this.currentVersion;
  }

  /** A flow's socket closed (Kamailio `handle_lost_tcp`): drop its bindings. */
  async removeFlow(flowToken: string): Promise<LocationRemoval> {
    const { bindings, removed } = removeFlow(this.bindingList, flowToken);
    const written = this.written;
    if (removed.length > 0) {
      this.bindingList = bindings;
      this.persist(Date.now(), false, "shard");
    }
    return { removed: removed.length, version: this.currentVersion, rowsWritten: this.written - written };
  }

  /** The live bindings (admin API). */
  async bindings(): Promise<LocationDump> {
    const now = Date.now();
    return { aor: this.aor, version: this.currentVersion, bindings: this.bindingList.filter((b) => b.expires > now) };
  }

  /** Removes every binding (admin API, `kamcmd ul.rm`). */
  async clear(): Promise<LocationRemoval> {
    const now = Date.now();
    const removed = this.bindingList.filter((b) => b.expires > now).length;
    this.bindingList = [];
    this.persist(now, false, "self");
    if (this.alarmAt !== undefined) {
      await this.ctx.storage.deleteAlarm();
      this.alarmAt = undefined;
    }
    return { removed, version: this.currentVersion };
  }

  /** MAX_CALLS_PER_USER: counts a call this AOR places (for `ttlMs` at most), unless `limit` are in progress. */
  async callStart(callId: string, limit: number, ttlMs: number): Promise<CallStart> {
    return this.calls().start(callId, limit, ttlMs);
  }

  /** The call ended (final failure, CANCEL, BYE); false when this AOR did not place it. */
  async callEnd(callId: string): Promise<boolean> {
    return this.calls().end(callId);
  }

  /** Calls this AOR has in progress (admin, tests). */
  async callsActive(): Promise<number> {
    return this.calls().active();
  }

  private calls(): CallTable {
    return (this.callTable ??= new CallTable(this.ctx.storage));
  }

  /** usrloc's timer: drop expired bindings, write what only memory knows, re-arm. */
  override async alarm(): Promise<void> {
    this.alarmAt = undefined;
    const now = Date.now();
    this.bindingList = expireBindings(this.bindingList, now).bindings;
    this.persist(now, true, "self");
    await this.scheduleAlarm();
  }

  private registrarFor(config: Partial<RegistrarConfig> | undefined): Registrar {
    const key = config === undefined ? "" : JSON.stringify(config);
    let registrar = this.registrars.get(key);
    if (!registrar) {
      registrar = createRegistrar(config);
      if (this.registrars.size > 8) this.registrars.clear();
      this.registrars.set(key, registrar);
    }
    return registrar;
  }

  /**
   * Writes the difference between the binding list and what SQLite holds, in one transaction:
   * changed or new bindings, removed ones, refreshes only past REFRESH_HORIZON (or all of them
   * with `flush`). A change of the binding set bumps the version in the same transaction.
   */
  private persist(now: number, flush: boolean, indexedBy: "shard" | "self"): boolean {
    const upserts: Binding[] = [];
    const keep = new Set<string>();
    let changed = false;
    for (const b of this.bindingList) {
      const key = keyOf(b);
      keep.add(key);
      const old = this.stored.get(key);
      if (!old || !sameRoute(old, b)) {
        changed = true;
        upserts.push(b);
      } else if (!sameTimes(old, b) && (flush || old.expires - now < (b.expires - now) * REFRESH_HORIZON)) {
        upserts.push(b);
      }
    }
    const deletes = [...this.stored.keys()].filter((k) => !keep.has(k));
    if (deletes.length > 0) changed = true;
    if (upserts.length === 0 && !changed) return false;
    if (changed) {
      this.currentVersion++;
      this.notifyShards([...this.stored.values(), ...this.bindingList]);
      if (this.aor !== undefined) {
        logBindingChanges(this.log, this.aor, [...this.stored.values()], this.bindingList, now);
        // Changes made through a shard are indexed by it, in its batch; the others here.
        if (indexedBy === "self") this.indexSelf(this.aor, now);
      }
    }
    if (!this.schemaReady) this.migrate(0);
    const aor = changed && this.aor !== this.storedAor ? this.aor : undefined;
    this.ctx.storage.transactionSync(() => {
      for (const key of deletes) this.write("DELETE FROM binding WHERE key = ?", key);
      for (const b of upserts) this.writeRow(b);
      if (changed) this.setMeta("version", this.currentVersion);
      if (aor !== undefined) this.setMeta("aor", aor);
    });
    if (aor !== undefined) this.storedAor = aor;
    for (const key of deletes) this.stored.delete(key);
    for (const b of upserts) this.stored.set(keyOf(b), b);
    return changed;
  }

  /** Writes this AOR's set to the registration index (expiry, `ul rm`: no shard saw the change). */
  private indexSelf(aor: string, now: number): void {
    const db: SqlDatabase = this.env.DB;
    const write = db.batch(indexStatements(db, [{ kind: "set", aor, version: this.currentVersion, bindings: this.bindingList }], now));
    this.ctx.waitUntil(write.catch((error: unknown) => this.log.warn("location index write failed", { aor, error: String(error) })));
  }

  /**
   * Shards answer refreshes from a cached binding list (LocationClient); when the set changes,
   * every shard that may hold one drops its copy (location-copies.ts), so a 200 answered there
   * never misses a binding another shard added or shows one that is gone. The shard whose
   * REGISTER made the change learns it from the reply (and keeps no copy) and is not told.
   */
  private notifyShards(bindings: readonly Binding[]): void {
    if (this.aor === undefined) return;
    const aor = this.aor;
    for (const shard of this.copies.toTell(bindings.map((b) => b.flowToken), this.changingShard, Date.now())) {
      const stub = this.env.SIP_CONNECTION.get(this.env.SIP_CONNECTION.idFromName(`shard-${shard}`)) as unknown as { forgetLocation(aor: string): Promise<void> };
      this.ctx.waitUntil(stub.forgetLocation(aor).catch(() => undefined));
    }
  }

  private writeRow(b: Binding): void {
    this.written += writeBinding(this.sql, b);
  }

  /**
   * The alarm only needs to fire no later than the earliest expiry: one that fires early (the
   * binding was refreshed or removed meanwhile) re-arms itself, so a refresh sets no alarm.
   */
  private async scheduleAlarm(): Promise<void> {
    const next = nextExpiry(this.bindingList);
    if (next === undefined || (this.alarmAt !== undefined && this.alarmAt <= next)) return;
    this.alarmAt = next;
    this.written++;
    await this.ctx.storage.setAlarm(next);
  }

  /**
   * Brings the schema from `stored` (its meta row; 0 = no tables yet) to SCHEMA_VERSION: a new
   * object creates the latest tables at once, an older one upgrades one transaction per step.
   */
  private migrate(stored: number): void {
    if (stored > SCHEMA_VERSION) throw new Error(`Location: stored schema ${stored} is newer than this code (${SCHEMA_VERSION})`);
    // Each step: the version it reaches and its statements, run in one transaction with the meta row.
    const steps: [number, readonly string[]][] = stored === 0
      ? [[SCHEMA_VERSION, FRESH_SCHEMA]]
      : MIGRATIONS.map((statements, version): [number, readonly string[]] => [version, statements]).slice(stored + 1);
    for (const [version, statements] of steps) {
      this.ctx.storage.transactionSync(() => {
        for (const statement of statements) this.write(statement);
        this.setMeta("schema", version);
      });
    }
    this.schemaReady = true;
  }

  private setMeta(key: string, value: SqlStorageValue): void {
    // An upsert: an existing key is updated in place (one row written, not a delete and an insert).
    this.write("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  /** Runs a statement that writes, counting its rows. */
  private write(query: string, ...bindings: SqlStorageValue[]): void {
    this.written += this.sql.exec(query, ...bindings).rowsWritten;
  }
}

/** The Location object of an AOR (normalised by the caller with `aorOf`). */
export function locationOf(ns: DurableObjectNamespace<Location>, aor: string): DurableObjectStub<Location> {
  return ns.get(ns.idFromName(aor));
}

/** The per-user call counters (MAX_CALLS_PER_USER), one per AOR in its Location object. */
export function callCountService(ns: DurableObjectNamespace<Location>, isSubscriber: (user: string, domain: string) => Promise<boolean>): CallCountService {
  return {
    start: (aor, callId, limit, ttlMs) => locationOf(ns, aor).callStart(callId, limit, ttlMs),
    end: (aor, callId) => locationOf(ns, aor).callEnd(callId),
    isSubscriber,
  };
}

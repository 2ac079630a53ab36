/**
 * The operations side of a SipConnection shard, kept out of the SIP path: its counters
 * (src/metrics), its call records (src/modules/acc) and what it reports on scrape. The shard
 * wraps what it injects with these (transports, guard service, tm events) and answers `status()`.
 */
import type { Logger } from "../src/log.ts";
import { Metrics, type CounterSnapshot } from "../src/metrics/counters.ts";
import { countingTransport, instrumentGuard, messageCounter, type MessageCounter } from "../src/metrics/instrument.ts";
import { Acc, AccWriter } from "../src/modules/acc/index.ts";
import type { GuardService } from "../src/modules/pike/script.ts";
import type { Tm, TmEvents } from "../src/modules/tm/index.ts";
import type { LocationStub } from "../src/modules/registrar/location-client.ts";
import type { Transport } from "../src/routing/context.ts";
import type { BridgeAttachment } from "./bridge-links.ts";
import type { Connection } from "./connections.ts";
import { yieldToMessages } from "./yield.ts";
import { IndexBatcher } from "./location-index.ts";
import { meteredStorage } from "./metered-storage.ts";

/** One shard's view, returned by `SipConnection.status()` on every scrape. */
export interface ShardStatus {
  shard: string;
  counters: CounterSnapshot;
  /** Client WebSockets (bridge links not counted). */
  connections: number;
  /** Client sockets that registered at least one binding, and the AORs they registered. */
  registeredFlows: number;
  registeredAors: number;
  bridgeLinks: { bridge: string; advertise: string; connectedAt: number }[];
  /** Live stateful transactions (tm response contexts). */
  transactions: number;
  /** Call records waiting for their D1 batch. */
  accBuffered: number;
  /** AORs whose changed binding set waits for the registration index's batch. */
  indexPending: number;
  /** tm timers pending (retransmissions, fr_timer, Timer C ...). */
  timers: number;
  /** Gateway calls watched for their client's flow (DialogStore). */
  dialogs: number;
  /** Transactions with a copy in storage (ringing INVITEs kept across an eviction). */
  storedTransactions: number;
  /** Entries of the shard's GuardClient: pike fast paths, bans, watched addresses, directory copy. */
  guardEntries: number;
  /** Bans and watched addresses the Guards announced, `[key, until]`. */
  bans: [string, number][];
  watched: [string, number][];
}

/** Sockets a status reads before it lets the shard's queued messages run. */
const STATUS_SLICE = 2000;

export class ShardOps {
  readonly metrics = new Metrics();
  readonly counter: MessageCounter = messageCounter(this.metrics);
  readonly acc: Acc;
  readonly tmEvents: TmEvents;
  readonly #accWriter: AccWriter;
  readonly #index: IndexBatcher;
  readonly #ctx: DurableObjectState;
  readonly #shard: string;

  constructor(ctx: DurableObjectState, db: D1Database, log: Logger, shard: string) {
    this.#ctx = ctx;
    this.#shard = shard;
    this.#accWriter = new AccWriter({
      db,
      waitUntil: (p) => ctx.waitUntil(p),
      onWritten: (records, rows) => {
        for (const r of records) this.metrics.inc("accRecords", r.method);
        this.metrics.inc("rowsWritten", "acc", rows);
      },
      onDropped: (n) => this.metrics.inc("accDropped", "", n),
      onError: (error, buffered) => log.warn("acc: D1 write failed, records kept", { error: String(error), buffered }),
    });
    this.acc = new Acc({ sink: this.#accWriter, log, shard });
    this.#index = new IndexBatcher({ db, log, waitUntil: (p) => ctx.waitUntil(p), onWritten: (rows) => this.metrics.inc("rowsWritten", "location_index", rows) });
    this.tmEvents = {
      branchTimeout: () => this.metrics.inc("transactionTimeouts"),
      finalReply: this.acc.events.finalReply,
    };
  }

  /**
   * The shard's storage for `store` (its dialogs, its stored transactions, its alarm), with the
   * rows each write is billed counted in `sipedge_storage_rows_written_total`.
   */
  storage(store: "dialogs" | "transactions" | "alarm"): DurableObjectStorage {
    return meteredStorage(this.#ctx.storage, (rows) => this.metrics.inc("rowsWritten", store, rows));
  }

  transport(transport: Transport): Transport {
    return countingTransport(transport, this.metrics);
  }

  guard(guard: GuardService): GuardService {
    return instrumentGuard(guard, this.metrics);
  }

  /**
   * A Location stub whose changes reach the registration index: a REGISTER that changed the
   * AOR's set, and a closed flow whose bindings went, are batched here (location-index.ts).
   */
  indexed(stub: LocationStub, aor: string): LocationStub {
    const index = this.#index;
    const metrics = this.metrics;
    return {
      async save(input, config) {
        const reply = await stub.save(input, config);
        if (reply.ok) metrics.inc("rowsWritten", "location", reply.rowsWritten ?? 0);
        if (reply.ok && reply.changed === true && reply.bindings !== undefined) index.set(input.aor, reply.version, reply.bindings);
        return reply;
      },
      lookup: () => stub.lookup(),
      async removeFlow(flow) {
        const removal = (await stub.removeFlow(flow)) as { removed?: number; version?: number; rowsWritten?: number } | undefined;
        metrics.inc("rowsWritten", "location", removal?.rowsWritten ?? 0);
        if ((removal?.removed ?? 0) > 0 && removal?.version !== undefined) index.flowGone(aor, removal.version, flow);
        return removal;
      },
    };
  }

  /** Writes buffered call records and index changes now (tests; both flush by themselves within a second). */
  async flush(): Promise<void> {
    await Promise.all([this.#accWriter.flush(), this.#index.flush()]);
  }

  /**
   * The shard's figures for the scrape, the admin API and the dashboard (every 2 s per open page).
   * Client sockets are read from their in-memory connections (`connectionOf`), not by deserializing
   * each attachment (≈ 2 µs a socket; ≈ 1 µs now), and in slices of STATUS_SLICE with the shard's
   * queued messages in between (bench/README, "Idle sockets").
   */
  async status(
    tm: Tm,
    known: { bans: [string, number][]; watched: [string, number][] },
    tables: Pick<ShardStatus, "timers" | "dialogs" | "storedTransactions" | "guardEntries">,
    connectionOf: (ws: WebSocket) => Pick<Connection, "bridge" | "attachment">,
  ): Promise<ShardStatus> {
    let connections = 0;
    let registeredFlows = 0;
    const aors = new Set<string>();
    const bridgeLinks: ShardStatus["bridgeLinks"] = [];
    let n = 0;
    for (const ws of this.#ctx.getWebSockets()) {
      if (++n % STATUS_SLICE === 0) await yieldToMessages();
      const conn = connectionOf(ws);
      if (conn.bridge !== undefined) {
        // A link's attachment changes after it opens (its hello): read as stored. Links are few.
        const b = ws.deserializeAttachment() as BridgeAttachment;
        if (ws.readyState === WebSocket.OPEN) {
          bridgeLinks.push({ bridge: b.bridge, advertise: b.advertise ? `${b.advertise.host}:${b.advertise.port ?? 5060}` : "", connectedAt: b.connectedAt });
        }
        continue;
      }
      connections++;
      const a = conn.attachment;
      if (a.aors.length > 0) {
        registeredFlows++;
        for (const aor of a.aors) aors.add(aor);
      }
    }
    return {
      shard: this.#shard,
      counters: this.metrics.snapshot(),
      connections,
      registeredFlows,
      registeredAors: aors.size,
      bridgeLinks,
      transactions: tm.size,
      ...tables,
      accBuffered: this.#accWriter.buffered,
      indexPending: this.#index.pending,
      bans: known.bans,
      watched: known.watched,
    };
  }
}

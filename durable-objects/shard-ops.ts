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
import type { Transport } from "../src/routing/context.ts";
import type { BridgeAttachment } from "./bridge-links.ts";

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
  /** Bans and watched addresses the Guards announced, `[key, until]`. */
  bans: [string, number][];
  watched: [string, number][];
}

export class ShardOps {
  readonly metrics = new Metrics();
  readonly counter: MessageCounter = messageCounter(this.metrics);
  readonly acc: Acc;
  readonly tmEvents: TmEvents;
  readonly #accWriter: AccWriter;
  readonly #ctx: DurableObjectState;
  readonly #shard: string;

  constructor(ctx: DurableObjectState, db: D1Database, log: Logger, shard: string) {
    this.#ctx = ctx;
    this.#shard = shard;
    this.#accWriter = new AccWriter({
      db,
      waitUntil: (p) => ctx.waitUntil(p),
      onWritten: (records) => {
        for (const r of records) this.metrics.inc("accRecords", r.method);
      },
      onDropped: (n) => this.metrics.inc("accDropped", "", n),
      onError: (error, buffered) => log.warn("acc: D1 write failed, records kept", { error: String(error), buffered }),
    });
    this.acc = new Acc({ sink: this.#accWriter, log, shard });
    this.tmEvents = {
      branchTimeout: () => this.metrics.inc("transactionTimeouts"),
      finalReply: this.acc.events.finalReply,
    };
  }

  transport(transport: Transport): Transport {
    return countingTransport(transport, this.metrics);
  }

  guard(guard: GuardService): GuardService {
    return instrumentGuard(guard, this.metrics);
  }

  /** Writes buffered call records now (tests; the writer flushes by itself within a second). */
  flushAcc(): Promise<void> {
    return this.#accWriter.flush();
  }

  status(tm: Tm, known: { bans: [string, number][]; watched: [string, number][] }): ShardStatus {
    let connections = 0;
    let registeredFlows = 0;
    const aors = new Set<string>();
    const bridgeLinks: ShardStatus["bridgeLinks"] = [];
    for (const ws of this.#ctx.getWebSockets()) {
      const a = ws.deserializeAttachment() as { kind?: string; aors?: string[] } | null;
      if (a?.kind === "bridge") {
        const b = a as BridgeAttachment;
        if (ws.readyState === WebSocket.OPEN) {
          bridgeLinks.push({ bridge: b.bridge, advertise: b.advertise ? `${b.advertise.host}:${b.advertise.port ?? 5060}` : "", connectedAt: b.connectedAt });
        }
        continue;
      }
      connections++;
      if (a?.aors !== undefined && a.aors.length > 0) {
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
      accBuffered: this.#accWriter.buffered,
      bans: known.bans,
      watched: known.watched,
    };
  }
}

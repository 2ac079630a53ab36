/**
 * The acc module of one owning object (a SipConnection shard): the route script flags requests
 * (`ctx.acc.setFlag()`, Kamailio `setflag(FLT_ACC)`), tm reports each transaction's final reply
 * (`events.finalReply`), and a flagged request's record goes to the sink (a batching D1 writer)
 * with one info line in the log, as the seed's `xlog` lines would print.
 */
import type { Logger } from "../../log.ts";
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import type { BranchView, TmEvents, TransactionView } from "../tm/index.ts";
import { buildRecord, type AccRecord, type AccRequestInfo } from "./record.ts";

export interface AccSink {
  push(record: AccRecord): void;
}

export interface AccOptions {
  sink: AccSink;
  log: Logger;
  /** Names the owning object in records (the shard number). */
  shard: string;
  clock?: () => number;
}

interface Final {
  response: SipResponse;
  branches: readonly BranchView[];
  at: number;
}

/** Answered calls remembered for the hang-up line (duration), per object; bounded. */
const MAX_ANSWERED = 10_000;

export class Acc {
  readonly events: Required<Pick<TmEvents, "finalReply">>;
  readonly #options: AccOptions;
  readonly #clock: () => number;
  readonly #flagged = new WeakMap<SipRequest, AccRequestInfo>();
  /** Finals that came before the script flagged (a relay that failed at once). */
  readonly #finals = new WeakMap<SipRequest, Final>();
  readonly #answered = new Map<string, { answeredAt: number; fromTag: string }>();

  constructor(options: AccOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.events = { finalReply: (tx, response) => this.#finalReply(tx, response) };
  }

  /**
   * Kamailio `setflag(FLT_ACC)`: the request is recorded when its final reply goes out. A request
   * the script already answered statelessly (`sl_send_reply`) is recorded with that reply at once
   * (Kamailio `acc_db_request`); one whose transaction already ended, with its final.
   */
  flag(info: AccRequestInfo, statelessReply: SipResponse | undefined): void {
    const request = info.request;
    if (statelessReply !== undefined && statelessReply.status >= 200) {
      this.#record(info, { response: statelessReply, branches: [], at: this.#clock() });
      return;
    }
    const final = this.#finals.get(request);
    if (final !== undefined) {
      this.#finals.delete(request);
      this.#record(info, final);
      return;
    }
    this.#flagged.set(request, info);
  }

  #finalReply(tx: TransactionView, response: SipResponse): void {
    const request = tx.request;
    if (request.method !== "INVITE" && request.method !== "BYE") return;
    const final: Final = { response, branches: tx.branches, at: this.#clock() };
    const info = this.#flagged.get(request);
    if (info === undefined) {
      this.#finals.set(request, final);
      return;
    }
    this.#flagged.delete(request);
    this.#record(info, final);
  }

  #record(info: AccRequestInfo, final: Final): void {
    const status = final.response.status;
    // A BYE that failed (481, 408) ended nothing that this record could describe.
    if (info.request.method === "BYE" && (status < 200 || status >= 300)) return;
    const record = buildRecord(info, final.response, final.branches, final.at, this.#options.shard);
    this.#options.sink.push(record);
    this.#logLine(record);
  }

  #logLine(r: AccRecord): void {
    const log = this.#options.log;
    if (r.method === "INVITE") {
      if (r.sipCode < 300) this.#remember(r.callId, r.endMs, r.fromTag);
      log.info("call", {
        callId: r.callId, from: r.srcUser, to: r.dstOuser, status: r.sipCode, reason: r.sipReason,
        dst: r.dst, setupMs: r.endMs - r.timeMs, branches: r.branches.length,
      });
      return;
    }
    const answered = this.#answered.get(r.callId);
    this.#answered.delete(r.callId);
    const fields: Record<string, unknown> = { callId: r.callId, by: r.srcUser || r.srcIp };
    if (answered !== undefined) {
      fields.hangup = answered.fromTag === r.fromTag ? "caller" : "callee";
      fields.durationS = Math.round((r.timeMs - answered.answeredAt) / 100) / 10;
    }
    log.info("call ended", fields);
  }

  #remember(callId: string, answeredAt: number, fromTag: string): void {
    if (this.#answered.size >= MAX_ANSWERED) {
      const oldest = this.#answered.keys().next().value;
      if (oldest !== undefined) this.#answered.delete(oldest);
    }
    this.#answered.set(callId, { answeredAt, fromTag });
  }
}

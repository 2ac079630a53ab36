import type { BaseContext, FailureContext } from "../../routing/context.ts";
import type { SipMessage, SipRequest, SipResponse } from "../../sip/message.ts";
import type { Clock, Timers } from "../../sip/timers.ts";
import type { Logger } from "../../log.ts";
import type { Signer } from "../../util/signer.ts";

/** The address the proxy writes into its Via: where responses to a branch come back. */
export interface SentBy {
  /** Via transport token: "WSS", "WS", "UDP", "TCP", "TLS". */
  transport: string;
  host: string;
  port?: number;
}

/** One destination of `relay` (Kamailio: a branch, with $ru, $du and the branch flags). */
export interface Target {
  /** The branch's Request-URI (Kamailio `$ru`). */
  uri: string;
  /** The next hop when it is not the Request-URI (Kamailio `$du`), e.g. a gateway or the bridge. */
  dst?: string;
  /** The flow (socket) that reaches the target (RFC 5626 flow token from the registrar or a Route). */
  flow?: string;
  /**
   * Contact preference (RFC 3261 §16.6): targets are tried in groups of equal q, highest first;
   * the next group starts when the previous one ended without a 2xx (serial forking between
   * groups, parallel within one). Absent counts as 1.0.
   */
  q?: number;
  /** Path header values of the target's binding: become Route headers (RFC 3327 §5.3). */
  path?: string[];
  /** This branch's Via sent-by, when it differs from `TmOptions.sentBy` (e.g. the bridge's UDP side). */
  via?: SentBy;
  /** The bridge (by id) whose link a UDP branch leaves through; absent: any bridge's. */
  bridge?: string;
  /**
   * When `flow`'s socket is gone: the client instance behind it (RFC 5626 `+sip.instance` and
   * reg-id, as `instanceKey` writes it) and its address-of-record, so the request can follow the
   * instance to the flow it registered since (a reconnect) instead of failing with 430.
   */
  successor?: { aor: string; instance: string };
  /**
   * This branch's CSeq number when it is not the received request's: a retry with credentials
   * (Kamailio `uac_auth()`: RFC 3261 §22.2, "the CSeq header field value MUST be incremented") or
   * a request of a dialog whose carrier side counts that much higher. Responses go upstream with
   * the received request's CSeq again.
   */
  cseq?: number;
  /** Header fields set on this branch's copy, replacing those of the same name (credentials for the next hop). */
  headers?: [string, string][];
}

/**
 * Changes every branch of a transaction carries while the received request stays as it was, so
 * that local replies (100, 408, 487) and the responses that go upstream keep what the caller sent
 * (Kamailio: the lumps a request route adds to the outgoing message, e.g. `uac_replace_from`).
 */
export interface BranchEdits {
  /** Header fields set (replacing those of the same name). */
  set?: [string, string][];
  /** Header fields removed (names, any case). */
  remove?: string[];
}

/** Sends a branch's request (and its CANCEL, ACK) to the target's next hop; false = transport error. */
export type SendRequest = (request: SipRequest, target: Target) => boolean | void;

/** Where responses go back: the transport the request came in on (`Transport` fits). */
export interface Upstream {
  send(message: SipMessage): boolean | void;
}

/** What a failure route sees besides the transaction: the request route's context fits. */
export type FailureBase = Pick<BaseContext, "config" | "log" | "source" | "isMyself">;

export type FailureRoute = (ctx: TmFailureContext) => void | Promise<void>;

/**
 * Kamailio `t_on_reply` (an onreply_route armed per transaction): runs for each response a branch
 * receives (100 Trying excepted) before tm acts on it, and tm waits for it, so it may rewrite the
 * body (rtpengine_answer) or discard the response. Responses of one transaction pass it in order.
 */
export type TmReplyRoute = (ctx: TmReplyContext) => void | Promise<void>;

/** What an onreply route armed with `t_on_reply` sees and may do. */
export interface TmReplyContext extends FailureBase {
  readonly kind: "branch-reply";
  /** The response (its body may be replaced); the proxy's own Via is still on top. */
  readonly msg: SipResponse;
  /** The branch's request as it was sent, and where to. */
  readonly request: SipRequest;
  readonly target: Target;
  /**
   * The response must not go on as it is. A 1xx is not forwarded (the branch still counts it as
   * ringing). A 2xx: tm ends the callee's dialog (ACK, then BYE with an RFC 3326 Reason) and the
   * branch fails with `status` instead. A final non-2xx: the branch fails with `status`.
   */
  discard(status: number, reason: string): void;
  readonly discarded: { status: number; reason: string } | undefined;
}

/** Called for each new branch before it is sent (Kamailio `t_on_branch` / branch_route). */
export type BranchRoute = (request: SipRequest, target: Target) => void;

/** Called with a branch's first 2xx to an INVITE, as it goes upstream: the branch's request, the 2xx, the target. */
export type AnsweredRoute = (request: SipRequest, response: SipResponse, target: Target) => void;

export interface ReplyOptions {
  headers?: [string, string][];
  body?: string;
  contentType?: string;
}

/** What a failure route may do to the transaction (Kamailio functions legal in failure_route). */
export interface FailureTm {
  /** Kamailio `t_relay()` in failure_route: new branches (e.g. after `ds_next_dst`). */
  relay(targets?: Target[]): RelayResult;
  /** Kamailio `t_reply(code, reason)`: answer now instead of the best response. */
  reply(status: number, reason: string, options?: ReplyOptions): boolean;
  /** Kamailio `t_on_failure`: arm the failure route again for the new branches. */
  onFailure(route: FailureRoute): void;
  onBranch(route: BranchRoute): void;
  /** Kamailio `t_on_reply` in failure_route: the onreply route for the new branches. */
  onReply(route: TmReplyRoute): void;
}

export interface TmFailureContext extends FailureContext {
  readonly tm: FailureTm;
  /** The status of the winning branch, a local 408 on timeout included (what `checkStatus` reads). */
  readonly status: number;
  /**
   * The branch whose reply won: its request as it was sent (Via, CSeq, credentials) and its
   * target. Kamailio's `uac_auth()` answers a challenge by resending exactly this request.
   */
  readonly branch?: { readonly request: SipRequest; readonly target: Target };
}

export type RelayError = "loop" | "canceled" | "6xx-received" | "answered" | "no-targets" | "too-many-branches" | "send-failed";

export type RelayResult =
  | { ok: true; kind: "stateful"; id: string }
  /** ACK and unmatched CANCEL go on without a transaction (RFC 3261 §16.10, §16.11). */
  | { ok: true; kind: "stateless" }
  /** A CANCEL that matched a transaction: 200 sent, branches cancelled (§16.10). */
  | { ok: true; kind: "canceled" }
  /** A retransmission of a request already relayed: answered from its transaction, nothing to do. */
  | { ok: true; kind: "absorbed" }
  | { ok: false; error: RelayError; status: number; reason: string };

/** Kamailio `t_check_trans` results. */
export type CheckTransResult =
  /** No transaction: a new request, the script goes on. */
  | { found: false }
  /** A retransmission, answered from its transaction (or absorbed before any answer). */
  | { found: true; action: "retransmission" }
  /** The hop-by-hop ACK of a non-2xx final response: absorbed (RFC 3261 §17.1.1.3). */
  | { found: true; action: "ack-absorbed" }
  /** An ACK that matched an accepted INVITE (RFC 2543 peers reuse the branch): route it on. */
  | { found: true; action: "ack-forward" }
  /** A CANCEL that matched: 200 sent, the branches are being cancelled (§16.10). */
  | { found: true; action: "canceled" };

export interface RelayOptions {
  /** Kamailio `t_on_failure`. */
  onFailure?: FailureRoute;
  /** Kamailio `t_on_branch`. */
  onBranch?: BranchRoute;
  /** A dialog began (a branch's first 2xx to an INVITE): Kamailio dialog's tm callback. */
  onAnswered?: AnsweredRoute;
  /** Kamailio `t_on_reply`. */
  onReply?: TmReplyRoute;
  /** The failure route's view of the request route (config, log, source, isMyself). */
  base?: FailureBase;
  /** Opaque name of the upstream socket, kept in snapshots so the owner can reconnect it. */
  upstreamKey?: string;
  /** Kamailio `t_set_fr(fr_inv, fr)` for this transaction, ms. */
  frTimer?: number;
  frInvTimer?: number;
  /** Header changes every branch carries (`BranchEdits`). */
  edits?: BranchEdits;
}

export interface TmOptions {
  /** Names the owning object (SipConnection shard): encoded in every branch (`ownerOfBranch`). */
  ownerId: string;
  /** Default Via sent-by for branches. */
  sentBy: SentBy;
  /** The Via sent-by of a branch toward a target that names none (e.g. WSS toward a secure flow); else `sentBy`. */
  viaFor?: (target: Target) => SentBy | undefined;
  /** Signs every branch this instance makes (see `verifiedOwner`). */
  signer?: Signer;
  sendRequest: SendRequest;
  timers: Timers;
  clock?: Clock;
  log?: Logger;
  /** Kamailio `fr_timer` (ms): no final reply (INVITE: no reply at all) → 408 for the branch. Default 30000. */
  frTimer?: number;
  /** Kamailio `fr_inv_timer` (ms), RFC 3261 Timer C: no final reply after a provisional → CANCEL + 408. Default 181000. */
  frInvTimer?: number;
  /** Kamailio `auto_inv_100`: answer an INVITE with 100 Trying when it is relayed. Default true. */
  auto100?: boolean;
  /** WebSocket/TCP (true, default) or UDP timers for all transactions of this instance. */
  reliable?: boolean;
  /** Kamailio `max_branches`: most branches per transaction. Default 12. */
  maxBranches?: number;
  /** Server header on replies tm generates. */
  serverHeader?: string;
  /** A transaction ended (every branch final, the final response sent): e.g. drop its stored copy. */
  onForget?: (id: string) => void;
  /** Observers (metrics, acc): told what happened, never asked. */
  events?: TmEvents;
}

/** One branch as an observer sees it. */
export interface BranchView {
  readonly target: Target;
  readonly status: number;
  readonly timedOut: boolean;
}

/** A transaction as an observer sees it (Kamailio acc reads the same from the transaction cell). */
export interface TransactionView {
  readonly request: SipRequest;
  readonly branches: readonly BranchView[];
  readonly canceled: boolean;
}

/** What tm tells its observers (Kamailio: TMCB_RESPONSE_OUT, the timer's branch timeout). */
export interface TmEvents {
  /** A branch ended by fr_timer / fr_inv_timer without a final reply. */
  branchTimeout?(): void;
  /** The transaction's first final reply went upstream (a 2xx, a t_reply, or the best reply). */
  finalReply?(transaction: TransactionView, response: SipResponse): void;
}

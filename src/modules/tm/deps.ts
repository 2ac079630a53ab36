import type { SipRequest } from "../../sip/message.ts";
import type { Clock, TimerValues, Timers } from "../../sip/timers.ts";
import type { Send, TransactionOptions } from "../../sip/transactions/base.ts";
import type { AnyServerTransaction } from "../../sip/transactions/server.ts";
import type { TransactionTable } from "../../sip/transactions/table.ts";
import type { Signer } from "../../util/signer.ts";
import type { AnsweredRoute, BranchEdits, BranchRoute, FailureBase, FailureRoute, SendRequest, SentBy, Target, TmEvents, TmReplyRoute, Upstream } from "./types.ts";

/** What a response context borrows from the Tm instance that owns it (compiled once per instance). */
export interface ContextDeps {
  /** The owner id, encoded for the branch (see branch-id.ts). */
  readonly owner: string;
  /** The Via sent-by of a branch toward `target`, when the target names none. */
  viaFor(target: Target): SentBy;
  /** Signs the branches this instance makes (verifiedOwner checks them). */
  readonly signer: Signer | undefined;
  readonly sendRequest: SendRequest;
  readonly table: TransactionTable;
  readonly timers: Timers;
  readonly clock: Clock;
  readonly values: TimerValues;
  readonly maxBranches: number;
  readonly serverHeader: string;
  readonly events: TmEvents | undefined;
  txOptions(send: Send): TransactionOptions;
  /** The context ended (final response sent, every branch done): drop it from the registry. */
  forget(context: { readonly id: string; readonly server: AnyServerTransaction }): void;
}

/** What a response context is made from: the relayed request, its server transaction and the routes armed for it. */
export interface ContextInit {
  id: string;
  request: SipRequest;
  loop: string;
  server: AnyServerTransaction;
  upstream: Upstream;
  base?: FailureBase;
  upstreamKey?: string;
  onFailure?: FailureRoute;
  onBranch?: BranchRoute;
  onAnswered?: AnsweredRoute;
  onReply?: TmReplyRoute;
  frTimer: number;
  frInvTimer: number;
  edits?: BranchEdits;
}

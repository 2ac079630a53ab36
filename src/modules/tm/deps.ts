import type { Clock, TimerValues, Timers } from "../../sip/timers.ts";
import type { Send, TransactionOptions } from "../../sip/transactions/base.ts";
import type { TransactionTable } from "../../sip/transactions/table.ts";
import type { SendRequest, SentBy, TmEvents } from "./types.ts";

/** What a response context borrows from the Tm instance that owns it (compiled once per instance). */
export interface ContextDeps {
  /** The owner id, encoded for the branch (see branch-id.ts). */
  readonly owner: string;
  readonly sentBy: SentBy;
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
  forget(context: { readonly id: string }): void;
}

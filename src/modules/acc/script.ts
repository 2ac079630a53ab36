import type { SipRequest, SipResponse } from "../../sip/message.ts";
import type { Source } from "../../routing/context.ts";
import type { Acc } from "./acc.ts";

/** What `ctx.acc` needs from the request route's context. */
export interface AccContext {
  readonly msg: SipRequest;
  readonly source: Source;
  /** The stateless reply the script sent, if any (`sl_send_reply`). */
  readonly lastReply: SipResponse | undefined;
}

/** The `ctx.acc` namespace: Kamailio acc over the request at hand. */
export class AccScript {
  readonly #ctx: AccContext;
  readonly #acc: Acc;

  constructor(ctx: AccContext, acc: Acc) {
    this.#ctx = ctx;
    this.#acc = acc;
  }

  /**
   * Kamailio `setflag(FLT_ACC)` (with `failed_transaction_flag`): one record when the request's
   * final reply goes out, whatever it is; `receivedAt` is when the request arrived (ms).
   */
  setFlag(receivedAt: number): void {
    const ctx = this.#ctx;
    this.#acc.flag({ request: ctx.msg, receivedAt, srcIp: ctx.source.ip }, ctx.lastReply);
  }
}

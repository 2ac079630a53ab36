import type { SipRequest, SipResponse } from "../../sip/message.ts";
import type { Uri } from "../../sip/uri.ts";
import type { Source } from "../../routing/context.ts";
import type { Acc } from "./acc.ts";
import { userOf } from "./record.ts";

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
   * final reply goes out, whatever it is; `receivedAt` is when the request arrived (ms),
   * `dialled` its Request-URI as it arrived (Kamailio `$ou`), when the script has rewritten it since.
   */
  setFlag(receivedAt: number, dialled: Uri = this.#ctx.msg.ruri()): void {
    const ctx = this.#ctx;
    this.#acc.flag({ request: ctx.msg, receivedAt, srcIp: ctx.source.ip, dstOuser: userOf(dialled) }, ctx.lastReply);
  }
}

/**
 * Kamailio `t_on_reply`: an onreply route armed per transaction, which tm awaits before it acts
 * on a branch's response, so a route can rewrite the body with something it must ask for
 * (rtpengine_answer over the bridge) before the response goes upstream. Responses of one
 * transaction pass the route one after another, in the order they arrived.
 *
 * A discarded 2xx leaves a dialog at the callee that the caller will never learn of: tm ends it
 * itself, with the ACK RFC 3261 §13.2.2.4 requires and a BYE (§15), both sent to the branch's
 * next hop with the route set the callee returned below this proxy.
 */
import type { Logger } from "../../log.ts";
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import { parseMessage } from "../../sip/parser.ts";
import { parseNameAddr } from "../../sip/name-addr.ts";
import { formatUri } from "../../sip/uri.ts";
import type { AnyClientTransaction } from "../../sip/transactions/client.ts";
import type { Branch } from "./branch.ts";
import { makeBranch } from "./branch-id.ts";
import type { ContextDeps } from "./deps.ts";
import type { FailureBase, Target, TmReplyContext, TmReplyRoute } from "./types.ts";

/** What the runner needs from its response context. */
export interface ReplyRouteHost {
  readonly id: string;
  readonly loop: string;
  readonly base: FailureBase | undefined;
  /** tm's handling of a branch's response; `forward` false counts a 1xx without sending it upstream. */
  onResponse(branch: Branch, response: SipResponse, forward: boolean): void;
  /** The branch ends with a response of the proxy's own. */
  failBranch(branch: Branch, status: number, reason: string): void;
  clientTransaction(request: SipRequest, target: Target, branch: Branch | undefined): AnyClientTransaction;
}

class ReplyCtx implements TmReplyContext {
  readonly kind = "branch-reply";
  readonly config: FailureBase["config"];
  readonly log: Logger;
  readonly source: FailureBase["source"];
  discarded: { status: number; reason: string } | undefined;

  constructor(
    readonly msg: SipResponse,
    readonly request: SipRequest,
    readonly target: Target,
    private readonly base: FailureBase,
  ) {
    this.config = base.config;
    this.log = base.log;
    this.source = base.source;
  }

  isMyself(target: Parameters<FailureBase["isMyself"]>[0]): boolean {
    return this.base.isMyself(target);
  }

  discard(status: number, reason: string): void {
    this.discarded = { status, reason };
  }
}

export class ReplyRouteRunner {
  private queue: Promise<void> = Promise.resolve();
  /** Branches whose 2xx was discarded: their ACK, re-sent for each retransmitted 2xx (made with the first). */
  private endedDialogs: WeakMap<Branch, SipRequest> | undefined;

  constructor(
    private readonly host: ReplyRouteHost,
    private readonly deps: ContextDeps,
  ) {}

  /** A response of `branch`: through `route`, then on to tm (in arrival order). */
  receive(branch: Branch, response: SipResponse, route: TmReplyRoute): void {
    this.queue = this.queue.then(() => this.run(branch, response, route));
  }

  private async run(branch: Branch, response: SipResponse, route: TmReplyRoute): Promise<void> {
    // A branch whose 2xx was discarded is over: a retransmitted 2xx only gets the ACK again.
    const ack = this.endedDialogs?.get(branch);
    if (ack !== undefined) {
      if (response.status >= 200 && response.status < 300) this.send(branch, ack, false);
      return;
    }
    const base = this.host.base;
    if (base === undefined) return this.host.onResponse(branch, response, true);
    const ctx = new ReplyCtx(response, branch.request, branch.target, base);
    try {
      await route(ctx);
    } catch (err) {
      // Fail closed: a route that stopped half-way may have left the body half-done.
      base.log.error("onreply route failed", { error: err instanceof Error ? err.message : String(err), status: response.status });
      ctx.discard(500, "Server Internal Error");
    }
    const verdict = ctx.discarded;
    if (verdict === undefined) return this.host.onResponse(branch, response, true);
    if (response.status < 200) return this.host.onResponse(branch, response, false);
    if (response.status < 300) this.endDialog(branch, response, verdict, base.log);
    this.host.failBranch(branch, verdict.status, verdict.reason);
  }

  private endDialog(branch: Branch, response: SipResponse, verdict: { status: number; reason: string }, log: Logger): void {
    const ack = inDialogRequest("ACK", branch, response, this.via(branch, "a"), []);
    const bye = inDialogRequest("BYE", branch, response, this.via(branch, "b"), [
      `Reason: SIP;cause=${verdict.status};text="${verdict.reason.replace(/["\\]/g, "")}"`,
    ]);
    if (ack === undefined || bye === undefined) {
      log.error("cannot end the callee's dialog: its 2xx is unusable", { status: response.status });
      return;
    }
    (this.endedDialogs ??= new WeakMap()).set(branch, ack);
    this.send(branch, ack, false);
    this.send(branch, bye, true);
    log.warn("2xx discarded by the onreply route: callee's dialog ended with ACK and BYE", { status: verdict.status, reason: verdict.reason });
  }

  /** A request of the proxy's own to the branch's next hop: as it is (ACK), or in a client transaction (BYE). */
  private send(branch: Branch, request: SipRequest, transaction: boolean): void {
    if (!transaction) {
      this.deps.sendRequest(request, branch.target);
      return;
    }
    const tx = this.host.clientTransaction(request, branch.target, undefined);
    this.deps.table.addClient(tx);
    tx.start();
  }

  /** A Via for such a request; its branch is unique within the transaction. */
  private via(branch: Branch, suffix: string): string {
    const sentBy = this.deps.viaFor(branch.target);
    const host = sentBy.port === undefined ? sentBy.host : `${sentBy.host}:${sentBy.port}`;
    return `SIP/2.0/${sentBy.transport} ${host};branch=${makeBranch(this.deps.owner, this.host.loop, this.host.id, `${branch.index}${suffix}`, this.deps.signer)}`;
  }
}

/**
 * §12.1.2 / §12.2.1.1: an in-dialog request from the caller's side of the callee's dialog. The
 * Request-URI is the 2xx's Contact; the Route set is the 2xx's Record-Route entries above the
 * ones this request carried when it left (those added below this proxy), in their order.
 */
function inDialogRequest(method: "ACK" | "BYE", branch: Branch, response: SipResponse, via: string, extra: string[]): SipRequest | undefined {
  const request = branch.request;
  const contact = response.headers.get("contact");
  const contactUri = contact === undefined ? undefined : parseNameAddr(contact.trim());
  const uri = contactUri?.ok ? formatUri(contactUri.value.uri) : request.uri;
  const ours = request.headers.getAll("record-route")[0];
  const recorded = response.headers.getAll("record-route");
  const cut = ours === undefined ? -1 : recorded.indexOf(ours);
  const routes = cut < 0 ? (ours === undefined ? recorded : []) : recorded.slice(0, cut);
  const seq = method === "ACK" ? request.cseq.seq : request.cseq.seq + 1;
  const lines = [
    `${method} ${uri} SIP/2.0`,
    `Via: ${via}`,
    ...routes.map((r) => `Route: ${r}`),
    "Max-Forwards: 70",
    `From: ${request.headers.get("from") ?? ""}`,
    `To: ${response.headers.get("to") ?? ""}`,
    `Call-ID: ${request.callId}`,
    `CSeq: ${seq} ${method}`,
    ...extra,
    "Content-Length: 0",
    "",
    "",
  ];
  const parsed = parseMessage(lines.join("\r\n"));
  return parsed.ok && parsed.message.kind === "request" ? parsed.message : undefined;
}

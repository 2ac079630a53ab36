/**
 * One stateful proxy transaction (RFC 3261 §16, Kamailio's transaction cell): the server
 * transaction of the request, its client branches, and the response context that decides what
 * goes upstream (§16.7), with CANCEL (§16.10), Timer C (§16.8) and the failure route.
 */
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import { createResponse } from "../../sip/response.ts";
import { requestUriFor } from "../../sip/uri.ts";
import type { TransactionSnapshot } from "../../sip/transactions/base.ts";
import { InviteClientTransaction, NonInviteClientTransaction, type AnyClientTransaction, type ClientTransactionUser } from "../../sip/transactions/client.ts";
import type { AnyServerTransaction } from "../../sip/transactions/server.ts";
import { bestResponse, winnerOf } from "./best-response.ts";
import { BranchUser, groupByQ, newBranch, refuseTargets, type Branch, type BranchHost } from "./branch.ts";
import { makeBranch } from "./branch-id.ts";
import type { ContextDeps, ContextInit } from "./deps.ts";
import { FailureCtx, type FailureHost, type Winner } from "./failure.ts";
import { ReplyRouteRunner, type ReplyRouteHost } from "./reply-route.ts";
import type { AnsweredRoute, BranchEdits, BranchRoute, FailureBase, FailureRoute, RelayResult, ReplyOptions, Target, TmReplyRoute, Upstream } from "./types.ts";
import { applyBranchChanges, upstreamForm } from "./branch-request.ts";
import { cancelPending, COMPLETED_ELSEWHERE, sendCancel, type CancelHost } from "./cancel.ts";
import { releaseFinished } from "./retention.ts";

export class ResponseContext implements FailureHost, ReplyRouteHost, CancelHost, BranchHost {
  readonly id: string;
  /** The request as the script relayed it; branches are copies of it. */
  request: SipRequest;
  readonly server: AnyServerTransaction;
  readonly upstream: Upstream;
  readonly isInvite: boolean;
  readonly branches: Branch[] = [];
  readonly loop: string;
  readonly upstreamKey: string | undefined;
  readonly frTimer: number;
  readonly frInvTimer: number;
  /** When the context was made (or restored), ms since the epoch. */
  readonly createdAt: number;
  /** Targets of the q-groups not tried yet (serial forking). */
  pending: Target[][] = [];
  /** Branches before this index belong to rounds that already went through a failure route. */
  roundStart = 0;
  canceled = false;
  got6xx = false;
  finalSent = false;
  sent2xx = false;
  failureRoute: FailureRoute | undefined;
  branchRoute: BranchRoute | undefined;
  /** Called once per branch with its first 2xx to an INVITE (a dialog began: Kamailio dialog's tm callback). */
  answeredRoute: AnsweredRoute | undefined;
  replyRoute: TmReplyRoute | undefined;
  base: FailureBase | undefined;
  /** Header changes every branch carries (the script's, e.g. a carrier's caller ID). */
  readonly edits: BranchEdits | undefined;
  private readonly deps: ContextDeps;
  /** Made with the first response an onreply route must see (most transactions arm none). */
  private replies: ReplyRouteRunner | undefined;
  private starting = false;
  private inFailureRoute = false;
  private finished = false;

  constructor(init: ContextInit, deps: ContextDeps) {
    this.id = init.id;
    this.request = init.request;
    this.server = init.server;
    this.upstream = init.upstream;
    this.isInvite = init.request.method === "INVITE";
    this.loop = init.loop;
    this.upstreamKey = init.upstreamKey;
    this.frTimer = init.frTimer;
    this.frInvTimer = init.frInvTimer;
    this.failureRoute = init.onFailure;
    this.branchRoute = init.onBranch;
    this.answeredRoute = init.onAnswered;
    this.replyRoute = init.onReply;
    this.base = init.base;
    this.edits = init.edits;
    this.deps = deps;
    this.createdAt = deps.clock.now();
  }

  /** The earliest branch deadline (ms since the epoch): when a persisted context must wake up. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const b of this.branches) if (b.timer !== undefined && (next === undefined || b.deadline < next)) next = b.deadline;
    return next;
  }

  /** Kamailio `t_on_failure`. */
  onFailure(route: FailureRoute): void {
    this.failureRoute = route;
  }

  /** Kamailio `t_on_branch`. */
  onBranch(route: BranchRoute): void {
    this.branchRoute = route;
  }

  /** Kamailio `t_on_reply`. */
  onReply(route: TmReplyRoute): void {
    this.replyRoute = route;
  }

  /** Whether a refusal applies before any branch is made. */
  refusal(targets: readonly Target[]): RelayResult | undefined {
    if (this.finalSent) return { ok: false, error: "answered", status: 500, reason: "Transaction Already Answered" };
    if (this.canceled) return { ok: false, error: "canceled", status: 487, reason: "Request Terminated" };
    // §16.7 item 5: after a 6xx the proxy "MUST NOT create any new branches in this context".
    if (this.got6xx) return { ok: false, error: "6xx-received", status: 500, reason: "Global Failure Received" };
    return refuseTargets(targets, this.branches.length, this.deps.maxBranches);
  }

  /** Kamailio `t_relay` on this transaction: the first q-group now, the others after it failed. */
  relay(targets: Target[]): RelayResult {
    const refused = this.refusal(targets);
    if (refused !== undefined) return refused;
    const groups = groupByQ(targets);
    this.pending = groups.slice(1);
    if (this.inFailureRoute) this.roundStart = this.branches.length;
    this.startGroup(groups[0] ?? []);
    return { ok: true, kind: "stateful", id: this.id };
  }

  /** Kamailio `t_reply` (stateful): answers on the server transaction. */
  reply(status: number, reason: string, options: ReplyOptions = {}): boolean {
    if (this.finalSent && status >= 200) return false;
    const response = this.local(status, reason, options);
    if (status >= 200) this.settle(status < 300);
    const sent = this.server.respond(response);
    if (status >= 200) this.deps.events?.finalReply?.(this, response);
    if (status >= 200) this.checkCompletion();
    return sent;
  }

  /** RFC 3261 §16.10: the caller cancelled; CANCEL every pending branch (§9.1 rules apply). */
  cancel(): void {
    if (this.finalSent) return;
    this.canceled = true;
    this.pending = [];
    cancelPending(this, this.deps, undefined);
    this.checkCompletion();
  }

  /** @internal (restore) the timer of a branch, re-armed at its absolute deadline. */
  armBranchTimer(branch: Branch, ms: number, kind: "fr" | "cancel"): void {
    this.clearBranchTimer(branch);
    if (ms <= 0) return; // a timer of 0 is off (Kamailio: fr_timer 0)
    branch.timerKind = kind;
    branch.deadline = this.deps.clock.now() + ms;
    branch.timer = this.deps.timers.set(ms, () => {
      branch.timer = undefined;
      if (branch.final) return;
      if (branch.timerKind === "cancel") {
        // §9.1: "If no final response is received after 64*T1 seconds, the client SHOULD then
        // consider the original transaction cancelled and SHOULD destroy the client transaction".
        branch.tx.giveUp(0);
        this.finishLocal(branch, 487, "Request Terminated");
      } else {
        this.branchTimeout(branch);
      }
    });
  }

  /** @internal the transaction user of one branch's client transaction. */
  branchUser(branch: Branch): ClientTransactionUser {
    return new BranchUser(this, branch);
  }

  /** @internal a branch's response: a 100 only stops retransmissions; anything else passes the onreply route first, if armed. */
  branchResponse(branch: Branch, response: SipResponse): void {
    const route = this.replyRoute;
    if (route === undefined || response.status === 100) this.onResponse(branch, response, true);
    else (this.replies ??= new ReplyRouteRunner(this, this.deps)).receive(branch, response, route);
  }

  /** @internal a client transaction for a request of this context, sent towards `target`. */
  clientTransaction(request: SipRequest, target: Target, branch: Branch | undefined, resume?: TransactionSnapshot): AnyClientTransaction {
    const options = this.deps.txOptions((message) => this.deps.sendRequest(message as SipRequest, target));
    const user = branch === undefined ? IGNORE : this.branchUser(branch);
    return request.method === "INVITE"
      ? new InviteClientTransaction(request, user, options, resume)
      : new NonInviteClientTransaction(request, user, options, resume);
  }

  private startGroup(targets: Target[]): void {
    this.starting = true;
    try {
      for (const target of targets) this.addBranch(target);
    } finally {
      this.starting = false;
    }
    this.checkCompletion();
  }

  /**
   * RFC 3261 §16.6: copy the request (item 1), set the Request-URI (item 2), add the Route set of
   * a Path (RFC 3327), add this proxy's Via (item 8). Max-Forwards (item 3) was decremented once by
   * the script's maxfwd.process before relay, for all branches alike; Record-Route (item 4) is rr's.
   */
  private addBranch(target: Target): void {
    const index = this.branches.length;
    const request = this.request.clone();
    request.uri = requestUriFor(target.uri);
    const path = target.path ?? [];
    for (let i = path.length - 1; i >= 0; i--) request.headers.prepend("Route", path[i] as string);
    const sentBy = this.deps.viaFor(target);
    const host = sentBy.port === undefined ? sentBy.host : `${sentBy.host}:${sentBy.port}`;
    const id = makeBranch(this.deps.owner, this.loop, this.id, index, this.deps.signer);
    request.headers.prepend("Via", `SIP/2.0/${sentBy.transport} ${host};branch=${id}`);
    applyBranchChanges(request, this.edits, target);
    this.branchRoute?.(request, target);
    const branch = newBranch(index, target, request);
    branch.tx = this.clientTransaction(request, target, branch);
    this.branches.push(branch);
    this.deps.table.addClient(branch.tx);
    this.armBranchTimer(branch, this.frTimer, "fr");
    branch.tx.start();
  }

  /** @internal (reply routes) the branch ends with a response of the proxy's own. */
  failBranch(branch: Branch, status: number, reason: string): void {
    this.finishLocal(branch, status, reason);
  }

  /**
   * RFC 3261 §16.7 items 2-5 for one branch's response. `forward` false: an onreply route kept a
   * provisional back; it still counts (Timer C, CANCEL after a provisional) but does not go upstream.
   */
  onResponse(branch: Branch, response: SipResponse, forward: boolean): void {
    upstreamForm(response, branch.request, this.request);
    const status = response.status;
    branch.replied = true;
    if (status < 200) {
      if (branch.final) return;
      const first = !branch.provisional;
      branch.provisional = true;
      if (status > branch.status) branch.status = status;
      // §16.7 item 2: "if the response is a provisional response with status codes 101 to 199
      // inclusive (i.e., anything but 100), the proxy MUST reset timer C". Like Kamailio, the
      // first provisional (100 included) switches the branch from fr_timer to fr_inv_timer.
      if (this.isInvite && (first || status > 100)) this.armBranchTimer(branch, this.frInvTimer, "fr");
      if (branch.cancelWanted && !branch.canceled) sendCancel(this, this.deps, branch, undefined);
      // §16.7 item 5: "Any provisional response other than 100 (Trying)" is forwarded at once.
      else if (forward && status > 100 && !this.finalSent && !this.canceled) this.forward(response);
      return;
    }
    if (status < 300) {
      this.on2xx(branch, response);
      return;
    }
    if (branch.final) return; // after a local timeout: the branch already counts as 408
    this.clearBranchTimer(branch);
    branch.final = true;
    branch.status = status;
    branch.response = response;
    if (status >= 600) {
      // §16.7 item 5: "If a 6xx response is received, it is not immediately forwarded, but the
      // stateful proxy SHOULD cancel all client pending transactions".
      this.got6xx = true;
      this.pending = [];
      cancelPending(this, this.deps, undefined);
    }
    this.checkCompletion();
  }

  /**
   * §16.7 item 5: until a final response went upstream "Any 2xx response" is forwarded at once;
   * after it, "Any 2xx response to an INVITE request" still is (each fork's 200 reaches the
   * caller, which ACKs or BYEs each). Item 10: after a final response, CANCEL the pending branches.
   */
  private on2xx(branch: Branch, response: SipResponse): void {
    this.clearBranchTimer(branch);
    const firstOnBranch = !branch.final || branch.local;
    if (firstOnBranch) {
      branch.final = true;
      branch.local = false;
      branch.status = response.status;
      branch.response = response;
    }
    if (this.finalSent && !this.isInvite) {
      // Not forwarded, but the branch is final now: it may have been the last one running.
      this.checkCompletion();
      return;
    }
    response.headers.removeFirstValue("via");
    if (firstOnBranch && this.isInvite) this.answeredRoute?.(branch.request, response, branch.target);
    // §16.7 item 9: "If the server transaction is no longer available to handle the
    // transmission, the element MUST forward the response statelessly".
    if (!this.server.respond(response)) this.upstream.send(response);
    const first = !this.sent2xx;
    if (first) this.deps.events?.finalReply?.(this, response);
    this.settle(true);
    if (first) cancelPending(this, this.deps, COMPLETED_ELSEWHERE);
    this.checkCompletion();
  }

  /** @internal §16.8: Timer C / fr_timer, or the client transaction's Timer B/F. */
  branchTimeout(branch: Branch): void {
    if (branch.final) return;
    branch.timedOut = true;
    this.deps.events?.branchTimeout?.();
    // "If the client transaction has received a provisional response, the proxy MUST generate a
    // CANCEL request matching that transaction. If the client transaction has not received a
    // provisional response, the proxy MUST behave as if the transaction received a 408".
    // Like Kamailio, the branch counts as 408 at once; a 2xx arriving later is still forwarded.
    if (this.isInvite && branch.provisional) sendCancel(this, this.deps, branch, undefined);
    branch.tx.giveUp(this.deps.values.TIMER_B);
    this.finishLocal(branch, 408, "Request Timeout");
  }

  private finishLocal(branch: Branch, status: number, reason: string): void {
    if (branch.final) return;
    this.clearBranchTimer(branch);
    branch.final = true;
    branch.local = true;
    branch.status = status;
    branch.response = this.local(status, reason);
    this.checkCompletion();
  }

  /** §16.7 item 4 ("Check to see if any final response can be sent") and the failure route. */
  private checkCompletion(): void {
    if (this.starting || this.inFailureRoute || this.finished) return;
    for (const branch of this.branches) if (!branch.final) return;
    if (this.finalSent) {
      this.finish();
      return;
    }
    const next = this.pending.shift();
    if (next !== undefined && !this.canceled && !this.got6xx) {
      this.startGroup(next);
      return;
    }
    if (this.failureRoute !== undefined && this.base !== undefined) {
      this.runFailureRoute(this.failureRoute, this.base);
      return;
    }
    this.sendBest();
  }

  private runFailureRoute(route: FailureRoute, base: FailureBase): void {
    // Kamailio disarms the failure route when it runs; the route re-arms it for new branches.
    this.failureRoute = undefined;
    this.inFailureRoute = true;
    const before = this.branches.length;
    const ctx = new FailureCtx(this, this.winner(), base);
    const done = (): void => {
      this.inFailureRoute = false;
      if (this.finalSent || this.branches.length > before) this.checkCompletion();
      else this.sendBest();
    };
    const failed = (err: unknown): void => {
      base.log.error("failure route failed", { error: err instanceof Error ? err.message : String(err) });
      done();
    };
    try {
      const result = route(ctx);
      if (result instanceof Promise) result.then(done, failed);
      else done();
    } catch (err) {
      failed(err);
    }
  }

  private winner(): Winner {
    return winnerOf(this.branches.slice(this.roundStart));
  }

  /** §16.7 items 6-7: the best final response of the round, or 487 after a CANCEL. */
  private sendBest(): void {
    const response = bestResponse(this.branches.slice(this.roundStart), this.canceled && !this.got6xx, (status, reason) => this.local(status, reason));
    this.settle(false);
    this.server.respond(response);
    this.deps.events?.finalReply?.(this, response);
    this.finish();
  }

  /** A final response went (or is going) upstream: no more groups. */
  private settle(is2xx: boolean): void {
    this.finalSent = true;
    if (is2xx) this.sent2xx = true;
    this.pending = [];
  }

  private forward(response: SipResponse): void {
    response.headers.removeFirstValue("via");
    this.server.respond(response);
  }

  private local(status: number, reason: string, options: ReplyOptions = {}): SipResponse {
    const headers: [string, string][] = [["Server", this.deps.serverHeader], ...(options.headers ?? [])];
    return createResponse(this.request, status, reason, { headers, body: options.body, contentType: options.contentType });
  }

  private clearBranchTimer(branch: Branch): void {
    if (branch.timer !== undefined) this.deps.timers.clear(branch.timer);
    branch.timer = undefined;
    branch.deadline = 0;
  }

  private finish(): void {
    for (const branch of this.branches) if (!branch.final) return;
    if (this.finished) return;
    this.finished = true;
    releaseFinished(this);
    this.deps.forget(this);
  }
}

const IGNORE: ClientTransactionUser = { receiveResponse: () => {}, onTimeout: () => {}, onTransportError: () => {} };

/**
 * tm: the stateful proxy (RFC 3261 §16 on top of the §17 transactions), named after Kamailio's
 * module. One `Tm` per owning object; `bindRequest` gives a route script the per-request
 * functions under their Kamailio names. See README.md.
 */
import type { SipRequest } from "../../sip/message.ts";
import type { Tm } from "./tm.ts";
import type {
  AnsweredRoute,
  BranchEdits,
  BranchRoute,
  CheckTransResult,
  FailureBase,
  FailureRoute,
  RelayOptions,
  RelayResult,
  ReplyOptions,
  Target,
  TmReplyRoute,
  Upstream,
} from "./types.ts";

export { Tm } from "./tm.ts";
export { ownerOfBranch, verifiedOwner, encodeOwner, isLooped, loopHash } from "./branch-id.ts";
export { pickBest, aggregateChallenges } from "./best-response.ts";
export { groupByQ, type Branch } from "./branch.ts";
export type { ResponseContext } from "./response-context.ts";
export type { ResponseContextSnapshot, BranchSnapshot, RestoreEnv } from "./snapshot.ts";
export type { StoredMessage } from "./stored.ts";
export type * from "./types.ts";

/** The tm functions of one request, as a request route calls them (`ctx.tm.relay()`). */
export interface TmRequest {
  /** Kamailio `t_check_trans`. */
  checkTrans(): CheckTransResult;
  /** Kamailio `t_relay` (to `targets`, default the Request-URI). */
  relay(targets?: Target[]): RelayResult;
  /** Kamailio `t_reply`. */
  reply(status: number, reason: string, options?: ReplyOptions): boolean;
  /** Kamailio `t_on_failure`: armed for the next `relay`. */
  onFailure(route: FailureRoute): void;
  /** Kamailio `t_on_branch`: runs on each branch copy before it is sent. */
  onBranch(route: BranchRoute): void;
  /** Runs with each branch's first 2xx to the INVITE (how the dialog module learns of a call). */
  onAnswered(route: AnsweredRoute): void;
  /** Kamailio `t_on_reply`: each response of the transaction passes it (awaited) before tm acts. */
  onReply(route: TmReplyRoute): void;
  /** Kamailio `t_set_fr(fr_inv_timeout, fr_timeout)`, ms; 0 keeps the default. */
  setFr(frInvTimer: number, frTimer?: number): void;
  /**
   * Header changes every branch of the transaction carries, the received request left as it
   * was (Kamailio: lumps on the outgoing message, as `uac_replace_from` adds). Merged with
   * earlier calls; applies to the next `relay` and its failure-route branches.
   */
  edit(edits: BranchEdits): void;
}

/**
 * Binds one request: `base` is what a failure route sees besides the transaction (the request
 * route's context has config, log, source and isMyself); `upstreamKey` names the socket in
 * snapshots; `onHandled` hears that tm took the request over (matched, relayed or answered).
 */
export function bindRequest(tm: Tm, request: SipRequest, upstream: Upstream, base?: FailureBase, upstreamKey?: string, onHandled?: () => void): TmRequest {
  const options: RelayOptions = {};
  if (base !== undefined) options.base = base;
  if (upstreamKey !== undefined) options.upstreamKey = upstreamKey;
  return new BoundRequest(tm, request, upstream, options, onHandled);
}

/**
 * A class rather than an object of closures: every request binds one, and prototype methods
 * make that a single allocation (the bundler's closure naming profiled at µs per message).
 */
class BoundRequest implements TmRequest {
  // Plain fields, no parameter properties: the bridge runs this file with Node's type stripping.
  private readonly tm: Tm;
  private readonly request: SipRequest;
  private readonly upstream: Upstream;
  private readonly options: RelayOptions;
  private readonly onHandled: (() => void) | undefined;

  constructor(tm: Tm, request: SipRequest, upstream: Upstream, options: RelayOptions, onHandled: (() => void) | undefined) {
    this.tm = tm;
    this.request = request;
    this.upstream = upstream;
    this.options = options;
    this.onHandled = onHandled;
  }

  checkTrans(): CheckTransResult {
    const r = this.tm.checkTrans(this.request, this.upstream);
    if (r.found) this.onHandled?.();
    return r;
  }

  relay(targets?: Target[]): RelayResult {
    const r = this.tm.relay(this.request, this.upstream, targets, this.options);
    if (r.ok) this.onHandled?.();
    return r;
  }

  reply(status: number, reason: string, replyOptions?: ReplyOptions): boolean {
    const sent = this.tm.reply(this.request, this.upstream, status, reason, replyOptions);
    if (sent) this.onHandled?.();
    return sent;
  }

  onFailure(route: FailureRoute): void {
    this.options.onFailure = route;
  }

  onBranch(route: BranchRoute): void {
    this.options.onBranch = route;
  }

  onAnswered(route: AnsweredRoute): void {
    this.options.onAnswered = route;
  }

  onReply(route: TmReplyRoute): void {
    this.options.onReply = route;
  }

  setFr(frInvTimer: number, frTimer = 0): void {
    if (frInvTimer > 0) this.options.frInvTimer = frInvTimer;
    if (frTimer > 0) this.options.frTimer = frTimer;
  }

  edit(edits: BranchEdits): void {
    const merged: BranchEdits = { ...this.options.edits };
    if (edits.set !== undefined) merged.set = [...(merged.set ?? []), ...edits.set];
    if (edits.remove !== undefined) merged.remove = [...(merged.remove ?? []), ...edits.remove];
    this.options.edits = merged;
  }
}

/**
 * The context a failure route receives (Kamailio failure_route): the original request, the
 * winning reply, the t_check_status / t_is_canceled / t_branch_timeout / t_branch_replied tests,
 * and the few tm functions that are legal there (t_relay, t_reply, t_on_failure, t_on_branch).
 */
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import type { Uri } from "../../sip/uri.ts";
import type { BranchRoute, FailureBase, FailureRoute, FailureTm, ReplyOptions, RelayResult, Target, TmFailureContext, TmReplyRoute } from "./types.ts";

/** What the failure context needs from its response context. */
export interface FailureHost {
  readonly request: SipRequest;
  readonly canceled: boolean;
  relay(targets: Target[]): RelayResult;
  reply(status: number, reason: string, options?: ReplyOptions): boolean;
  onFailure(route: FailureRoute): void;
  onBranch(route: BranchRoute): void;
  onReply(route: TmReplyRoute): void;
}

/** The branch whose reply won (RFC 3261 §16.7 item 6), as the failure route's tests see it. */
export interface Winner {
  status: number;
  response: SipResponse | undefined;
  timedOut: boolean;
  replied: boolean;
  /** The winning branch's request and target (absent when there was no branch). */
  branch?: { request: SipRequest; target: Target };
}

// Status patterns are few and fixed per script: compile each once.
const patterns = new Map<string, RegExp>();

/**
 * Kamailio `t_check_status(re)` matches the regular expression against the status code. A string
 * pattern is anchored here ("50" does not match 503; "5[0-9][0-9]" does), so a pattern reads
 * like the codes it accepts; pass a RegExp for anything else.
 */
function compile(pattern: string): RegExp {
  let re = patterns.get(pattern);
  if (re === undefined) {
    re = new RegExp(`^(?:${pattern})$`);
    if (patterns.size < 256) patterns.set(pattern, re);
  }
  return re;
}

export class FailureCtx implements TmFailureContext {
  readonly kind = "failure";
  readonly request: SipRequest;
  readonly reply: SipResponse | undefined;
  readonly status: number;
  readonly config: FailureBase["config"];
  readonly log: FailureBase["log"];
  readonly source: FailureBase["source"];
  readonly tm: FailureTm;
  readonly branch: { readonly request: SipRequest; readonly target: Target } | undefined;
  readonly #host: FailureHost;
  readonly #base: FailureBase;
  readonly #winner: Winner;

  constructor(host: FailureHost, winner: Winner, base: FailureBase) {
    this.#host = host;
    this.#base = base;
    this.#winner = winner;
    this.request = host.request;
    this.reply = winner.response;
    this.status = winner.status;
    this.config = base.config;
    this.log = base.log;
    this.source = base.source;
    this.branch = winner.branch;
    this.tm = {
      relay: (targets) => host.relay(targets ?? [{ uri: host.request.uri }]),
      reply: (status, reason, options) => host.reply(status, reason, options),
      onFailure: (route) => host.onFailure(route),
      onBranch: (route) => host.onBranch(route),
      onReply: (route) => host.onReply(route),
    };
  }

  isMyself(target: string | Uri): boolean {
    return this.#base.isMyself(target);
  }

  /** Kamailio `t_check_status`: the winning status, a local 408 on timeout included. */
  checkStatus(pattern: RegExp | string): boolean {
    const re = typeof pattern === "string" ? compile(pattern) : pattern;
    re.lastIndex = 0;
    return re.test(String(this.#winner.status));
  }

  /** Kamailio `t_is_canceled`: the caller cancelled the transaction. */
  isCanceled(): boolean {
    return this.#host.canceled;
  }

  /** Kamailio `t_branch_timeout`: the failed branch ended by fr_timer / fr_inv_timer. */
  branchTimeout(): boolean {
    return this.#winner.timedOut;
  }

  /** Kamailio `t_branch_replied`: the failed branch received some reply (a 1xx counts). */
  branchReplied(): boolean {
    return this.#winner.replied;
  }
}

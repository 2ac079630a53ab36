/**
 * A client branch of a response context (Kamailio: one UAC of the transaction cell), and how a
 * target list becomes branches: q-groups for serial forking, and the limits checked first.
 */
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import type { TimerHandle } from "../../sip/timers.ts";
import type { AnyClientTransaction, ClientTransactionUser } from "../../sip/transactions/client.ts";
import type { RelayResult, Target } from "./types.ts";

/** One client branch (Kamailio: a UAC of the transaction cell). */
export interface Branch {
  readonly index: number;
  readonly target: Target;
  /** The branch's copy as sent (a smaller matching copy once the transaction finished). */
  request: SipRequest;
  tx: AnyClientTransaction;
  /** Highest status seen; 0 before any reply. */
  status: number;
  /** The final response: received, or generated here (`local`) on timeout or transport error. */
  response: SipResponse | undefined;
  local: boolean;
  provisional: boolean;
  replied: boolean;
  timedOut: boolean;
  /** §9.1: a CANCEL waits for a provisional response. */
  cancelWanted: boolean;
  canceled: boolean;
  final: boolean;
  timer: TimerHandle | undefined;
  timerKind: "fr" | "cancel";
  deadline: number;
}


export function newBranch(index: number, target: Target, request: SipRequest): Branch {
  return {
    index, target, request, tx: undefined as unknown as AnyClientTransaction, status: 0, response: undefined,
    local: false, provisional: false, replied: false, timedOut: false, cancelWanted: false, canceled: false,
    final: false, timer: undefined, timerKind: "fr", deadline: 0,
  };
}

/** What a branch's client transaction reports to its response context. */
export interface BranchHost {
  branchResponse(branch: Branch, response: SipResponse): void;
  branchTimeout(branch: Branch): void;
  failBranch(branch: Branch, status: number, reason: string): void;
}

/**
 * The user of a branch's client transaction: an object rather than closures, since the
 * transaction keeps it for its 32 s after the call (RFC 6026 Timer M) and the bundle (keep_names)
 * gives every named closure a property array of its own.
 */
export class BranchUser implements ClientTransactionUser {
  // Plain fields, no parameter properties: the bridge runs tm's files with Node's type stripping.
  private readonly host: BranchHost;
  private readonly branch: Branch;

  constructor(host: BranchHost, branch: Branch) {
    this.host = host;
    this.branch = branch;
  }

  receiveResponse(response: SipResponse): void {
    this.host.branchResponse(this.branch, response);
  }

  onTimeout(): void {
    this.host.branchTimeout(this.branch);
  }

  /** A socket that is gone: the branch failed (Kamailio answers such branches with 503 too). */
  onTransportError(): void {
    this.host.failBranch(this.branch, 503, "Service Unavailable");
  }
}

/** A target list that cannot start (no target, or more branches than Kamailio's max_branches). */
export function refuseTargets(targets: readonly Target[], existing: number, maxBranches: number): RelayResult | undefined {
  if (targets.length === 0) return { ok: false, error: "no-targets", status: 500, reason: "No Destination" };
  if (existing + (groupByQ(targets)[0]?.length ?? 0) > maxBranches) {
    return { ok: false, error: "too-many-branches", status: 500, reason: "Too Many Branches" };
  }
  return undefined;
}

/** Targets grouped by q, highest first, keeping the order of equal q (RFC 3261 §16.6). */
export function groupByQ(targets: readonly Target[]): Target[][] {
  if (targets.every((t) => t.q === undefined || t.q === targets[0]?.q)) return [targets.slice()];
  const sorted = targets.map((t, i) => ({ t, i })).sort((a, b) => (b.t.q ?? 1) - (a.t.q ?? 1) || a.i - b.i);
  const groups: Target[][] = [];
  let q: number | undefined;
  for (const { t } of sorted) {
    const tq = t.q ?? 1;
    if (groups.length === 0 || tq !== q) groups.push([]);
    groups[groups.length - 1]?.push(t);
    q = tq;
  }
  return groups;
}

/**
 * CANCEL of a response context's pending branches (RFC 3261 §9.1, §16.10): after a 2xx, a 6xx, the
 * caller's CANCEL or a branch's timeout, each branch still ringing gets a CANCEL in a client
 * transaction of its own; a branch that has not answered yet waits for its first provisional.
 */
import type { SipRequest } from "../../sip/message.ts";
import type { AnyClientTransaction } from "../../sip/transactions/client.ts";
import { createCancel } from "../../sip/transactions/requests.ts";
import type { Branch } from "./branch.ts";
import type { ContextDeps } from "./deps.ts";
import type { Target } from "./types.ts";

/** Extra header lines of a CANCEL (e.g. an RFC 3326 Reason). */
export type CancelExtra = [string, string][] | undefined;

// RFC 3326 Reason on the CANCELs sent after a 2xx: phones then log "answered elsewhere", not "missed".
export const COMPLETED_ELSEWHERE: [string, string][] = [["Reason", 'SIP;cause=200;text="Call completed elsewhere"']];

/** What cancelling needs from its response context. */
export interface CancelHost {
  readonly isInvite: boolean;
  readonly branches: readonly Branch[];
  clientTransaction(request: SipRequest, target: Target, branch: Branch | undefined): AnyClientTransaction;
  armBranchTimer(branch: Branch, ms: number, kind: "fr" | "cancel"): void;
}

/** CANCEL every branch without a final response. */
export function cancelPending(host: CancelHost, deps: ContextDeps, extra: CancelExtra): void {
  if (!host.isInvite) return; // §9.1: CANCEL is for INVITE; other requests just run out
  for (const branch of host.branches) {
    if (branch.final || branch.canceled) continue;
    // §9.1: "If no provisional response has been received, the CANCEL request MUST NOT be
    // sent; rather, the client MUST wait for the arrival of a provisional response".
    if (branch.provisional) sendCancel(host, deps, branch, extra);
    else branch.cancelWanted = true;
  }
}

/** A CANCEL for `branch` (once), with Timer B's worth of waiting for the INVITE's final response. */
export function sendCancel(host: CancelHost, deps: ContextDeps, branch: Branch, extra: CancelExtra): void {
  if (branch.canceled) return;
  branch.canceled = true;
  const tx = host.clientTransaction(createCancel(branch.request, extra), branch.target, undefined);
  deps.table.addClient(tx);
  tx.start();
  if (!branch.final) host.armBranchTimer(branch, deps.values.TIMER_B, "cancel");
}

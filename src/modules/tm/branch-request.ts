/**
 * A branch's request may differ from the request the proxy received: the script's branch edits
 * (a From the carrier must see, identities removed) and a target's own CSeq and credentials (a
 * retry after a challenge, Kamailio `uac_auth()`). The caller must never notice: what goes
 * upstream carries the From and CSeq it sent (RFC 3261 §8.2.6.2: a response copies them from the
 * request; §17.1.3 matches the caller's transaction by CSeq method, its dialog by tags).
 */
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import type { BranchEdits, Target } from "./types.ts";

/** Applies the transaction's edits, then the target's CSeq and header fields, to a branch's copy. */
export function applyBranchChanges(request: SipRequest, edits: BranchEdits | undefined, target: Target): void {
  for (const name of edits?.remove ?? []) request.headers.remove(name);
  for (const [name, value] of edits?.set ?? []) request.headers.set(name, value);
  if (target.cseq !== undefined && target.cseq !== request.cseq.seq) setCseq(request, target.cseq);
  for (const [name, value] of target.headers ?? []) request.headers.set(name, value);
}

/**
 * A response to a branch, as the caller must see it: the CSeq number and From of the request it
 * sent. A no-op (no header touched) when the branch went out as received.
 */
export function upstreamForm(response: SipResponse, sent: SipRequest, received: SipRequest): void {
  if (sent === received) return;
  if (response.cseq.seq !== received.cseq.seq) response.headers.set("CSeq", `${received.cseq.seq} ${response.cseq.method}`);
  const from = received.headers.get("from");
  if (from !== undefined && sent.headers.get("from") !== from) response.headers.set("From", from);
}

/**
 * RFC 3262 §7.2: RAck carries the CSeq number of the INVITE whose reliable provisional response
 * a PRACK acknowledges; toward a side whose CSeq was raised, it is raised alike.
 */
function setCseq(request: SipRequest, seq: number): void {
  const shift = seq - request.cseq.seq;
  request.headers.set("CSeq", `${seq} ${request.cseq.method}`);
  if (request.method !== "PRACK") return;
  const rack = /^\s*(\d+)\s+(\d+)\s+(\S+)\s*$/.exec(request.headers.get("rack") ?? "");
  if (rack !== null) request.headers.set("RAck", `${rack[1]} ${Number(rack[2]) + shift} ${rack[3]}`);
}

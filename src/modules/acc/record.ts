/**
 * One accounting record (Kamailio acc: a row of the `acc` table, with the usual acc_extra
 * columns), built from the request, the transaction's branches and the final reply it got.
 */
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import { isSipUri } from "../../sip/uri.ts";
import type { BranchView } from "../tm/index.ts";

export interface AccBranch {
  uri: string;
  /** Where the branch went: a gateway's `host:port`, or `ws:<flow>` for a WebSocket user. */
  dst: string;
  status: number;
  timedOut: boolean;
}

export interface AccRecord {
  method: "INVITE" | "BYE";
  fromTag: string;
  toTag: string;
  callId: string;
  sipCode: number;
  sipReason: string;
  /** The request's arrival and the final reply's departure, ms since the epoch. */
  timeMs: number;
  endMs: number;
  srcUser: string;
  srcDomain: string;
  srcIp: string;
  /** The Request-URI user as it arrived (Kamailio `$dst_ouser`). */
  dstOuser: string;
  /** The user the request was for (the To user). */
  dstUser: string;
  dstDomain: string;
  /** The branch whose reply decided: the 2xx, or the best failure. Empty when none was sent. */
  dst: string;
  branches: AccBranch[];
  shard: string;
}

/** What the route script knew when it flagged the request. */
export interface AccRequestInfo {
  request: SipRequest;
  receivedAt: number;
  srcIp: string;
  /**
   * The Request-URI's user when the request was flagged (Kamailio `$ou`): later steps of the
   * script may rewrite it (E.164 for a carrier, a DID's owner) before the record is written.
   */
  dstOuser?: string;
}

export function userOf(uri: ReturnType<SipRequest["ruri"]>): string {
  if (isSipUri(uri)) return uri.user ?? "";
  return uri.scheme === "tel" && "number" in uri ? uri.number : "";
}

function hostOf(uri: ReturnType<SipRequest["ruri"]>): string {
  return isSipUri(uri) ? uri.host : "";
}

function branchDst(b: BranchView): string {
  return b.target.dst ?? (b.target.flow !== undefined ? `ws:${b.target.flow}` : b.target.uri);
}

/** The deciding branch: the one that answered 2xx, else the one whose status went upstream. */
function decidingBranch(branches: readonly BranchView[], status: number): BranchView | undefined {
  const ok = branches.find((b) => b.status >= 200 && b.status < 300);
  if (ok !== undefined) return ok;
  for (let i = branches.length - 1; i >= 0; i--) if (branches[i]?.status === status) return branches[i];
  return branches[branches.length - 1];
}

export function buildRecord(info: AccRequestInfo, response: SipResponse, branches: readonly BranchView[], endMs: number, shard: string): AccRecord {
  const req = info.request;
  const from = req.from();
  const to = req.to();
  const fromUri = from.uri;
  const deciding = decidingBranch(branches, response.status);
  return {
    method: req.method === "BYE" ? "BYE" : "INVITE",
    fromTag: from.params.get("tag") ?? "",
    // An in-dialog request has the tag already; an INVITE's comes with the reply.
    toTag: to.params.get("tag") ?? response.to().params.get("tag") ?? "",
    callId: req.callId,
    sipCode: response.status,
    sipReason: response.reason,
    timeMs: info.receivedAt,
    endMs,
    // auth_check made the From user the authenticated one (`$au`).
    srcUser: userOf(fromUri),
    srcDomain: hostOf(fromUri),
    srcIp: info.srcIp,
    dstOuser: info.dstOuser ?? userOf(req.ruri()),
    dstUser: userOf(to.uri),
    dstDomain: hostOf(to.uri),
    dst: deciding === undefined ? "" : branchDst(deciding),
    branches: branches.map((b) => ({ uri: b.target.uri, dst: branchDst(b), status: b.status, timedOut: b.timedOut })),
    shard,
  };
}

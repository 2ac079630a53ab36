/**
 * The proxy's Via branch: `z9hG4bK-se-<owner>.<loop>.<transaction>.<branch>[.<signature>]`.
 *
 * - `<owner>` names the Durable Object that owns the transaction, so the object a response
 *   arrives at can pass it to the owner from the top Via alone (`ownerOfBranch`).
 * - `<loop>` is the loop-detection hash of RFC 3261 §16.6 item 8, compared by `isLooped`.
 * - `<transaction>.<branch>` make the branch unique (§8.1.1.7 "unique across space and time").
 * - `<signature>` (with a signer) authenticates the rest, so a response whose branch this
 *   deployment did not issue is dropped before it costs a hop to the object it names.
 *
 * Every character is a token character (§25.1), so the branch needs no quoting.
 */
import type { SipRequest } from "../../sip/message.ts";
import { BRANCH_MAGIC_COOKIE } from "../../sip/via.ts";
import { fnv1a } from "../../util/hash.ts";
import type { Signer } from "../../util/signer.ts";

const PREFIX = BRANCH_MAGIC_COOKIE + "-se-";

/**
 * The owner id as branch text: percent-encoded, and "." (the separator) and the characters that
 * are not token characters encoded too.
 */
export function encodeOwner(ownerId: string): string {
  return encodeURIComponent(ownerId).replace(/[.!*'()]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The owner named in one of this proxy's branches; undefined for any other branch. */
export function ownerOfBranch(branch: string | undefined): string | undefined {
  if (branch === undefined || !branch.startsWith(PREFIX)) return undefined;
  const end = branch.indexOf(".", PREFIX.length);
  if (end === -1) return undefined;
  const encoded = branch.slice(PREFIX.length, end);
  if (encoded.indexOf("%") === -1) return encoded;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}

/** The loop hash stored in one of this proxy's branches. */
function loopHashOf(branch: string): string | undefined {
  const start = branch.indexOf(".", PREFIX.length);
  if (start === -1) return undefined;
  const end = branch.indexOf(".", start + 1);
  return end === -1 ? undefined : branch.slice(start + 1, end);
}

/**
 * RFC 3261 §16.6 item 8: a hash over "the To tag, From tag, Call-ID header field, the
 * Request-URI of the request received (before translation), the topmost Via header, and the
 * sequence number from the CSeq header field, in addition to any Proxy-Require and
 * Proxy-Authorization header fields". The topmost Via is left out on purpose: a request that
 * loops back through another proxy arrives with that proxy's Via on top, so a hash including it
 * would never match and the loop would only end at Max-Forwards 0.
 */
export function loopHash(request: SipRequest, receivedUri: string): string {
  let text = receivedUri + "\n" + (request.to().params.get("tag") ?? "") + "\n";
  text += (request.from().params.get("tag") ?? "") + "\n" + request.callId + "\n" + request.cseq.seq;
  for (const line of request.headers.lines()) {
    if (line.key === "proxy-require" || line.key === "proxy-authorization") text += "\n" + line.value;
  }
  return fnv1a(text).toString(36);
}

export function makeBranch(encodedOwner: string, loop: string, transaction: string, index: number | string, signer?: Signer): string {
  const branch = PREFIX + encodedOwner + "." + loop + "." + transaction + "." + index;
  return signer === undefined ? branch : branch + "." + signer.sign(branch);
}

/**
 * The owner of a branch this deployment issued: its signature is valid. Undefined for any other
 * branch, so that nothing a peer writes into a Via can make the proxy pass a response on.
 */
export function verifiedOwner(branch: string | undefined, signer: Signer): string | undefined {
  if (branch === undefined || !branch.startsWith(PREFIX)) return undefined;
  const dot = branch.lastIndexOf(".");
  if (dot < 0 || !signer.verify(branch.slice(0, dot), branch.slice(dot + 1))) return undefined;
  return ownerOfBranch(branch);
}

/**
 * RFC 3261 §16.3 item 4: "If the request contains a Via header field with a sent-by value that
 * equals a value placed into previous requests by the proxy, the request has been forwarded by
 * this element before. The request has either looped or is legitimately spiraling through the
 * element. To determine if the request has looped, the element MAY perform the branch parameter
 * calculation described in Section 16.6 on this message and compare it to the parameter received
 * in that Via header field. If the parameters match, the request has looped. If they differ, the
 * request is spiraling". This proxy's Vias are recognised by their branch format.
 */
export function isLooped(request: SipRequest, receivedUri: string): boolean {
  let hash: string | undefined;
  for (const via of request.vias()) {
    const branch = via.branch;
    if (branch === undefined || !branch.startsWith(PREFIX)) continue;
    hash ??= loopHash(request, receivedUri);
    if (loopHashOf(branch) === hash) return true;
  }
  return false;
}

/**
 * Caller ID toward a carrier (RFC 3325 P-Asserted-Identity, RFC 3323 Privacy): the number a
 * caller presents is one it owns — its subscriber record's `rpid` or one of its DIDs — never
 * what its phone wrote. A phone may choose among its own numbers with P-Preferred-Identity or its
 * From; anything else it claims is dropped. The carrier is inside the edge's trust domain
 * (RFC 3325 §2.3): it gets the asserted identity even when the caller asks for privacy, together
 * with the Privacy header that tells it to withhold the number from the callee.
 */
import type { SipRequest } from "../../sip/message.ts";
import { parseNameAddr } from "../../sip/name-addr.ts";
import { isSipUri, isTelUri, type Uri } from "../../sip/uri.ts";
import type { BranchEdits } from "../tm/types.ts";
import { dialString, toE164, type NumberPlan } from "./numbers.ts";

/** The identities a caller owns and the groups it is in (subscriber.rpid, dbaliases, grp). */
export interface UserProfile {
  /** E.164 numbers, the subscriber's `rpid` first. */
  numbers: string[];
  /** Kamailio group module `grp` values: `international`, `premium`, or an allowed E.164 prefix. */
  groups: string[];
}

/** The caller ID a carrier sees: an owned number, "anonymous", or the From left as it was. */
export type Presented = { kind: "number"; number: string } | { kind: "anonymous"; number?: string } | { kind: "unchanged" };

/** Headers a phone must not assert itself (RFC 3325 §5: a proxy removes them from untrusted sources). */
const IDENTITY_HEADERS = ["P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID"];
/** RFC 3323 §4.2 privacy values that hide who is calling. */
const HIDING = new Set(["id", "header", "user"]);
export const ANONYMOUS_URI = "sip:anonymous@anonymous.invalid";

function numberOf(uri: Uri, plan: NumberPlan): string | undefined {
  const user = isSipUri(uri) ? uri.user : isTelUri(uri) ? uri.number : undefined;
  return user === undefined ? undefined : toE164(user, plan);
}

/** Whether the request asks to hide its caller (Privacy: id / header / user). */
export function wantsPrivacy(request: SipRequest): boolean {
  const value = request.headers.getAll("privacy").join(";");
  return value.split(/[;,]/).some((v) => HIDING.has(v.trim().toLowerCase()));
}

/** Which caller ID the request gets (see the file comment). */
export function presentedIdentity(request: SipRequest, profile: UserProfile, plan: NumberPlan): Presented {
  const owned = new Set(profile.numbers);
  const ppi = request.headers.get("p-preferred-identity");
  const preferredUri = ppi === undefined ? undefined : parseNameAddr(ppi.split(/,(?=\s*<)/)[0] ?? "");
  const candidates = [preferredUri?.ok ? preferredUri.value.uri : undefined, request.from().uri];
  let number: string | undefined;
  for (const uri of candidates) {
    const n = uri === undefined ? undefined : numberOf(uri, plan);
    if (n !== undefined && owned.has(n)) {
      number = n;
      break;
    }
  }
  number ??= profile.numbers[0];
  if (wantsPrivacy(request)) return number === undefined ? { kind: "anonymous" } : { kind: "anonymous", number };
  if (number !== undefined) return { kind: "number", number };
  // No number of its own: a From that looks like a number is one it does not own.
  const from = request.from().uri;
  const user = isSipUri(from) ? from.user : isTelUri(from) ? from.number : undefined;
  return user !== undefined && dialString(user) !== undefined ? { kind: "anonymous" } : { kind: "unchanged" };
}

/** The From a carrier sees for a presented identity, with the caller's tag. */
export function fromFor(presented: Exclude<Presented, { kind: "unchanged" }>, tag: string | undefined, domain: string): string {
  const t = tag === undefined ? "" : `;tag=${tag}`;
  return presented.kind === "anonymous" ? `"Anonymous" <${ANONYMOUS_URI}>${t}` : `<sip:${presented.number}@${domain}>${t}`;
}

/**
 * The branch edits for a presented identity: From replaced (Kamailio `uac_replace_from`), the
 * phone's own identity headers removed, P-Asserted-Identity set when there is a number.
 */
export function callerIdEdits(request: SipRequest, presented: Presented, domain: string): BranchEdits {
  const set: [string, string][] = [];
  if (presented.kind !== "unchanged") set.push(["From", fromFor(presented, request.from().params.get("tag") ?? undefined, domain)]);
  const number = presented.kind === "unchanged" ? undefined : presented.number;
  if (number !== undefined) set.push(["P-Asserted-Identity", `<sip:${number}@${domain}>`]);
  return { remove: IDENTITY_HEADERS, set };
}

/**
 * The Record-Route parameter that carries the presented identity through the dialog (signed with
 * the entry), so that the caller's later requests show the carrier the same From.
 */
export function cidParam(presented: Presented): string | undefined {
  return presented.kind === "number" ? presented.number : presented.kind === "anonymous" ? "anonymous" : undefined;
}

/** The From of an in-dialog request toward the carrier, from the `cid` parameter of the route set. */
export function fromForCid(cid: string, tag: string | undefined, domain: string): string | undefined {
  if (cid === "anonymous") return fromFor({ kind: "anonymous" }, tag, domain);
  return /^\+[1-9][0-9]{1,14}$/.test(cid) ? fromFor({ kind: "number", number: cid }, tag, domain) : undefined;
}

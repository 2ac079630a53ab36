/**
 * WWW-Authenticate / Proxy-Authenticate values (RFC 3261 §22.1, RFC 7616 §3.3, RFC 8760).
 *
 * Order of the challenges: RFC 8760 §2.3 has the UAS list one challenge per algorithm, most
 * preferred first, and §2.4 has the UAC use the topmost one it supports. The two WebRTC
 * libraries we serve do less than that: their message parsers (JsSIP lib/Parser.js, SIP.js
 * core/messages/parser.js) keep only the *last* WWW-Authenticate / Proxy-Authenticate header
 * (each one overwrites the one before), and they give up when its algorithm is not MD5. So
 * SHA-256 comes first, as RFC 8760 prefers, and MD5 last, where JsSIP and SIP.js look. Listing
 * MD5 first would lock every JsSIP and SIP.js client out.
 *
 * Only qop="auth" is offered: JsSIP picks auth-int whenever it is listed, and integrity of
 * bodies the edge relays untouched buys nothing over TLS.
 */

export type ChallengeAlgorithm = "MD5" | "SHA-256";

export interface ChallengeParams {
  realm: string;
  nonce: string;
  /** One challenge per algorithm, in this order. */
  algorithms: readonly ChallengeAlgorithm[];
  /** Kamailio auth `qop`: "auth" (default) or "" to send no qop (RFC 2069 style). */
  qop?: "auth" | "";
  /** RFC 2617 §3.2.1 / RFC 7616 §3.3 `stale`: the digest was right, only the nonce was not. */
  stale?: boolean;
  opaque?: string;
}

/** RFC 3261 §25.1 quoted-string: backslash-escape `"` and `\`. */
export function quote(value: string): string {
  // Realms rarely hold either character: only then is the regular expression run (per challenge).
  if (!value.includes('"') && !value.includes("\\")) return `"${value}"`;
  return `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/** The header values, one per algorithm, in offer order. */
export function buildChallenges(params: ChallengeParams): string[] {
  let common = `Digest realm=${quote(params.realm)}, nonce="${params.nonce}"`;
  if (params.opaque !== undefined) common += `, opaque=${quote(params.opaque)}`;
  if ((params.qop ?? "auth") === "auth") common += `, qop="auth"`;
  if (params.stale) common += ", stale=true";
  return params.algorithms.map((algorithm) => `${common}, algorithm=${algorithm}`);
}

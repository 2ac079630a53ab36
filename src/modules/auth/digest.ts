import { hashHex, hashOf, type DigestAlgorithm, type HashName } from "./hash.ts";

/**
 * One parsed Authorization / Proxy-Authorization value. Structural, so the parser's output
 * (`DigestCredentials` of src/sip/digest.ts, tagged `kind: "digest"`) plugs in as it is, and so
 * does a hand-built `{ scheme: "Digest", ... }`. `algorithm` stays a string: the parser keeps
 * whatever token the client sent.
 */
export interface DigestCredentials {
  kind?: "digest";
  scheme?: string;
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm?: string;
  cnonce?: string;
  qop?: string;
  nc?: string;
  opaque?: string;
  /** RFC 7616 §3.4.4 hashed username; never offered, so refused. */
  userhash?: boolean;
}

/** Credentials of another scheme (src/sip/digest.ts `OtherCredentials`): never ours. */
export interface OtherCredentials {
  kind: "other";
}

export type AnyCredentials = DigestCredentials | OtherCredentials;

export function isDigest(c: AnyCredentials): c is DigestCredentials {
  if (c.kind === "other") return false;
  const scheme = (c as DigestCredentials).scheme;
  return scheme === undefined || scheme.toLowerCase() === "digest";
}

/** The quality-of-protection values of RFC 7616 §3.3; `undefined` is the RFC 2069 form. */
export type Qop = "auth" | "auth-int";

/**
 * HA1 = H(username ":" realm ":" password) (RFC 7616 §3.4.2; Kamailio auth_db `calculate_ha1`).
 * Kamailio's `ha1b` column is the same hash over `user@domain` as the username, for clients
 * that put the domain into the digest username.
 */
export function computeHa1(hash: HashName, username: string, realm: string, password: string): string {
  return hashHex(hash, `${username}:${realm}:${password}`);
}

export interface ResponseInput {
  algorithm: DigestAlgorithm;
  /** H(A1) of the plain algorithm, from the subscriber table or `computeHa1`. */
  ha1: string;
  nonce: string;
  method: string;
  /** The digest-uri exactly as the client sent it in `uri=`. */
  uri: string;
  qop?: Qop;
  nc?: string;
  cnonce?: string;
  /** The message body, hashed into A2 for qop=auth-int. */
  body?: string;
}

/**
 * The `response` value a client with the right secret sends (RFC 7616 §3.4.1):
 *
 *   response = KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2))   with qop
 *   response = KD(H(A1), nonce ":" H(A2))                             without (RFC 2069)
 *
 * with KD(secret, data) = H(secret ":" data), A2 = method ":" uri [":" H(body)] and, for the
 * `-sess` algorithms, H(A1) = H(H(user:realm:password) ":" nonce ":" cnonce) (§3.4.2).
 */
export function computeResponse(input: ResponseInput): string {
  const hash = hashOf(input.algorithm);
  const cnonce = input.cnonce ?? "";
  let ha1 = input.ha1;
  if (input.algorithm === "MD5-sess" || input.algorithm === "SHA-256-sess") {
    ha1 = hashHex(hash, `${ha1}:${input.nonce}:${cnonce}`);
  }
  let ha2: string;
  if (input.qop === "auth-int") ha2 = hashHex(hash, `${input.method}:${input.uri}:${hashHex(hash, input.body ?? "")}`);
  else ha2 = ha2Of(hash, input.method, input.uri);
  if (input.qop === undefined) return hashHex(hash, `${ha1}:${input.nonce}:${ha2}`);
  return hashHex(hash, `${ha1}:${input.nonce}:${input.nc ?? ""}:${cnonce}:${input.qop}:${ha2}`);
}

/**
 * H(method ":" uri) of the last few (method, uri) pairs: the clients of one domain send the same
 * few (`REGISTER:sip:example.com`), so nearly every digest check saves one of its hashes. A2 is
 * public (it is in the request), so remembering it leaks nothing.
 */
const HA2_MEMO_SIZE = 64;
const ha2Memo = new Map<string, string>();

function ha2Of(hash: HashName, method: string, uri: string): string {
  const key = `${hash} ${method}:${uri}`;
  let value = ha2Memo.get(key);
  if (value !== undefined) return value;
  value = hashHex(hash, `${method}:${uri}`);
  // Bounded: a client choosing fresh URIs only replaces the oldest entry.
  if (ha2Memo.size >= HA2_MEMO_SIZE) ha2Memo.delete(ha2Memo.keys().next().value!);
  ha2Memo.set(key, value);
  return value;
}

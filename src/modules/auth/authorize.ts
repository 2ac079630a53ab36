import { computeHa1, computeResponse, isDigest, type AnyCredentials, type DigestCredentials, type Qop } from "./digest.ts";
import { hashOf, hexEquals, parseAlgorithm, type DigestAlgorithm } from "./hash.ts";
import type { NonceSigner } from "./nonce.ts";
import { parseNc, type NonceCountTracker } from "./nonce-count.ts";

/**
 * What the subscriber table holds for one user (Kamailio auth_db columns). Any may be missing;
 * HA1 values are lowercase hex for the realm the user is challenged with.
 */
export interface SubscriberSecrets {
  /** `ha1` = MD5(username:realm:password). */
  ha1?: string;
  /** `ha1b` = MD5(username@domain:realm:password), for clients that send user@domain. */
  ha1b?: string;
  /** `ha1_sha256` = SHA-256(username:realm:password) (RFC 8760; sipedge's column). */
  ha1Sha256?: string;
  /** `password` in plain text (used with `calculate_ha1`, or when no HA1 fits). */
  password?: string;
}

export interface SubscriberKey {
  /** The digest username as sent (`alice` or `alice@example.com`). */
  username: string;
  /** Its user part: what the `username` column holds. */
  user: string;
  /** The realm; Kamailio auth_db with `use_domain` looks the `domain` column up by it. */
  realm: string;
}

export type SubscriberLookup = (key: SubscriberKey) => Promise<SubscriberSecrets | undefined> | SubscriberSecrets | undefined;

/** Kamailio's auth return codes (auth/api.h `auth_cfg_result`), as names. */
export type AuthFailure =
  | "no-credentials" //    -5 AUTH_NO_CREDENTIALS
  | "stale-nonce" //       -4 AUTH_STALE_NONCE
  | "user-unknown" //      -3 AUTH_USER_UNKNOWN
  | "invalid-password" //  -2 AUTH_INVALID_PASSWORD
  | "nonce-reused" //      -6 AUTH_NONCE_REUSED
  | "malformed" //         -1 AUTH_ERROR
  | "user-mismatch"; //    -8 AUTH_USER_MISMATCH (identity.ts)

export const KAMAILIO_RETCODE: Record<AuthFailure | "ok", number> = {
  ok: 1,
  malformed: -1,
  "invalid-password": -2,
  "user-unknown": -3,
  "stale-nonce": -4,
  "no-credentials": -5,
  "nonce-reused": -6,
  "user-mismatch": -8,
};

export type AuthResult =
  | {
      ok: true;
      code: "ok";
      username: string;
      user: string;
      realm: string;
      algorithm: DigestAlgorithm;
      /** The credentials that authorized, for `consumeCredentials`. */
      credentials: DigestCredentials;
    }
  | { ok: false; code: AuthFailure; username?: string };

export interface AuthorizeInput {
  /** Parsed Authorization (www) or Proxy-Authorization (proxy) values of the request. */
  credentials: AnyCredentials | readonly AnyCredentials[] | undefined;
  method: string;
  realm: string;
  /** The message body, for qop=auth-int. */
  body?: string;
  /** The binding the nonce was issued with (nonce.ts). */
  bind?: string;
  now: number;
}

export interface Verifier {
  signer: NonceSigner;
  tracker?: NonceCountTracker;
  lookup: SubscriberLookup;
  /** Kamailio auth_db `calculate_ha1`: HA1 from the plaintext `password` column. */
  calculateHa1: boolean;
}

/**
 * RFC 3261 §22.4: a server picks the credentials whose realm it owns; among several (one per
 * algorithm), the first with an algorithm we verify.
 */
export function selectCredentials(
  credentials: AnyCredentials | readonly AnyCredentials[] | undefined,
  realm: string,
): DigestCredentials | undefined {
  if (credentials === undefined) return undefined;
  const list: readonly AnyCredentials[] = Array.isArray(credentials) ? credentials : [credentials as AnyCredentials];
  let sameRealm: DigestCredentials | undefined;
  for (const c of list) {
    if (!isDigest(c) || c.realm !== realm) continue;
    if (parseAlgorithm(c.algorithm) !== undefined) return c;
    sameRealm ??= c;
  }
  return sameRealm;
}

interface Checked {
  algorithm: DigestAlgorithm;
  qop: Qop | undefined;
  nc: number;
}

const HEX_LENGTH = { MD5: 32, "SHA-256": 64 } as const;

/**
 * RFC 7616 §3.4 / RFC 2617 §3.2.2: "If a directive or its value is improper, or required
 * directives are missing, the proper response is 400 Bad Request."
 */
function checkDirectives(c: DigestCredentials): Checked | undefined {
  const algorithm = parseAlgorithm(c.algorithm);
  if (!algorithm || !c.username || !c.nonce || !c.uri || c.userhash === true) return undefined;
  if (c.response.length !== HEX_LENGTH[hashOf(algorithm)]) return undefined;
  if (c.qop === undefined || c.qop === "") {
    // RFC 2069 form: no nc, no cnonce; a -sess algorithm needs the cnonce, so it cannot be used.
    return algorithm.endsWith("-sess") ? undefined : { algorithm, qop: undefined, nc: 0 };
  }
  const qop = c.qop.toLowerCase();
  if (qop !== "auth" && qop !== "auth-int") return undefined;
  const nc = c.nc === undefined ? undefined : parseNc(c.nc);
  if (nc === undefined || nc === 0 || !c.cnonce) return undefined;
  return { algorithm, qop, nc };
}

/** The user part of a digest username; `alice@example.com` → `alice`. */
function userPart(username: string): string {
  const at = username.indexOf("@");
  return at < 0 ? username : username.slice(0, at);
}

/**
 * Picks the stored HA1 that fits the algorithm and the username's form, computing it from the
 * plaintext password where Kamailio would (`calculate_ha1`) or where no stored HA1 fits.
 */
function ha1For(
  secrets: SubscriberSecrets,
  algorithm: DigestAlgorithm,
  username: string,
  realm: string,
  calculateHa1: boolean,
): string | undefined {
  const hash = hashOf(algorithm);
  const withDomain = username.includes("@");
  if (!calculateHa1) {
    const stored = hash === "MD5" ? (withDomain ? secrets.ha1b : secrets.ha1) : withDomain ? undefined : secrets.ha1Sha256;
    if (stored) return stored.toLowerCase();
  }
  if (secrets.password === undefined) return undefined;
  return computeHa1(hash, username, realm, secrets.password);
}

// Unknown users cost the same hashing as known ones, so timing does not tell them apart.
const UNKNOWN_USER_HA1 = { MD5: "0".repeat(32), "SHA-256": "0".repeat(64) } as const;

/**
 * Kamailio auth_db `www_authorize` / `proxy_authorize` as a pure verdict: checks the digest
 * first, then the nonce. A genuine digest over an expired nonce (or one signed with a
 * retired secret, or bound to another connection) is `stale-nonce`: "The server should only
 * set stale to TRUE if it receives a request for which the nonce is invalid but with a valid
 * digest for that nonce" (RFC 2617 §3.2.1), so the client retries without asking its user. Unknown user and wrong password stay distinct for the script
 * (logs, failure counters) but the reply to both is the same fresh challenge (`replyFor`).
 */
export async function authorize(v: Verifier, input: AuthorizeInput): Promise<AuthResult> {
  const creds = selectCredentials(input.credentials, input.realm);
  if (!creds) return { ok: false, code: "no-credentials" };
  const checked = checkDirectives(creds);
  if (!checked) return { ok: false, code: "malformed", username: creds.username || undefined };
  const { username } = creds;
  const user = userPart(username);
  const secrets = await v.lookup({ username, user, realm: input.realm });
  const ha1 = secrets ? ha1For(secrets, checked.algorithm, username, input.realm, v.calculateHa1) : undefined;
  const expected = computeResponse({
    algorithm: checked.algorithm,
    ha1: ha1 ?? UNKNOWN_USER_HA1[hashOf(checked.algorithm)],
    nonce: creds.nonce,
    method: input.method,
    uri: creds.uri,
    qop: checked.qop,
    nc: creds.nc,
    cnonce: creds.cnonce,
    body: input.body,
  });
  if (!secrets) return { ok: false, code: "user-unknown", username };
  if (ha1 === undefined || !hexEquals(expected, creds.response)) return { ok: false, code: "invalid-password", username };
  const nonce = v.signer.verify(creds.nonce, input.now, { realm: input.realm, bind: input.bind });
  if (!nonce.ok || nonce.expired) return { ok: false, code: "stale-nonce", username };
  const verdict = v.tracker?.check(checked.nc, nonce, input.now) ?? "ok";
  if (verdict === "reused") return { ok: false, code: "nonce-reused", username };
  if (verdict === "stale") return { ok: false, code: "stale-nonce", username };
  return { ok: true, code: "ok", username, user, realm: input.realm, algorithm: checked.algorithm, credentials: creds };
}

export type AuthKind = "www" | "proxy";

export interface AuthReply {
  status: 400 | 401 | 403 | 407;
  reason: string;
  /** Challenge again (with `stale`), or answer without a challenge (400, 403). */
  challenge: { stale: boolean } | undefined;
}

/**
 * The answer a failed verdict gets: one table, so unknown user and wrong password cannot drift
 * apart. Stale and reused nonces are challenged with stale=true (Kamailio does the same for a
 * reused nonce), everything else with a plain fresh challenge.
 */
export function replyFor(kind: AuthKind, code: AuthFailure): AuthReply {
  const status = kind === "www" ? 401 : 407;
  const reason = kind === "www" ? "Unauthorized" : "Proxy Authentication Required";
  switch (code) {
    case "malformed":
      return { status: 400, reason: "Bad Request", challenge: undefined };
    case "user-mismatch":
      return { status: 403, reason: "Forbidden", challenge: undefined };
    case "stale-nonce":
    case "nonce-reused":
      return { status, reason, challenge: { stale: true } };
    case "no-credentials":
    case "user-unknown":
    case "invalid-password":
      return { status, reason, challenge: { stale: false } };
  }
}

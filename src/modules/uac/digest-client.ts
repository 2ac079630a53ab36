/**
 * The client side of digest authentication (RFC 3261 §22.2, RFC 7616, RFC 8760): answering a
 * 401/407 from a carrier with credentials. The hashing is the auth module's (the same code that
 * verifies our own callers), so what the edge sends is what it would accept.
 */
import { computeHa1, computeResponse } from "../auth/digest.ts";
import { parseAlgorithm, type DigestAlgorithm } from "../auth/hash.ts";
import { formatCredentials, parseChallenge, type Challenge } from "../../sip/digest.ts";
import type { SipResponse } from "../../sip/message.ts";

/** An account at a carrier (a `uacreg` row's authentication columns). */
export interface UacCredentials {
  /** `auth_username` (or `r_username` when that is empty). */
  username: string;
  /** `auth_password`, plain text. */
  password: string;
  /** `auth_ha1`: MD5(username:realm:password), preferred over the password (Kamailio uac_auth mode 1). */
  ha1: string;
  /** `realm`: the challenge must name it; empty takes the realm of the challenge. */
  realm: string;
}

export interface ChallengeAnswer {
  /** Authorization for a 401, Proxy-Authorization for a 407 (RFC 3261 §22.2, §22.3). */
  header: "Authorization" | "Proxy-Authorization";
  value: string;
  realm: string;
  algorithm: DigestAlgorithm;
  /** The challenge said its nonce was stale (RFC 7616 §3.3): the password was right, try again. */
  stale: boolean;
}

export type AnswerResult = { ok: true; answer: ChallengeAnswer } | { ok: false; reason: string };

/** What of the request is hashed (RFC 7616 §3.4.3: A2 = method ":" digest-uri [":" H(body)]). */
export interface ChallengedRequest {
  method: string;
  /** The Request-URI as sent: the digest-uri. */
  uri: string;
  body?: string;
}

// SHA-256 first when a password allows it (RFC 8760 §2.4: the client uses the strongest it supports).
const PREFERENCE: readonly DigestAlgorithm[] = ["SHA-256", "SHA-256-sess", "MD5", "MD5-sess"];

/**
 * Credentials for one of the response's challenges: the strongest algorithm the account can
 * answer (an HA1-only account answers MD5 only), qop=auth when offered (auth-int when it is the
 * only one), a fresh cnonce and nc 00000001 (each challenge is answered once).
 */
export function answerChallenge(response: SipResponse, request: ChallengedRequest, credentials: UacCredentials, cnonce: string = randomCnonce()): AnswerResult {
  const www = response.status === 401;
  const values = response.headers.lines().filter((l) => l.key === (www ? "www-authenticate" : "proxy-authenticate")).map((l) => l.value);
  if (values.length === 0) return { ok: false, reason: `${response.status} without ${www ? "WWW-Authenticate" : "Proxy-Authenticate"}` };
  const usable: { challenge: Challenge; algorithm: DigestAlgorithm }[] = [];
  let reason = "no Digest challenge";
  for (const value of values) {
    const parsed = parseChallenge(value);
    if (!parsed.ok) {
      reason = parsed.reason;
      continue;
    }
    const challenge = parsed.value;
    const algorithm = parseAlgorithm(challenge.algorithm);
    if (algorithm === undefined) reason = `unsupported algorithm ${challenge.algorithm ?? ""}`;
    else if (credentials.realm !== "" && challenge.realm !== credentials.realm) reason = `realm ${challenge.realm} is not the account's (${credentials.realm})`;
    else if (credentials.password === "" && (credentials.ha1 === "" || !algorithm.startsWith("MD5"))) reason = `no password for ${algorithm}`;
    else usable.push({ challenge, algorithm });
  }
  usable.sort((a, b) => PREFERENCE.indexOf(a.algorithm) - PREFERENCE.indexOf(b.algorithm));
  const chosen = usable[0];
  if (chosen === undefined) return { ok: false, reason };
  const { challenge, algorithm } = chosen;
  const qop = challenge.qop === undefined || challenge.qop.length === 0 ? undefined : challenge.qop.includes("auth") ? "auth" : challenge.qop.includes("auth-int") ? "auth-int" : undefined;
  if (challenge.qop !== undefined && challenge.qop.length > 0 && qop === undefined) return { ok: false, reason: `unsupported qop ${challenge.qop.join(",")}` };
  const hash = algorithm.startsWith("MD5") ? "MD5" : "SHA-256";
  const ha1 = hash === "MD5" && credentials.ha1 !== "" ? credentials.ha1 : computeHa1(hash, credentials.username, challenge.realm, credentials.password);
  const nc = "00000001";
  const digest = computeResponse({
    algorithm, ha1, nonce: challenge.nonce, method: request.method, uri: request.uri,
    ...(qop === undefined ? {} : { qop, nc, cnonce }),
    ...(qop === "auth-int" ? { body: request.body ?? "" } : {}),
  });
  const value = formatCredentials({
    kind: "digest", username: credentials.username, realm: challenge.realm, nonce: challenge.nonce, uri: request.uri, response: digest,
    // RFC 2617 §3.2.2: an absent algorithm means MD5; say it only when the challenge did.
    ...(challenge.algorithm === undefined ? {} : { algorithm: challenge.algorithm }),
    ...(qop === undefined ? {} : { qop, nc, cnonce }),
    ...(challenge.opaque === undefined ? {} : { opaque: challenge.opaque }),
    params: new Map(),
  });
  return { ok: true, answer: { header: www ? "Authorization" : "Proxy-Authorization", value, realm: challenge.realm, algorithm, stale: challenge.stale === true } };
}

function randomCnonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

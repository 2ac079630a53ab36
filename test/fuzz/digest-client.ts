/**
 * The client side of a digest round, as JsSIP and SIP.js do it: read the challenge of a 401/407,
 * answer with credentials (qop=auth). Built on the same digest code the edge verifies with, so a
 * mutated request that keeps its credentials still authenticates.
 */
import { computeHa1, computeResponse } from "../../src/modules/auth/index.ts";
import { formatCredentials, parseChallenge } from "../../src/sip/digest.ts";
import type { SipResponse } from "../../src/sip/message.ts";

export interface CredentialRequest {
  method: string;
  ruri: string;
  user: string;
  password: string;
  cnonce: string;
  /** Which of the offered challenges (one per algorithm) to answer. */
  offer?: number;
}

/** The header line answering `challenge`, or undefined when it offers nothing usable. */
export function credentialsFor(challenge: SipResponse, r: CredentialRequest): [string, string] | undefined {
  const header = challenge.status === 401 ? "www-authenticate" : "proxy-authenticate";
  const offers = challenge.headers.lines().filter((l) => l.key === header).map((l) => parseChallenge(l.value));
  const offer = offers[(r.offer ?? 0) % Math.max(1, offers.length)];
  if (offer === undefined || !offer.ok) return undefined;
  const algorithm = offer.value.algorithm === "SHA-256" ? "SHA-256" : "MD5";
  const nc = "00000001";
  const { realm, nonce } = offer.value;
  const response = computeResponse({ algorithm, ha1: computeHa1(algorithm, r.user, realm, r.password), nonce, method: r.method, uri: r.ruri, qop: "auth", nc, cnonce: r.cnonce });
  const value = formatCredentials({ kind: "digest", username: r.user, realm, nonce, uri: r.ruri, response, algorithm, cnonce: r.cnonce, qop: "auth", nc, params: new Map() });
  return [challenge.status === 401 ? "Authorization" : "Proxy-Authorization", value];
}

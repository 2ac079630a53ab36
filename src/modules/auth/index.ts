import {
  authorize,
  selectCredentials,
  type AuthKind,
  type AuthorizeInput,
  type AuthResult,
  type SubscriberLookup,
} from "./authorize.ts";
import { buildChallenges, type ChallengeAlgorithm } from "./challenge.ts";
import type { AnyCredentials } from "./digest.ts";
import { checkIdentity, type RequestParties } from "./identity.ts";
import { NonceSigner, type NonceSecrets } from "./nonce.ts";
import { NonceCountTracker } from "./nonce-count.ts";

export { KAMAILIO_RETCODE, replyFor, selectCredentials } from "./authorize.ts";
export type { AuthFailure, AuthKind, AuthReply, AuthResult, SubscriberKey, SubscriberLookup, SubscriberSecrets } from "./authorize.ts";
export type { ChallengeAlgorithm } from "./challenge.ts";
export { computeHa1, computeResponse, type AnyCredentials, type DigestCredentials } from "./digest.ts";
export { checkIdentity, realmOf, type RequestParties } from "./identity.ts";
export type { NonceSecrets } from "./nonce.ts";

export interface AuthOptions {
  /** Nonce signing secrets (Kamailio auth `secret`); `previous` stays valid after a rotation. */
  secrets: NonceSecrets;
  /** Reads a subscriber's HA1 / password (auth_db over D1, through a cache). */
  lookup: SubscriberLookup;
  /** Kamailio auth `nonce_expire`, seconds. */
  nonceExpire?: number;
  /** Challenges offered, in order (challenge.ts explains why MD5 comes first). */
  algorithms?: readonly ChallengeAlgorithm[];
  /** Kamailio auth `qop`: "auth", or "" for none. */
  qop?: "auth" | "";
  /** Kamailio auth_db `calculate_ha1`. */
  calculateHa1?: boolean;
  /** Kamailio auth `nc_enabled`: remember nonce counts (per object, nonce-count.ts). */
  ncEnabled?: boolean;
  /**
   * Most nonces the nonce-count table holds (per object). Full, it refuses as stale the unseen
   * nonces issued up to the one it evicted (nonce-count.ts): a client must answer before this many
   * nonces issued after its own are used.
   */
  ncCapacity?: number;
  /** Time source in ms; tests inject their own. */
  clock?: () => number;
}

export interface ChallengeReply {
  status: 401 | 407;
  reason: "Unauthorized" | "Proxy Authentication Required";
  header: "WWW-Authenticate" | "Proxy-Authenticate";
  /** One header value per algorithm, in offer order. */
  values: string[];
}

export interface ChallengeOptions {
  stale?: boolean;
  /** Ties the nonce to a flow/connection (nonce.ts); pass the same value to authorize. */
  bind?: string;
}

export type AuthorizeRequest = Omit<AuthorizeInput, "now">;

export interface AuthCheckRequest extends AuthorizeRequest {
  parties: RequestParties;
  /** Hosts that belong to the realm (Kamailio `is_myself` for the domain). */
  sameDomain?: (host: string) => boolean;
}

/** The `auth` namespace of the route script (Kamailio auth + auth_db). */
export interface Auth {
  /** Kamailio `www_challenge(realm, flags)`: 401 with WWW-Authenticate. */
  wwwChallenge(realm: string, options?: ChallengeOptions): ChallengeReply;
  /** Kamailio `proxy_challenge(realm, flags)`: 407 with Proxy-Authenticate. */
  proxyChallenge(realm: string, options?: ChallengeOptions): ChallengeReply;
  /** Kamailio `auth_challenge(realm, flags)`: www for REGISTER, proxy for the rest. */
  authChallenge(method: string, realm: string, options?: ChallengeOptions): ChallengeReply;
  /** Kamailio auth_db `www_authorize(realm, table)` over Authorization credentials. */
  wwwAuthorize(request: AuthorizeRequest): Promise<AuthResult>;
  /** Kamailio auth_db `proxy_authorize(realm, table)` over Proxy-Authorization credentials. */
  proxyAuthorize(request: AuthorizeRequest): Promise<AuthResult>;
  /**
   * Kamailio auth_db `auth_check(realm, table, 1)`: www_authorize for REGISTER, proxy_authorize
   * otherwise, then the From/To user must be the authenticated one (`user-mismatch`, 403).
   */
  authCheck(request: AuthCheckRequest): Promise<AuthResult>;
  /** Kamailio `has_credentials(realm)`: credentials for this realm are present. */
  hasCredentials(credentials: AnyCredentials | readonly AnyCredentials[] | undefined, realm: string): boolean;
}

export function createAuth({
  secrets,
  lookup,
  nonceExpire = 300,
  algorithms = ["SHA-256", "MD5"],
  qop = "auth",
  calculateHa1 = false,
  ncEnabled = true,
  ncCapacity = 4096,
  clock = Date.now,
}: AuthOptions): Auth {
  if (algorithms.length === 0) throw new Error("auth: at least one challenge algorithm is needed");
  const signer = new NonceSigner(secrets, nonceExpire);
  const tracker = ncEnabled ? new NonceCountTracker({ capacity: ncCapacity }) : undefined;
  const verifier = { signer, tracker, lookup, calculateHa1 };

  function challenge(kind: AuthKind, realm: string, options: ChallengeOptions = {}): ChallengeReply {
    const nonce = signer.issue(clock(), { realm, bind: options.bind });
    const values = buildChallenges({ realm, nonce, algorithms, qop, stale: options.stale });
    return kind === "www"
      ? { status: 401, reason: "Unauthorized", header: "WWW-Authenticate", values }
      : { status: 407, reason: "Proxy Authentication Required", header: "Proxy-Authenticate", values };
  }

  const run = (request: AuthorizeRequest): Promise<AuthResult> => authorize(verifier, { ...request, now: clock() });

  return {
    wwwChallenge: (realm, options) => challenge("www", realm, options),
    proxyChallenge: (realm, options) => challenge("proxy", realm, options),
    authChallenge: (method, realm, options) => challenge(method === "REGISTER" ? "www" : "proxy", realm, options),
    wwwAuthorize: run,
    proxyAuthorize: run,
    async authCheck(request) {
      const result = await run(request);
      if (!result.ok) return result;
      const identity = checkIdentity(request.parties, result, request.sameDomain);
      return identity.ok ? result : { ok: false, code: identity.code, username: result.username };
    },
    hasCredentials: (credentials, realm) => selectCredentials(credentials, realm) !== undefined,
  };
}

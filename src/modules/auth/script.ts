import type { RequestContext } from "../../routing/context.ts";
import { parseCredentials, type Credentials } from "../../sip/digest.ts";
import { isSipUri, type Uri } from "../../sip/uri.ts";
import type { AuthKind, AuthResult } from "./authorize.ts";
import { replyFor, type Auth, type RequestParties } from "./index.ts";

const HEADER: Record<AuthKind, string> = { www: "Authorization", proxy: "Proxy-Authorization" };
/** HEADER as the parsed lines key it (lower case), so no lower-casing per line. */
const HEADER_KEY: Record<AuthKind, string> = { www: "authorization", proxy: "proxy-authorization" };

/**
 * The `ctx.auth` namespace of a request route: Kamailio auth + auth_db over the request at hand.
 * The realm is the configured SIP domain (the stored HA1s are computed with it); nonces are bound
 * to the flow the request arrived on, so a nonce only verifies on the connection it was issued to.
 */
export class AuthScript {
  #used: AuthKind | undefined;

  constructor(
    private readonly ctx: RequestContext,
    private readonly auth: Auth,
    private readonly subscriberExists?: (user: string, domain: string) => Promise<boolean>,
  ) {}

  /**
   * Kamailio auth_db `is_subscriber(uri, "subscriber", 1)`: the URI's user is a subscriber of this
   * domain (from the isolate's subscriber cache). A script checks it before a location lookup of
   * an unauthenticated request, so guessed names cost no Location object.
   */
  async isSubscriber(uri: Uri = this.ctx.msg.ruri()): Promise<boolean> {
    if (!isSipUri(uri) || !uri.user || !this.ctx.isMyself(uri.host) || this.subscriberExists === undefined) return false;
    return this.subscriberExists(uri.user.toLowerCase(), this.ctx.config.domain);
  }

  /** Kamailio `auth_check(realm, "subscriber", 1)`: authorize, then From/To user = auth user. */
  authCheck(realm = this.ctx.config.domain): Promise<AuthResult> {
    const kind = this.kindOf();
    this.#used = kind;
    const ctx = this.ctx;
    return this.note(this.auth.authCheck({
      credentials: this.credentials(kind),
      method: this.ctx.msg.method,
      realm,
      bind: this.ctx.source.flow,
      parties: this.parties(),
      // A method, not an arrow property: the bundler names arrow properties at run time (keep_names).
      sameDomain(host) {
        return ctx.isMyself(host);
      },
    }));
  }

  /** Tells the context about a failed check, for the excessive-REGISTER rule (routes/security.ts). */
  private async note(pending: Promise<AuthResult>): Promise<AuthResult> {
    const result = await pending;
    if (!result.ok) this.ctx.authFailure = { code: result.code, username: result.username };
    return result;
  }

  /** Kamailio `www_authorize(realm, "subscriber")`. */
  wwwAuthorize(realm = this.ctx.config.domain): Promise<AuthResult> {
    this.#used = "www";
    return this.note(this.auth.wwwAuthorize({ credentials: this.credentials("www"), method: this.ctx.msg.method, realm, bind: this.ctx.source.flow }));
  }

  /** Kamailio `proxy_authorize(realm, "subscriber")`. */
  proxyAuthorize(realm = this.ctx.config.domain): Promise<AuthResult> {
    this.#used = "proxy";
    return this.note(this.auth.proxyAuthorize({ credentials: this.credentials("proxy"), method: this.ctx.msg.method, realm, bind: this.ctx.source.flow }));
  }

  /**
   * Answers a failed authorization the way Kamailio scripts do: a fresh challenge (with
   * stale=true for an expired or reused nonce), 403 for a user mismatch, 400 for garbage.
   * Unknown users and wrong passwords get the same challenge, so nobody can enumerate users.
   */
  reject(result: Extract<AuthResult, { ok: false }>, realm = this.ctx.config.domain): void {
    const kind = this.#used ?? this.kindOf();
    const reply = replyFor(kind, result.code);
    if (!reply.challenge) {
      this.ctx.sl.sendReply(reply.status, reply.reason);
      return;
    }
    this.challenge(kind, realm, reply.challenge.stale);
  }

  /** Kamailio `www_challenge(realm, flags)`: 401 with WWW-Authenticate (MD5, then SHA-256). */
  wwwChallenge(realm = this.ctx.config.domain, stale = false): void {
    this.challenge("www", realm, stale);
  }

  /** Kamailio `proxy_challenge(realm, flags)`: 407 with Proxy-Authenticate. */
  proxyChallenge(realm = this.ctx.config.domain, stale = false): void {
    this.challenge("proxy", realm, stale);
  }

  /** Kamailio `consume_credentials()`: credentials are not relayed past this proxy. */
  consumeCredentials(): void {
    this.ctx.msg.headers.remove(HEADER[this.#used ?? this.kindOf()]);
  }

  private challenge(kind: AuthKind, realm: string, stale: boolean): void {
    const reply = kind === "www" ? this.auth.wwwChallenge(realm, { stale, bind: this.ctx.source.flow }) : this.auth.proxyChallenge(realm, { stale, bind: this.ctx.source.flow });
    this.ctx.sl.sendReply(reply.status, reply.reason, { headers: reply.values.map((v) => [reply.header, v]) });
  }

  private kindOf(): AuthKind {
    return this.ctx.msg.method === "REGISTER" ? "www" : "proxy";
  }

  private credentials(kind: AuthKind): Credentials[] {
    const out: Credentials[] = [];
    // Authorization values are not comma lists (a digest value contains commas): one per line.
    for (const line of this.ctx.msg.headers.lines()) {
      if (line.key !== HEADER_KEY[kind]) continue;
      const parsed = parseCredentials(line.value);
      if (parsed.ok) out.push(parsed.value);
    }
    return out;
  }

  private parties(): RequestParties {
    const from = this.ctx.msg.from().uri;
    const to = this.ctx.msg.to().uri;
    return {
      method: this.ctx.msg.method,
      fromUser: isSipUri(from) ? from.user : undefined,
      fromHost: isSipUri(from) ? from.host : "",
      toUser: isSipUri(to) ? to.user : undefined,
      toHost: isSipUri(to) ? to.host : "",
    };
  }
}

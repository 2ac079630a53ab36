import { HEX, TOKEN, describeChar, lower, lowerName, quote, scanClass, scanQuoted, skipWs, trimEnd, unquote } from "./grammar.ts";
import { fail, ok } from "./result.ts";
import type { Parsed } from "./result.ts";

/**
 * Authorization / Proxy-Authorization and WWW-Authenticate / Proxy-Authenticate values
 * (RFC 2617, RFC 7616, RFC 8760 for SIP). Parsing only; hashing lives with the auth module.
 * These values contain commas: the header layer must not split them into list elements.
 */

/** auth-params: names lower-cased, values with quotes and quoted-pairs removed. */
export type AuthParams = Map<string, string>;

export interface DigestCredentials {
  kind: "digest";
  /** From username, or decoded from RFC 7616 username* (an ext-value). */
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  /** As written ("MD5", "SHA-256", "MD5-sess" ...); absent means MD5 (RFC 2617 §3.2.2). */
  algorithm?: string;
  cnonce?: string;
  opaque?: string;
  qop?: string;
  /** nonce-count, 8 hex digits as written. */
  nc?: string;
  userhash?: boolean;
  /** Every auth-param, including the ones above and unknown extensions. */
  params: AuthParams;
}

/**
 * A scheme sipedge does not implement (RFC 4475 regaut01: "NoOneKnowsThisScheme"), kept so
 * the caller can answer with a Digest challenge. `token68` holds a Bearer-style credential.
 */
export interface OtherCredentials {
  kind: "other";
  scheme: string;
  params: AuthParams;
  token68?: string;
}

export type Credentials = DigestCredentials | OtherCredentials;

export interface Challenge {
  realm: string;
  nonce: string;
  algorithm?: string;
  /** qop-options, e.g. ["auth"] or ["auth", "auth-int"]. */
  qop?: string[];
  stale?: boolean;
  opaque?: string;
  domain?: string;
  userhash?: boolean;
}

export function parseCredentials(text: string): Parsed<Credentials> {
  const head = parseScheme(text);
  if (typeof head === "string") return fail(head);
  const { scheme, i, end } = head;
  const params = parseAuthParams(text, i, end);
  if (lower(scheme) !== "digest") {
    if (typeof params !== "string") return ok({ kind: "other", scheme, params });
    const token68 = text.slice(i, end);
    if (!TOKEN68.test(token68)) return fail(params);
    return ok({ kind: "other", scheme, params: new Map(), token68 });
  }
  if (typeof params === "string") return fail(params);
  return digestCredentials(params);
}

/** token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" (RFC 7235 §2.1) */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

function digestCredentials(params: AuthParams): Parsed<DigestCredentials> {
  const username = digestUsername(params);
  if (typeof username !== "string") return username;
  const realm = params.get("realm");
  const nonce = params.get("nonce");
  const uri = params.get("uri");
  const response = params.get("response");
  if (realm === undefined) return fail("Digest credentials without realm");
  if (nonce === undefined) return fail("Digest credentials without nonce");
  if (uri === undefined) return fail("Digest credentials without uri");
  if (response === undefined) return fail("Digest credentials without response");
  if (response.length === 0 || scanClass(response, 0, response.length, HEX) !== response.length) {
    return fail("Digest response is not hexadecimal");
  }
  const credentials: DigestCredentials = { kind: "digest", username, realm, nonce, uri, response, params };
  const qop = params.get("qop");
  const cnonce = params.get("cnonce");
  const nc = params.get("nc");
  // RFC 2617 §3.2.2: cnonce and nonce-count "MUST be specified if a qop directive is sent".
  if (qop !== undefined && (cnonce === undefined || nc === undefined)) return fail("Digest qop without cnonce and nc");
  if (nc !== undefined && (nc.length !== 8 || scanClass(nc, 0, 8, HEX) !== 8)) return fail("Digest nc is not 8 hex digits");
  const algorithm = params.get("algorithm");
  const opaque = params.get("opaque");
  const userhash = params.get("userhash");
  if (algorithm !== undefined) credentials.algorithm = algorithm;
  if (cnonce !== undefined) credentials.cnonce = cnonce;
  if (opaque !== undefined) credentials.opaque = opaque;
  if (qop !== undefined) credentials.qop = qop;
  if (nc !== undefined) credentials.nc = nc;
  if (userhash !== undefined) credentials.userhash = lower(userhash) === "true";
  return ok(credentials);
}

/**
 * RFC 7616 §3.4.4: a client uses username* (charset'lang'pct-encoded, RFC 5987) for names
 * that do not fit a quoted-string, and then MUST NOT send username as well.
 */
function digestUsername(params: AuthParams): string | Parsed<never> {
  const plain = params.get("username");
  const extended = params.get("username*");
  if (plain !== undefined && extended !== undefined) return fail("Digest username and username* both present");
  if (plain !== undefined) return plain;
  if (extended === undefined) return fail("Digest credentials without username");
  const match = /^([A-Za-z0-9!#$%&+\-^_`{}~]+)'[^']*'(.*)$/.exec(extended);
  if (match === null || lower(match[1] ?? "") !== "utf-8") return fail("Digest username* is not a UTF-8 ext-value");
  try {
    return decodeURIComponent(match[2] ?? "");
  } catch {
    return fail("Digest username* is not a UTF-8 ext-value");
  }
}

export function parseChallenge(text: string): Parsed<Challenge> {
  const head = parseScheme(text);
  if (typeof head === "string") return fail(head);
  if (lower(head.scheme) !== "digest") return fail(`unsupported challenge scheme ${head.scheme}`);
  const params = parseAuthParams(text, head.i, head.end);
  if (typeof params === "string") return fail(params);
  const realm = params.get("realm");
  const nonce = params.get("nonce");
  if (realm === undefined) return fail("Digest challenge without realm");
  if (nonce === undefined) return fail("Digest challenge without nonce");
  const challenge: Challenge = { realm, nonce };
  const algorithm = params.get("algorithm");
  const qop = params.get("qop");
  const stale = params.get("stale");
  const opaque = params.get("opaque");
  const domain = params.get("domain");
  const userhash = params.get("userhash");
  if (algorithm !== undefined) challenge.algorithm = algorithm;
  if (qop !== undefined) challenge.qop = qop.split(",").map((q) => q.trim()).filter((q) => q !== "");
  if (stale !== undefined) challenge.stale = lower(stale) === "true";
  if (opaque !== undefined) challenge.opaque = opaque;
  if (domain !== undefined) challenge.domain = domain;
  if (userhash !== undefined) challenge.userhash = lower(userhash) === "true";
  return ok(challenge);
}

/**
 * `Digest realm="..", nonce="..", algorithm=MD5, qop="auth", stale=true, opaque=".."`.
 * RFC 7616 §3.3: algorithm and stale are tokens, realm/nonce/opaque/domain and the qop-options
 * list are quoted-strings. stale is written only when true (false is the default).
 */
export function formatChallenge(ch: Challenge): string {
  let out = "Digest realm=" + quote(ch.realm) + ", nonce=" + quote(ch.nonce);
  if (ch.algorithm !== undefined) out += ", algorithm=" + ch.algorithm;
  if (ch.qop !== undefined && ch.qop.length > 0) out += ", qop=" + quote(ch.qop.join(","));
  if (ch.stale === true) out += ", stale=true";
  if (ch.opaque !== undefined) out += ", opaque=" + quote(ch.opaque);
  if (ch.domain !== undefined) out += ", domain=" + quote(ch.domain);
  if (ch.userhash === true) out += ", userhash=true";
  return out;
}

/** Digest credentials as a client sends them (RFC 7616 §3.4: qop and nc unquoted). */
export function formatCredentials(c: DigestCredentials): string {
  let out = "Digest username=" + quote(c.username) + ", realm=" + quote(c.realm) + ", nonce=" + quote(c.nonce);
  out += ", uri=" + quote(c.uri) + ", response=" + quote(c.response);
  if (c.algorithm !== undefined) out += ", algorithm=" + c.algorithm;
  if (c.cnonce !== undefined) out += ", cnonce=" + quote(c.cnonce);
  if (c.opaque !== undefined) out += ", opaque=" + quote(c.opaque);
  if (c.qop !== undefined) out += ", qop=" + c.qop;
  if (c.nc !== undefined) out += ", nc=" + c.nc;
  if (c.userhash !== undefined) out += ", userhash=" + String(c.userhash);
  return out;
}

/** auth-scheme = token, then 1*SP before the parameters. */
function parseScheme(text: string): { scheme: string; i: number; end: number } | string {
  const end = trimEnd(text, 0);
  const start = skipWs(text, 0, end);
  const schemeEnd = scanClass(text, start, end, TOKEN);
  if (schemeEnd === start) return "missing auth scheme";
  const i = skipWs(text, schemeEnd, end);
  if (i === schemeEnd && i < end) return `${describeChar(text, i)} after auth scheme`;
  return { scheme: text.slice(start, schemeEnd), i, end };
}

/**
 * `auth-param *( COMMA auth-param )`, auth-param = token EQUAL ( token / quoted-string ).
 * Empty list elements are skipped (RFC 7230 §7 #rule). A repeated parameter is an error: RFC
 * 7616 §3.4 lets each directive appear once, and two nonces or usernames are an attack shape.
 */
function parseAuthParams(text: string, i: number, end: number): AuthParams | string {
  const params: AuthParams = new Map();
  for (;;) {
    while (i < end && (text.charCodeAt(i) === 44 || text.charCodeAt(i) <= 32)) i++;
    if (i >= end) return params;
    const nameStart = i;
    i = scanClass(text, i, end, TOKEN);
    if (i === nameStart) return `${describeChar(text, i)} in auth parameter name`;
    const name = lowerName(text, nameStart, i);
    i = skipWs(text, i, end);
    if (i >= end || text.charCodeAt(i) !== 61) return `auth parameter ${name} without value`;
    i = skipWs(text, i + 1, end);
    const valueStart = i;
    if (text.charCodeAt(i) === 34) {
      i = scanQuoted(text, i, end);
      if (i < 0) return `unterminated quoted value of auth parameter ${name}`;
    } else {
      i = scanClass(text, i, end, TOKEN);
      if (i === valueStart) return `empty value of auth parameter ${name}`;
    }
    if (params.has(name)) return `duplicate auth parameter ${name}`;
    params.set(name, unquote(text.slice(valueStart, i)));
    i = skipWs(text, i, end);
    if (i < end && text.charCodeAt(i) !== 44) return `${describeChar(text, i)} after auth parameter ${name}`;
  }
}

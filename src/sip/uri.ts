import {
  ALNUM,
  DIGIT,
  HEX,
  HNVCHAR,
  PARAMCHAR,
  PASSWORD,
  TELPNAME,
  URIC,
  USER,
  describeChar,
  escape,
  is,
  lower,
  lowerName,
  parseDigits,
  scan,
  scanClass,
  scanHost,
  unescape,
} from "./grammar.ts";
import type { Params } from "./params.ts";
import { fail, ok } from "./result.ts";
import type { Parsed } from "./result.ts";

/**
 * A SIP or SIPS URI (RFC 3261 §19.1). `user` and `password` are kept as written, escapes
 * included (compare with `unescapeUser`, or `uriEquals` in uri-equals.ts). `host` is
 * lower-cased; an IPv6 address keeps its brackets ("[2001:db8::1]"), `hostAddress` strips them. URI parameter
 * names are lower-cased and unescaped (";%6C%72" is ";lr"); values and headers stay as written.
 */
export interface SipUri {
  scheme: "sip" | "sips";
  user?: string;
  password?: string;
  host: string;
  port?: number;
  params: Params;
  headers: Params;
}

/** A tel URI (RFC 3966): `number` as written, visual separators included. */
export interface TelUri {
  scheme: "tel";
  number: string;
  params: Params;
}

/** Any other scheme, kept raw: a proxy only needs to recognise it (416 for a Request-URI). */
export interface AbsoluteUri {
  scheme: string;
  opaque: string;
}

export type Uri = SipUri | TelUri | AbsoluteUri;

export function isSipUri(uri: Uri): uri is SipUri {
  return uri.scheme === "sip" || uri.scheme === "sips";
}

export function isTelUri(uri: Uri): uri is TelUri {
  return uri.scheme === "tel";
}

export function parseUri(text: string): Parsed<Uri> {
  const end = text.length;
  if (end === 0) return fail("empty URI");
  const colon = schemeEnd(text);
  if (colon < 0) {
    if (text.charCodeAt(0) === 60 /* < */) return fail("URI enclosed in < > where a bare URI is required");
    return fail("missing URI scheme");
  }
  const scheme = schemeName(text, colon);
  if (scheme === "sip" || scheme === "sips") return parseSipUri(text, colon + 1, scheme);
  if (scheme === "tel") return parseTelUri(text, colon + 1);
  // absoluteURI = scheme ":" ( hier-part / opaque-part ): RFC 4475 unkscm and novelsc are valid.
  const stop = scan(text, colon + 1, end, URIC);
  if (stop === colon + 1 && stop === end) return fail("empty URI after scheme");
  if (stop < end) return fail(`${describeChar(text, stop)} in URI`);
  return ok({ scheme, opaque: text.slice(colon + 1) });
}

/**
 * A Request-URI. RFC 3261 §19.1.1 (table 1) gives headers and the method parameter no place
 * in a Request-URI, and RFC 4475 escruri lets an element reject such a request with 400
 * (a proxy must never turn escaped headers into real ones).
 */
export function parseRequestUri(text: string): Parsed<Uri> {
  const parsed = parseUri(text);
  if (!parsed.ok || !isSipUri(parsed.value)) return parsed;
  if (parsed.value.headers.size > 0) return fail("headers not allowed in Request-URI");
  if (parsed.value.params.has("method")) return fail("method parameter not allowed in Request-URI");
  return parsed;
}

/**
 * A target URI made fit for a Request-URI. RFC 3261 §16.6 item 2: "If the URI contains any
 * parameters not allowed in a Request-URI, they MUST be removed" (§19.1.1 table 1: headers and
 * the method parameter). A registered Contact may carry both, and a proxy must never turn them
 * into a Request-URI that its next hop (or this edge) refuses, or into real header fields.
 */
export function requestUriFor(target: string): string {
  if (!target.includes("?") && !/;method[=;]|;method$/i.test(target)) return target;
  const parsed = parseUri(target);
  if (!parsed.ok || !isSipUri(parsed.value)) return target;
  const params = new Map(parsed.value.params);
  params.delete("method");
  return formatUri({ ...parsed.value, params, headers: new Map() });
}

/** scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); returns the index of its ":" or -1. */
function schemeEnd(text: string): number {
  const c0 = text.charCodeAt(0);
  if (!is(c0, ALNUM) || is(c0, DIGIT)) return -1;
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) return i;
    if (!is(c, ALNUM) && c !== 43 && c !== 45 && c !== 46) return -1;
  }
  return -1;
}

/** Lower-cased scheme; the common three are recognised without allocating. */
function schemeName(text: string, colon: number): string {
  const c0 = text.charCodeAt(0) | 0x20;
  const c1 = text.charCodeAt(1) | 0x20;
  const c2 = text.charCodeAt(2) | 0x20;
  if (colon === 3 && c0 === 115 && c1 === 105 && c2 === 112) return "sip";
  if (colon === 4 && c0 === 115 && c1 === 105 && c2 === 112 && (text.charCodeAt(3) | 0x20) === 115) return "sips";
  if (colon === 3 && c0 === 116 && c1 === 101 && c2 === 108) return "tel";
  return text.slice(0, colon).toLowerCase();
}

/** SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ] */
function parseSipUri(text: string, i: number, scheme: "sip" | "sips"): Parsed<SipUri> {
  const end = text.length;
  let user: string | undefined;
  let password: string | undefined;
  // No "@" may appear unescaped after the userinfo (paramchar and hvalue exclude it), so the
  // first "@" ends the userinfo, even when the user part holds ";" or "?" (RFC 4475 semiuri).
  const at = text.indexOf("@", i);
  if (at >= 0) {
    const userEnd = scan(text, i, at, USER);
    if (userEnd === i) return fail(userEnd < at ? `${describeChar(text, userEnd)} in user part` : "empty user part");
    if (userEnd < at) {
      if (text.charCodeAt(userEnd) !== 58 /* : */) return fail(`${describeChar(text, userEnd)} in user part`);
      const passwordEnd = scan(text, userEnd + 1, at, PASSWORD);
      if (passwordEnd < at) return fail(`${describeChar(text, passwordEnd)} in password`);
      password = text.slice(userEnd + 1, at);
    }
    user = text.slice(i, userEnd);
    i = at + 1;
  }
  const hostEnd = scanHost(text, i, end);
  if (typeof hostEnd === "string") return fail(hostEnd);
  const host = lower(text.slice(i, hostEnd));
  i = hostEnd;
  let port: number | undefined;
  if (i < end && text.charCodeAt(i) === 58) {
    const portEnd = scanClass(text, i + 1, end, DIGIT);
    port = parseDigits(text, i + 1, portEnd, 65535);
    if (port < 0) return fail("invalid port");
    i = portEnd;
  }
  const params: Params = new Map();
  const headers: Params = new Map();
  const paramsEnd = parseUriParams(text, i, end, params, PARAMCHAR);
  if (typeof paramsEnd === "string") return fail(paramsEnd);
  i = paramsEnd;
  if (i < end && text.charCodeAt(i) === 63 /* ? */) {
    const headersEnd = parseUriHeaders(text, i + 1, end, headers);
    if (typeof headersEnd === "string") return fail(headersEnd);
    i = headersEnd;
  }
  if (i < end) return fail(`${describeChar(text, i)} in URI`);
  const uri: SipUri = { scheme, host, params, headers };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (port !== undefined) uri.port = port;
  return ok(uri);
}

/**
 * uri-parameters = *( ";" uri-parameter ), uri-parameter = pname [ "=" pvalue ]. No LWS is
 * allowed inside a URI (RFC 4475 lwsruri). RFC 3261 §19.1.1: "Any given parameter MUST NOT
 * appear more than once."
 */
function parseUriParams(text: string, i: number, end: number, into: Params, nameCls: number): number | string {
  while (i < end && text.charCodeAt(i) === 59) {
    const nameStart = ++i;
    i = scan(text, i, end, nameCls);
    if (i === nameStart) return endsItem(text, i, end) ? "empty URI parameter" : `${describeChar(text, i)} in URI parameter`;
    const name = decodeName(text, nameStart, i);
    let value: string | null = null;
    if (i < end && text.charCodeAt(i) === 61) {
      const valueStart = ++i;
      i = scan(text, i, end, PARAMCHAR);
      if (i === valueStart) {
        return endsItem(text, i, end) ? `empty value of URI parameter ${name}` : `${describeChar(text, i)} in URI parameter ${name}`;
      }
      value = text.slice(valueStart, i);
    }
    if (into.has(name)) return `duplicate URI parameter ${name}`;
    into.set(name, value);
  }
  return i;
}

/** True at the end of the URI or at the ";" or "?" that starts the next part. */
function endsItem(text: string, i: number, end: number): boolean {
  const c = text.charCodeAt(i);
  return i >= end || c === 59 || c === 63;
}

/** headers = "?" header *( "&" header ), header = hname "=" hvalue (hvalue may be empty). */
function parseUriHeaders(text: string, i: number, end: number, into: Params): number | string {
  for (;;) {
    const nameStart = i;
    i = scan(text, i, end, HNVCHAR);
    if (i === nameStart || i >= end || text.charCodeAt(i) !== 61) return "malformed URI header";
    const name = decodeName(text, nameStart, i);
    const valueStart = ++i;
    i = scan(text, i, end, HNVCHAR);
    if (into.has(name)) return `duplicate URI header ${name}`;
    into.set(name, text.slice(valueStart, i));
    if (i >= end || text.charCodeAt(i) !== 38 /* & */) return i;
    i++;
  }
}

/** A parameter or header name of `text[start..end)`, unescaped and lower-cased. */
function decodeName(text: string, start: number, end: number): string {
  for (let i = start; i < end; i++) if (text.charCodeAt(i) === 37 /* % */) return lower(unescape(text.slice(start, end)));
  return lowerName(text, start, end);
}

/**
 * telephone-uri = "tel:" telephone-subscriber (RFC 3966 §3): a global number ("+" and digits
 * with visual separators) or a local number, which MUST carry phone-context (§5.1.5).
 */
function parseTelUri(text: string, i: number): Parsed<TelUri> {
  const end = text.length;
  const numberStart = i;
  const global = text.charCodeAt(i) === 43 /* + */;
  if (global) i++;
  let digits = 0;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (is(c, DIGIT) || (!global && (is(c, HEX) || c === 42 /* * */ || c === 35 /* # */))) digits++;
    else if (c !== 45 && c !== 46 && c !== 40 && c !== 41) break; // visual separators - . ( )
  }
  if (digits === 0) return fail("tel URI without digits");
  const number = text.slice(numberStart, i);
  const params: Params = new Map();
  const paramsEnd = parseUriParams(text, i, end, params, TELPNAME);
  if (typeof paramsEnd === "string") return fail(paramsEnd);
  if (paramsEnd < end) return fail(`${describeChar(text, paramsEnd)} in tel URI`);
  if (!global && !params.has("phone-context")) return fail("local tel number without phone-context");
  return ok({ scheme: "tel", number, params });
}

export function formatUri(uri: Uri): string {
  if (isSipUri(uri)) {
    let out = uri.scheme + ":";
    if (uri.user !== undefined) {
      out += uri.user;
      if (uri.password !== undefined) out += ":" + uri.password;
      out += "@";
    }
    out += uri.host;
    if (uri.port !== undefined) out += ":" + uri.port;
    out += formatUriParams(uri.params);
    let separator = "?";
    for (const [name, value] of uri.headers) {
      out += separator + escape(name, HNVCHAR) + "=" + (value ?? "");
      separator = "&";
    }
    return out;
  }
  if (isTelUri(uri)) return "tel:" + uri.number + formatUriParams(uri.params);
  return uri.scheme + ":" + uri.opaque;
}

function formatUriParams(params: Params): string {
  let out = "";
  for (const [name, value] of params) {
    out += ";" + escape(name, PARAMCHAR);
    if (value !== null) out += "=" + value;
  }
  return out;
}

/** The user part with escapes decoded ("%75se%72" is "user"), for lookups and comparison. */
export function unescapeUser(user: string): string {
  return unescape(user);
}

/** Escapes a plain user name for a SIP URI (the inverse of `unescapeUser`). */
export function escapeUser(user: string): string {
  return escape(user, USER);
}

/** The address of a host: an IPv6 reference without its brackets, anything else unchanged. */
export function hostAddress(host: string): string {
  return host.charCodeAt(0) === 91 ? host.slice(1, -1) : host;
}

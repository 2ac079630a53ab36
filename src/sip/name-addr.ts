import { TOKEN, WS, describeChar, is, quote, scanQuoted, skipWs, trimEnd, unquote } from "./grammar.ts";
import { formatParams, parseParamsAt } from "./params.ts";
import type { Params } from "./params.ts";
import { fail, ok } from "./result.ts";
import type { Parsed } from "./result.ts";
import { formatUri, parseUri } from "./uri.ts";
import type { Uri } from "./uri.ts";

/**
 * From, To, Contact, Route, Record-Route, Path ... values. `displayName` is the display name's
 * text (quotes and quoted-pair backslashes removed); `params` are the header parameters
 * (tag, expires, q, +sip.instance, reg-id ...), not the URI's.
 */
export interface NameAddr {
  displayName?: string;
  uri: Uri;
  params: Params;
}

/**
 * `( name-addr / addr-spec ) *( SEMI generic-param )` with
 * `name-addr = [ display-name ] LAQUOT addr-spec RAQUOT`,
 * `display-name = *(token LWS) / quoted-string` (RFC 3261 §25.1).
 *
 * RFC 3261 §20.10: "If the URI is not enclosed in angle brackets, any semicolon-delimited
 * parameters are header-parameters, not URI parameters" (RFC 4475 cparam01), so in the
 * addr-spec form the URI ends at the first ";" or LWS.
 */
export function parseNameAddr(text: string): Parsed<NameAddr> {
  const end = trimEnd(text, 0);
  let i = skipWs(text, 0, end);
  if (i >= end) return fail("empty value");
  let displayName: string | undefined;
  const c = text.charCodeAt(i);
  if (c === 34 /* " */) {
    const close = scanQuoted(text, i, end);
    // RFC 4475 quotbal: a display name whose quotes do not balance makes the message invalid.
    if (close < 0) return fail("unbalanced quotes in display name");
    displayName = unquote(text.slice(i, close));
    i = skipWs(text, close, end);
    if (text.charCodeAt(i) !== 60 /* < */) return fail("quoted display name not followed by <URI>");
  } else if (c !== 60) {
    const tokens = scanDisplayTokens(text, i, end);
    if (tokens === "addr-spec") return parseAddrSpec(text, i, end);
    if (typeof tokens === "string") return fail(tokens);
    displayName = text.slice(i, tokens.nameEnd);
    // Tokens are separated by LWS, which may be a fold or a tab: keep the words, one SP apart.
    if (/[\t\r\n]| {2}/.test(displayName)) displayName = displayName.replace(/[ \t\r\n]+/g, " ");
    i = tokens.laquot;
  }
  return parseBracketed(text, i, end, displayName);
}

/**
 * Reads `*(token LWS)` up to "<". Returns "addr-spec" when the value turns out to start with a
 * URI (its scheme ends in ":", which no token contains). RFC 4475 lwsdisp: "caller<sip:...>"
 * lacks the LWS the ABNF asks for, but RFC 4475 calls that a grammar bug to accept. RFC 4475
 * baddn: an unquoted display name with non-token characters ("Bell, Alexander") is invalid.
 */
function scanDisplayTokens(
  text: string,
  i: number,
  end: number,
): { nameEnd: number; laquot: number } | string {
  let nameEnd = i;
  let first = true;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === 60) return { nameEnd, laquot: i };
    // Non-ASCII tokens are outside the ABNF, but deployed UAs send unquoted UTF-8 names.
    if (is(c, TOKEN) || c >= 0x80) {
      i++;
      nameEnd = i;
    } else if (is(c, WS)) {
      i = skipWs(text, i, end);
      first = false;
    } else if (c === 58 /* : */ && first) {
      return "addr-spec";
    } else {
      return `${describeChar(text, i)} in display name (quote it)`;
    }
  }
  return first ? "addr-spec" : "display name without <URI>";
}

function parseBracketed(text: string, i: number, end: number, displayName: string | undefined): Parsed<NameAddr> {
  const open = i + 1;
  const close = text.indexOf(">", open);
  if (close < 0 || close >= end) return fail("missing '>'");
  // RFC 4475 badaspec: "< sip:... >" is invalid; LWS is allowed only outside the brackets.
  if (is(text.charCodeAt(open), WS) || is(text.charCodeAt(close - 1), WS)) return fail("whitespace inside < >");
  const uri = parseUri(text.slice(open, close));
  if (!uri.ok) return uri;
  const params: Params = new Map();
  const stop = parseParamsAt(text, close + 1, end, params);
  if (typeof stop === "string") return fail(stop);
  const value: NameAddr = { uri: uri.value, params };
  if (displayName !== undefined) value.displayName = displayName;
  return ok(value);
}

function parseAddrSpec(text: string, i: number, end: number): Parsed<NameAddr> {
  let uriEnd = i;
  while (uriEnd < end) {
    const c = text.charCodeAt(uriEnd);
    if (c === 59 /* ; */ || is(c, WS)) break;
    uriEnd++;
  }
  const uri = parseUri(text.slice(i, uriEnd));
  if (!uri.ok) return uri;
  const params: Params = new Map();
  const stop = parseParamsAt(text, uriEnd, end, params);
  if (typeof stop === "string") return fail(stop);
  return ok({ uri: uri.value, params });
}

/** Always the name-addr form: `"Display" <uri>;params` (safe whatever the URI contains). */
export function formatNameAddr(n: NameAddr): string {
  const uri = "<" + formatUri(n.uri) + ">" + formatParams(n.params);
  return n.displayName === undefined ? uri : quote(n.displayName) + " " + uri;
}

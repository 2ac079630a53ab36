// URI equivalence (RFC 3261 §19.1.4, RFC 3966 §4), apart from the parser in uri.ts.
import { UNRESERVED, ipv6Groups, is, lower } from "./grammar.ts";
import type { Params } from "./params.ts";
import { hostAddress, isSipUri, isTelUri, type SipUri, type TelUri, type Uri } from "./uri.ts";

/**
 * URI equivalence. SIP/SIPS per RFC 3261 §19.1.4: userinfo case-sensitive, everything else
 * case-insensitive; escapes of non-reserved characters equal the characters; "a URI omitting
 * the optional port component will not match a URI explicitly declaring port 5060. The same is
 * true for the transport-parameter, ttl-parameter, user-parameter, and method components", and
 * for maddr; other parameters present in only one URI are ignored; "Any present header
 * component MUST be present in both URIs and match". IPv6 hosts compare as addresses
 * (RFC 5954 §4). tel per RFC 3966 §4: visual separators ignored, parameters in any order, a
 * parameter present in only one URI makes them differ.
 */
export function uriEquals(a: Uri, b: Uri): boolean {
  if (a.scheme !== b.scheme) return false;
  if (isSipUri(a) && isSipUri(b)) return sipUriEquals(a, b);
  if (isTelUri(a) && isTelUri(b)) return telUriEquals(a, b);
  return "opaque" in a && "opaque" in b && a.opaque === b.opaque;
}

function sipUriEquals(a: SipUri, b: SipUri): boolean {
  if (a.port !== b.port || !hostEquals(a.host, b.host)) return false;
  if (!sameText(a.user, b.user, false) || !sameText(a.password, b.password, false)) return false;
  if (!sipParamsMatch(a.params, b.params) || !sipParamsMatch(b.params, a.params)) return false;
  if (a.headers.size !== b.headers.size) return false;
  for (const [name, value] of a.headers) {
    if (!b.headers.has(name) || !sameText(value ?? "", b.headers.get(name) ?? "", false)) return false;
  }
  return true;
}

const ONE_SIDED_NEVER_MATCHES = new Set(["transport", "user", "ttl", "method", "maddr"]);

function sipParamsMatch(a: Params, b: Params): boolean {
  for (const [name, value] of a) {
    if (b.has(name)) {
      const other = b.get(name) ?? null;
      if (value === null || other === null ? value !== other : !sameText(value, other, true)) return false;
    } else if (ONE_SIDED_NEVER_MATCHES.has(name)) {
      return false;
    }
  }
  return true;
}

function telUriEquals(a: TelUri, b: TelUri): boolean {
  if (telDigits(a.number) !== telDigits(b.number) || a.params.size !== b.params.size) return false;
  for (const [name, value] of a.params) {
    if (!b.params.has(name)) return false;
    const other = b.params.get(name) ?? null;
    if (value === null || other === null) {
      if (value !== other) return false;
    } else if (name === "phone-context" && value.startsWith("+")) {
      if (telDigits(value) !== telDigits(other)) return false;
    } else if (!sameText(value, other, true)) {
      return false;
    }
  }
  return true;
}

/** A tel number without visual separators, lower-cased: the form RFC 3966 §4 compares. */
export function telDigits(number: string): string {
  return lower(number.replace(/[-.()]/g, ""));
}

function hostEquals(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.charCodeAt(0) !== 91 || b.charCodeAt(0) !== 91) return false;
  const ga = ipv6Groups(hostAddress(a));
  const gb = ipv6Groups(hostAddress(b));
  return ga.every((g, i) => g === gb[i]);
}

function sameText(a: string | undefined, b: string | undefined, caseless: boolean): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const ca = canonicalEscapes(a);
  const cb = canonicalEscapes(b);
  return caseless ? lower(ca) === lower(cb) : ca === cb;
}

/**
 * RFC 3261 §19.1.4: "Characters other than those in the reserved set are equivalent to their
 * %HEX HEX encoding". Decodes escapes of unreserved characters and upper-cases the hex of the
 * rest, so two spellings of one URI compare equal and "%3B" still differs from ";".
 */
function canonicalEscapes(text: string): string {
  if (!text.includes("%")) return text;
  return text.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => {
    const code = parseInt(hex, 16);
    return is(code, UNRESERVED) ? String.fromCharCode(code) : "%" + hex.toUpperCase();
  });
}

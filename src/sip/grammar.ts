/**
 * Character classes and small scanners shared by the header-value grammars (RFC 3261 §25.1).
 * Everything is index-based over the caller's string: scanners return the index where they
 * stopped, so a successful parse allocates only the slices it keeps.
 */

// Character-class bits, one lookup per character (ASCII only; >= 0x80 is in no class).
export const ALNUM = 1 << 0;
/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = 1 << 1;
/** unreserved = alphanum / mark; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")" */
export const UNRESERVED = 1 << 2;
/** user = 1*( unreserved / escaped / user-unreserved ), user-unreserved = & = + $ , ; ? / */
export const USER = 1 << 3;
/** password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ) */
export const PASSWORD = 1 << 4;
/** paramchar = param-unreserved / unreserved / escaped, param-unreserved = [ ] / : & + $ */
export const PARAMCHAR = 1 << 5;
/** hname/hvalue chars: hnv-unreserved / unreserved / escaped, hnv-unreserved = [ ] / ? : + $ */
export const HNVCHAR = 1 << 6;
/** Characters of hostnames and IPv4 addresses ("_" tolerated: deployed names carry it). */
export const HOSTCHAR = 1 << 7;
/** LWS characters. Folded lines may reach us unfolded, so CR and LF count as whitespace. */
export const WS = 1 << 8;
/** uric = reserved / unreserved / escaped (RFC 2396) plus "[", "]" (RFC 2732) and "#", for
 * the absoluteURI of other schemes. */
export const URIC = 1 << 9;
/** gen-value = token / host / quoted-string: token chars plus the "[", "]" and ":" of hosts. */
export const GENVALUE = 1 << 10;
export const HEX = 1 << 11;
export const DIGIT = 1 << 12;
/** RFC 3966 pname = 1*( alphanum / "-" ) */
export const TELPNAME = 1 << 13;

const table = new Uint16Array(128);

function add(chars: string, bits: number): void {
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)]! |= bits;
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const mark = "-_.!~*'()";
add(alnum, ALNUM | TOKEN | UNRESERVED | USER | PASSWORD | PARAMCHAR | HNVCHAR | URIC | GENVALUE);
add(alnum, HOSTCHAR);
add("-._", HOSTCHAR);
add("-.!%*_+`'~", TOKEN | GENVALUE);
add(mark, UNRESERVED | USER | PASSWORD | PARAMCHAR | HNVCHAR | URIC);
add("&=+$,;?/", USER);
add("&=+$,", PASSWORD);
add("[]/:&+$", PARAMCHAR);
add("[]/?:+$", HNVCHAR);
add(";/?:@&=+$,[]#", URIC);
add("[]:", GENVALUE);
add(" \t\r\n", WS);
add("0123456789abcdefABCDEF", HEX);
add("0123456789", DIGIT);
add(alnum + "-", TELPNAME);

export function is(code: number, cls: number): boolean {
  return code < 128 && (table[code]! & cls) !== 0;
}

/** Skips LWS (SP, HTAB, and CR/LF of folded lines). */
export function skipWs(text: string, i: number, end = text.length): number {
  while (i < end && is(text.charCodeAt(i), WS)) i++;
  return i;
}

/** Trims trailing LWS: returns the end index of the non-blank content. */
export function trimEnd(text: string, start: number, end = text.length): number {
  while (end > start && is(text.charCodeAt(end - 1), WS)) end--;
  return end;
}

/**
 * Consumes characters of class `cls` and `%HEX HEX` escapes. Stops at the first other
 * character (a malformed escape stops at its "%").
 */
export function scan(text: string, i: number, end: number, cls: number): number {
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c < 128 && (table[c]! & cls) !== 0) {
      i++;
    } else if (c === 37 && i + 2 < end && is(text.charCodeAt(i + 1), HEX) && is(text.charCodeAt(i + 2), HEX)) {
      i += 3;
    } else {
      break;
    }
  }
  return i;
}

/** Index of the first character of `text[i..end)` outside class `cls` (no escapes). */
export function scanClass(text: string, i: number, end: number, cls: number): number {
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c >= 128 || (table[c]! & cls) === 0) break;
    i++;
  }
  return i;
}

export function isToken(text: string): boolean {
  return text.length > 0 && scanClass(text, 0, text.length, TOKEN) === text.length;
}

/** Names a character for a reason phrase without putting control bytes into it. */
export function describeChar(text: string, i: number): string {
  const c = text.charCodeAt(i);
  if (i >= text.length) return "end of value";
  if (c === 32 || c === 9) return "whitespace";
  if (c < 0x21 || c === 0x7f) return `control character 0x${c.toString(16).padStart(2, "0")}`;
  if (c >= 0x80) return "non-ASCII character";
  if (c === 37) return "invalid %-escape";
  return `character '${text[i]}'`;
}

/**
 * Scans a quoted-string starting at the opening DQUOTE; returns the index after the closing
 * DQUOTE, or -1 when it never closes. quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F).
 */
export function scanQuoted(text: string, i: number, end = text.length): number {
  for (i++; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) return i + 1;
    if (c === 92) {
      const next = text.charCodeAt(i + 1);
      if (i + 1 >= end || next === 13 || next === 10) return -1;
      i++;
    }
  }
  return -1;
}

/** Content of a quoted-string (quotes and quoted-pair backslashes removed). */
export function unquote(value: string): string {
  if (value.length < 2 || value.charCodeAt(0) !== 34) return value;
  const inner = value.slice(1, -1);
  return inner.includes("\\") ? inner.replace(/\\(.)/gs, "$1") : inner;
}

/** Wraps text in a quoted-string, escaping `"` and `\` as quoted-pairs. */
export function quote(text: string): string {
  return /["\\]/.test(text) ? `"${text.replace(/["\\]/g, "\\$&")}"` : `"${text}"`;
}

/**
 * Decodes %HEX HEX escapes. UTF-8 sequences decode to their characters; byte sequences that
 * are not UTF-8 decode one character per byte, so equal escapes still compare equal.
 */
export function unescape(text: string): string {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) =>
      String.fromCharCode(parseInt(hex, 16)),
    );
  }
}

const encoder = new TextEncoder();

/** Escapes every character outside class `cls` as %XX (UTF-8 for non-ASCII). */
export function escape(text: string, cls: number): string {
  if (scanClass(text, 0, text.length, cls) === text.length) return text;
  let out = "";
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if (c < 128 && (table[c]! & cls) !== 0) out += ch;
    else for (const b of encoder.encode(ch)) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Lower-cases only when needed (names are almost always already lower-case on the wire). */
export function lower(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) return text.toLowerCase();
  }
  return text;
}

/**
 * The parameter names the parsers meet in nearly every message (Via, From/To, Contact, Route,
 * URIs, digest credentials, and sipedge's own Record-Route parameters), indexed by length.
 */
const COMMON_NAMES: (string[] | undefined)[] = [];
for (const name of [
  ...["tag", "branch", "rport", "received", "lr", "transport", "expires", "q", "ob", "reg-id"],
  ...["+sip.instance", "user", "maddr", "ttl", "method", "alias", "gr", "did", "ftag"],
  ...["sg", "cs", "cid", "ou", "inst", "shard", "dst", "r2"],
  ...["username", "realm", "nonce", "uri", "response", "algorithm", "cnonce", "opaque", "qop", "nc"],
  ...["stale", "userhash", "domain"],
]) (COMMON_NAMES[name.length] ??= []).push(name);

/**
 * `lower(text.slice(start, end))`, except that a common name comes back as this module's own
 * literal: no slice, and a Map keyed by it neither hashes a fresh string nor (in workerd's V8,
 * which internalizes string keys) looks it up in the isolate's string table, once per parameter
 * of every message.
 */
export function lowerName(text: string, start: number, end: number): string {
  const candidates = COMMON_NAMES[end - start];
  if (candidates !== undefined) {
    next: for (const name of candidates) {
      for (let j = 0; j < name.length; j++) {
        const c = text.charCodeAt(start + j);
        if ((c >= 65 && c <= 90 ? c + 32 : c) !== name.charCodeAt(j)) continue next;
      }
      return name;
    }
  }
  return lower(text.slice(start, end));
}

/** Parses 1*DIGIT in [start, end) as a number no larger than `max`; -1 when not. */
export function parseDigits(text: string, start: number, end: number, max: number): number {
  if (start >= end) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
    if (n > max) return -1;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// host = hostname / IPv4address / IPv6reference (RFC 3261 §25.1, IPv6 per RFC 4291 / RFC 5954)

/**
 * Scans a host at `i`. Returns the index after it, or a reason string. The caller decides what
 * may follow (":" port, ";" params, ...).
 */
export function scanHost(text: string, i: number, end: number): number | string {
  if (i >= end) return "missing host";
  if (text.charCodeAt(i) === 91 /* [ */) {
    const close = text.indexOf("]", i + 1);
    if (close < 0 || close >= end) return "unterminated IPv6 reference";
    return isIPv6(text, i + 1, close) ? close + 1 : "invalid IPv6 address";
  }
  // One pass over hostname / IPv4address: hostname = *( domainlabel "." ) toplabel [ "." ],
  // and toplabel starts with ALPHA, which is what tells "192.0.2.1" from a name.
  const start = i;
  let labelStart = i;
  let topFirst = 0;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (i === labelStart) return "invalid host";
      labelStart = i + 1;
    } else if (c >= 128 || (table[c]! & HOSTCHAR) === 0) {
      break;
    } else if (i === labelStart) {
      topFirst = c;
    }
  }
  // RFC 5118 §4.2: an IPv6 address in a SIP URI or Via must be an IPv6reference ("[...]");
  // without brackets its colons would be read as a port separator.
  if (i < end && text.charCodeAt(i) === 58 && hasColonAhead(text, i + 1, end)) {
    return "IPv6 address not enclosed in [ ]";
  }
  if (i === start) return i < end ? `${describeChar(text, i)} in host` : "missing host";
  if (is(topFirst, ALNUM) && !is(topFirst, DIGIT)) return i;
  return isIPv4(text, start, i) ? i : "invalid host";
}

function hasColonAhead(text: string, i: number, end: number): boolean {
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) return true;
    if (!is(c, HEX) && c !== 46) return false;
  }
  return false;
}

/** IPv4address as four octets of 0-255 (RFC 3986 dec-octet; RFC 3261 wrote 1*3DIGIT). */
export function isIPv4(text: string, s: number, e: number): boolean {
  let parts = 0;
  let i = s;
  while (parts < 4) {
    const start = i;
    let n = 0;
    while (i < e && i - start < 3 && is(text.charCodeAt(i), DIGIT)) n = n * 10 + text.charCodeAt(i++) - 48;
    if (i === start || n > 255) return false;
    parts++;
    if (parts < 4) {
      if (i >= e || text.charCodeAt(i) !== 46) return false;
      i++;
    }
  }
  return i === e;
}

/**
 * IPv6address per RFC 4291 §2.2 (hex groups, one "::", optional dotted IPv4 tail).
 * RFC 5118 §4.10: RFC 3261's ABNF produced "2001:db8:::192.0.2.1" (three colons before an
 * IPv4 tail) and "following the Robustness Principle, an implementation must tolerate" it,
 * so that one form is accepted as well.
 */
export function isIPv6(text: string, s: number, e: number): boolean {
  if (e - s < 2) return false;
  let i = s;
  let groups = 0;
  let compressed = false;
  if (text.charCodeAt(i) === 58) {
    if (text.charCodeAt(i + 1) !== 58) return false;
    compressed = true;
    i += 2;
    if (i < e && text.charCodeAt(i) === 58) return isIPv4(text, i + 1, e);
  }
  while (i < e) {
    const g = scanClass(text, i, Math.min(e, i + 5), HEX);
    if (g < e && text.charCodeAt(g) === 46) {
      return isIPv4(text, i, e) && (compressed ? groups + 2 <= 7 : groups + 2 === 8);
    }
    if (g === i || g - i > 4) return false;
    groups++;
    i = g;
    if (i === e) break;
    if (text.charCodeAt(i) !== 58 || ++i === e) return false;
    if (text.charCodeAt(i) === 58) {
      if (compressed) return false;
      compressed = true;
      i++;
      if (i < e && text.charCodeAt(i) === 58) return isIPv4(text, i + 1, e) && groups + 2 <= 7;
    }
  }
  return compressed ? groups <= 7 : groups === 8;
}

/** The 8 groups of an IPv6 address (valid per isIPv6), for textual-form-independent compare. */
export function ipv6Groups(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    const v4 = text.slice(lastColon + 1).split(".").map(Number);
    const hi = ((v4[0] ?? 0) << 8) | (v4[1] ?? 0);
    const lo = ((v4[2] ?? 0) << 8) | (v4[3] ?? 0);
    text = `${text.slice(0, lastColon + 1)}${hi.toString(16)}:${lo.toString(16)}`;
  }
  text = text.replace(":::", "::");
  const [head = "", tail] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...zeros, ...right].map((g) => parseInt(g, 16));
}

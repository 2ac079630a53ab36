/**
 * Mutation operators over raw SIP messages. A message is handled as a byte-string (one char per
 * byte) so that byte-level damage and invalid UTF-8 are possible; `frame` turns the result into
 * what a WebSocket delivers: a binary frame (bytes as they are) or a text frame (decoded, so
 * always valid UTF-8, as workerd hands text frames over).
 */
import { Rng } from "./random.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8");

export function toByteString(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x2000) out += String.fromCharCode(...bytes.subarray(i, i + 0x2000));
  return out;
}

export function fromByteString(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

export interface Mutant {
  data: string | Uint8Array;
  /** The operators applied, in order (for a finding's description). */
  ops: string[];
}

type Op = (rng: Rng, s: string, other: string) => string;

const INTERESTING_BYTES = [0x00, 0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x3b, 0x2c, 0x22, 0x3c, 0x3e, 0x5c, 0x25, 0x40, 0x5b, 0x5d, 0x3d, 0x3f, 0x7f, 0x80, 0xc0, 0xff];
const INVALID_UTF8 = ["\xc3", "\xed\xa0\x80", "\xf8\x88\x80\x80\x80", "\xff\xfe", "\x80", "\xc0\xaf", "\xe2\x82", "\xf4\x90\x80\x80"];
const BOUNDARY_NUMBERS = ["0", "00000000000000000001", "255", "256", "65535", "65536", "2147483647", "2147483648", "4294967296", "-1", "99999999999999999999999", "1e3", "0x10", "", " 7 ", "1.5"];
const HOSTS = ["[::1]", "[::ffff:127.0.0.1]", "::1", "[2001:db8:::192.0.2.1]", "[1:2:3:4:5:6:7:8:9]", "[2001:db8::1", "[::]", "[fe80::1%25eth0]", "256.1.1.1", "1.2.3", "a..b", "-x.example", "xn--bcher-kva.example", "_srv.example", "[2001:DB8:0:0:0:0:0:1]", "127.0.0.1:0", "h:99999"];
const SCHEMES = ["sip", "sips", "tel", "SIP", "Sips", "im", "urn", "x-", "sip:sip", ""];
const METHODS = ["INVITE", "ACK", "CANCEL", "BYE", "REGISTER", "OPTIONS", "MESSAGE", "PRACK", "UPDATE", "REFER", "NOTIFY", "SUBSCRIBE", "INFO", "PUBLISH", "invite", "NEWMETHOD", "A", "-.!%*_+`'~"];
const COMPACT: Record<string, string> = { via: "v", from: "f", to: "t", "call-id": "i", "content-length": "l", contact: "m", "content-type": "c", supported: "k", subject: "s", event: "o", "refer-to": "r", "content-encoding": "e" };
const LINE_ENDS = ["\n", "\r", "\r\r\n", "\n\r", "\r\n\r\n", "", "\r\n "];

/** Header lines: [start, end) offsets of each line of the header section (start line excluded). */
function headerLines(s: string): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let p = s.indexOf("\n");
  if (p < 0) return out;
  p++;
  while (p < s.length) {
    const nl = s.indexOf("\n", p);
    const end = nl < 0 ? s.length : nl + 1;
    const line = s.slice(p, end).replace(/\r?\n$/, "");
    if (line === "") break;
    out.push({ start: p, end });
    p = end;
  }
  return out;
}

function pickLine(rng: Rng, s: string): { start: number; end: number } | undefined {
  const lines = headerLines(s);
  return lines.length === 0 ? undefined : rng.pick(lines);
}

function randomByte(rng: Rng): string {
  return String.fromCharCode(rng.chance(0.6) ? rng.pick(INTERESTING_BYTES) : rng.int(256));
}

const ops: Record<string, Op> = {
  flipBit(rng, s) {
    if (s.length === 0) return s;
    const i = rng.int(s.length);
    return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << rng.int(8))) + s.slice(i + 1);
  },
  setByte(rng, s) {
    if (s.length === 0) return s;
    const i = rng.int(s.length);
    return s.slice(0, i) + randomByte(rng) + s.slice(i + 1);
  },
  insertBytes(rng, s) {
    const i = rng.int(s.length + 1);
    let ins = "";
    for (let n = rng.range(1, 8); n > 0; n--) ins += randomByte(rng);
    return s.slice(0, i) + ins + s.slice(i);
  },
  deleteRange(rng, s) {
    if (s.length === 0) return s;
    const i = rng.int(s.length);
    return s.slice(0, i) + s.slice(i + rng.range(1, 16));
  },
  duplicateHeader(rng, s) {
    const line = pickLine(rng, s);
    if (!line) return s;
    let copy = s.slice(line.start, line.end);
    if (rng.chance(0.5)) copy = copy.replace(/[0-9a-zA-Z]+(\r?\n)$/, (m, eol: string) => m.slice(0, -eol.length - 1) + "Z" + eol);
    const at = rng.pick(headerLines(s)).start;
    return s.slice(0, at) + copy + s.slice(at);
  },
  removeHeader(rng, s) {
    const line = pickLine(rng, s);
    return line ? s.slice(0, line.start) + s.slice(line.end) : s;
  },
  swapHeaders(rng, s) {
    const lines = headerLines(s);
    if (lines.length < 2) return s;
    const a = rng.int(lines.length);
    const b = rng.int(lines.length);
    const [x, y] = a < b ? [lines[a]!, lines[b]!] : [lines[b]!, lines[a]!];
    if (x === y) return s;
    return s.slice(0, x.start) + s.slice(y.start, y.end) + s.slice(x.end, y.start) + s.slice(x.start, x.end) + s.slice(y.end);
  },
  renameHeader(rng, s) {
    const line = pickLine(rng, s);
    if (!line) return s;
    const text = s.slice(line.start, line.end);
    const colon = text.indexOf(":");
    if (colon < 0) return s;
    const name = text.slice(0, colon).trim();
    const key = name.toLowerCase();
    const full = Object.entries(COMPACT).find(([, c]) => c === key)?.[0];
    const choices = [COMPACT[key] ?? name, full ?? name, name.toUpperCase(), name.toLowerCase(), `${name} `, `${name}\t `, `${name}x`, ` ${name}`, name.slice(0, -1)];
    return s.slice(0, line.start) + rng.pick(choices) + text.slice(colon) + s.slice(line.end);
  },
  fold(rng, s) {
    const line = pickLine(rng, s);
    if (!line) return s;
    const text = s.slice(line.start, line.end);
    const spots = [...text.matchAll(/[ ;,]/g)].map((m) => m.index).filter((i) => i > text.indexOf(":"));
    if (spots.length === 0) return s;
    const at = rng.pick(spots);
    const fold = rng.pick(["\r\n ", "\r\n\t", "\n  ", "\r\n \r\n ", "\r\n", "\r \n "]);
    return s.slice(0, line.start) + text.slice(0, at) + fold + text.slice(at) + s.slice(line.end);
  },
  hugeValue(rng, s) {
    const line = pickLine(rng, s);
    if (!line) return s;
    const text = s.slice(line.start, line.end).replace(/\r?\n$/, "");
    const size = rng.pick([1000, 8192, 40000, 70000]);
    switch (rng.int(4)) {
      case 0: // one long value
        return s.slice(0, line.end - (s[line.end - 2] === "\r" ? 2 : 1)) + rng.pick(["x", "a;", ",", " ", "%41"]).repeat(size / 2) + s.slice(line.end - (s[line.end - 2] === "\r" ? 2 : 1));
      case 1: // many copies of the line
        return s.slice(0, line.start) + `${text}\r\n`.repeat(Math.min(2000, size / Math.max(8, text.length))) + s.slice(line.start);
      case 2: // many Via elements on one line
        return s.slice(0, line.start) + "Via: " + "SIP/2.0/WSS h.invalid;branch=z9hG4bKx,".repeat(size / 40) + "SIP/2.0/WSS h.invalid\r\n" + s.slice(line.start);
      default: // many parameters
        return s.slice(0, line.end - (s[line.end - 2] === "\r" ? 2 : 1)) + ";p".repeat(size / 4) + s.slice(line.end - (s[line.end - 2] === "\r" ? 2 : 1));
    }
  },
  invalidUtf8(rng, s) {
    const i = rng.int(s.length + 1);
    return s.slice(0, i) + rng.pick(INVALID_UTF8) + s.slice(i);
  },
  contentLength(rng, s) {
    const m = /(?:^|\n)(Content-Length|l)[ \t]*:[ \t]*([^\r\n]*)/i.exec(s);
    const body = s.indexOf("\r\n\r\n") >= 0 ? s.length - s.indexOf("\r\n\r\n") - 4 : 0;
    const lies = [String(body + 1), String(Math.max(0, body - 1)), "0", String(body + 1000), ...BOUNDARY_NUMBERS];
    if (!m || rng.chance(0.2)) {
      const lines = headerLines(s);
      const at = lines.length > 0 ? rng.pick(lines).start : s.indexOf("\n") + 1;
      return s.slice(0, at) + `Content-Length: ${rng.pick(lies)}\r\n` + s.slice(at);
    }
    const start = m.index + m[0].length - (m[2] ?? "").length;
    return s.slice(0, start) + rng.pick(lies) + s.slice(start + (m[2] ?? "").length);
  },
  lineEnds(rng, s) {
    const ends = [...s.matchAll(/\r\n/g)].map((m) => m.index);
    if (ends.length === 0) return "\r\n" + s;
    let out = s;
    for (let n = rng.range(1, 3); n > 0; n--) {
      const all = [...out.matchAll(/\r\n/g)].map((m) => m.index);
      if (all.length === 0) break;
      const at = rng.pick(all);
      out = out.slice(0, at) + rng.pick(LINE_ENDS) + out.slice(at + 2);
    }
    if (rng.chance(0.2)) out = (rng.chance(0.5) ? "\r\n\r\n" : "\n") + out;
    if (rng.chance(0.2)) out = out + rng.pick(["\r\n", "garbage", "INVITE sip:x SIP/2.0\r\n\r\n", "\x00"]);
    if (rng.chance(0.3)) out = out.replace(/\r\n/g, "\n");
    return out;
  },
  tokenSwap(rng, s) {
    const kinds: [RegExp, readonly string[]][] = [
      [/\b\d+\b/g, BOUNDARY_NUMBERS],
      [/(?<=@|\/(?:WSS?|UDP|TCP|TLS) )[A-Za-z0-9.\-[\]:]+/g, HOSTS],
      [/\b(?:sips?|tel)(?=:)/g, SCHEMES],
      [/;(?:tag|branch|lr|transport|received|rport|expires|q|reg-id|ob)\b(=[^;,>\s]*)?/g, [";", ";tag", ";tag=", ";branch=", ";branch=z9hG4bK", ";lr=", ";q=2", ";q=0.5.5", ";expires=-1", ";received=::1", ";received=[::1]", ";rport=x", ";ttl=300", ";maddr=", ";lr;lr", ";tag=a;tag=b"]],
      [/"[^"\r\n]*"/g, ['"', '"\\"', '"a\\', '""', '"\\\r\n"', '"héllo"', '"<sip:x@y>"']],
      [/<[^>\r\n]*>/g, ["<>", "<", "< sip:a@b >", "<sip:a@b", "<sip:a@b>>", "<<sip:a@b>>", "<tel:+1>", "<sip:[::1]:5060;lr>", "<sip:a@b?Route=%3Csip:x%3E>"]],
    ];
    const [re, values] = rng.pick(kinds);
    const spots = [...s.matchAll(re)];
    if (spots.length === 0) return s;
    const m = rng.pick(spots);
    return s.slice(0, m.index) + rng.pick(values) + s.slice(m.index + m[0].length);
  },
  methodSwap(rng, s) {
    const method = rng.pick(METHODS);
    let out = s;
    if (rng.chance(0.8) && !out.startsWith("SIP/")) out = out.replace(/^[^ \r\n]*/, method);
    if (rng.chance(0.8)) out = out.replace(/(\nCSeq[ \t]*:[ \t]*\d+[ \t]+)[^\r\n]*/i, `$1${method}`);
    return out;
  },
  splice(rng, s, other) {
    const a = s.split(/(?<=\n)/);
    const b = other.split(/(?<=\n)/);
    if (a.length < 2 || b.length < 2) return s;
    const cut = rng.range(1, a.length - 1);
    const from = rng.range(1, b.length - 1);
    return [...a.slice(0, cut), ...b.slice(from)].join("");
  },
  responseize(rng, s) {
    const status = rng.pick(["100 Trying", "180 Ringing", "200 OK", "401 Unauthorized", "487 Request Terminated", "500 Server Error", "699 X", "099 Low", "1000 Big", "200", "2xx Bad"]);
    return s.replace(/^[^\r\n]*/, `SIP/2.0 ${status}`);
  },
};

export const OPERATORS = Object.keys(ops);

/**
 * Applies 1-4 operators to `seed` (plus, now and then, a splice with `other`) and picks the
 * frame type. Operators that add invalid UTF-8 force a binary frame.
 */
export function mutate(rng: Rng, seed: string | Uint8Array, other: string | Uint8Array): Mutant {
  let s = toByteString(seed);
  const o = toByteString(other);
  const applied: string[] = [];
  for (let n = rng.range(1, 4); n > 0; n--) {
    const name = rng.pick(OPERATORS);
    s = ops[name]!(rng, s, o);
    applied.push(name);
  }
  const binary = typeof seed !== "string" || applied.includes("invalidUtf8") || rng.chance(0.3);
  return { data: binary ? fromByteString(s) : decoder.decode(fromByteString(s)), ops: applied };
}

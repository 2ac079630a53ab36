/**
 * Bencode, the encoding of rtpengine's ng control protocol: integers `i42e`, byte strings
 * `4:spam`, lists `l...e`, dictionaries `d...e` with keys sorted as raw byte strings. Strings are
 * UTF-8 here (ng carries SDP, Call-IDs and tags, all text). Decoding returns errors as values and
 * bounds the nesting depth, so a hostile or torn datagram costs nothing but its reason.
 */
import { fail, ok, type Parsed } from "../../src/sip/result.ts";

export type BValue = string | number | BValue[] | { [key: string]: BValue };

const MAX_DEPTH = 32;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a value; throws on what bencode cannot carry (a fraction, undefined, a function): a caller bug. */
export function encode(value: BValue): Uint8Array {
  const parts: Uint8Array[] = [];
  write(value, parts, 0);
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function write(value: BValue, parts: Uint8Array[], depth: number): void {
  if (depth > MAX_DEPTH) throw new TypeError("bencode: nested too deeply");
  if (typeof value === "string") {
    const bytes = encoder.encode(value);
    parts.push(encoder.encode(`${bytes.length}:`), bytes);
  } else if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new TypeError(`bencode: not an integer: ${value}`);
    parts.push(encoder.encode(`i${value}e`));
  } else if (Array.isArray(value)) {
    parts.push(encoder.encode("l"));
    for (const item of value) write(item, parts, depth + 1);
    parts.push(encoder.encode("e"));
  } else if (typeof value === "object" && value !== null) {
    parts.push(encoder.encode("d"));
    // "Keys must be strings and appear in sorted order (sorted as raw strings, not alphanumerics)."
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .map((k) => ({ k, raw: encoder.encode(k) }))
      .sort((a, b) => compareBytes(a.raw, b.raw));
    for (const { k, raw } of keys) {
      parts.push(encoder.encode(`${raw.length}:`), raw);
      write(value[k] as BValue, parts, depth + 1);
    }
    parts.push(encoder.encode("e"));
  } else {
    throw new TypeError(`bencode: cannot encode ${typeof value}`);
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

/** Decodes exactly one value spanning all of `data` (trailing bytes are an error). */
export function decode(data: Uint8Array): Parsed<BValue> {
  const reader = { data, at: 0 };
  const value = read(reader, 0);
  if (!value.ok) return value;
  if (reader.at !== data.length) return fail(`bencode: ${data.length - reader.at} trailing bytes`);
  return value;
}

interface Reader {
  readonly data: Uint8Array;
  at: number;
}

function read(r: Reader, depth: number): Parsed<BValue> {
  if (depth > MAX_DEPTH) return fail("bencode: nested too deeply");
  const c = r.data[r.at];
  if (c === undefined) return fail("bencode: truncated");
  if (c === 0x69 /* i */) return readInt(r);
  if (c >= 0x30 && c <= 0x39) return readString(r);
  if (c === 0x6c /* l */) {
    r.at++;
    const list: BValue[] = [];
    while (r.data[r.at] !== 0x65 /* e */) {
      const item = read(r, depth + 1);
      if (!item.ok) return item;
      list.push(item.value);
    }
    r.at++;
    return ok(list);
  }
  if (c === 0x64 /* d */) {
    r.at++;
    const dict: { [key: string]: BValue } = Object.create(null) as { [key: string]: BValue };
    while (r.data[r.at] !== 0x65 /* e */) {
      const k = r.data[r.at];
      if (k !== undefined && (k < 0x30 || k > 0x39)) return fail("bencode: dictionary key is not a string");
      const key = readString(r);
      if (!key.ok) return key;
      const item = read(r, depth + 1);
      if (!item.ok) return item;
      dict[key.value] = item.value;
    }
    r.at++;
    return ok(dict);
  }
  return fail(`bencode: unexpected byte 0x${c.toString(16)} at ${r.at}`);
}

function readInt(r: Reader): Parsed<number> {
  const end = r.data.indexOf(0x65 /* e */, r.at);
  if (end < 0) return fail("bencode: truncated");
  const text = latin1(r.data, r.at + 1, end);
  if (!/^(?:0|-?[1-9][0-9]{0,15})$/.test(text)) return fail(`bencode: invalid integer ${JSON.stringify(text)}`);
  r.at = end + 1;
  return ok(Number(text));
}

function readString(r: Reader): Parsed<string> {
  const colon = r.data.indexOf(0x3a /* : */, r.at);
  if (colon < 0 || colon - r.at > 10) return fail("bencode: truncated");
  const lengthText = latin1(r.data, r.at, colon);
  if (!/^(?:0|[1-9][0-9]*)$/.test(lengthText)) return fail(`bencode: invalid string length ${JSON.stringify(lengthText)}`);
  const start = colon + 1;
  const end = start + Number(lengthText);
  if (end > r.data.length) return fail("bencode: truncated");
  r.at = end;
  try {
    return ok(decoder.decode(r.data.subarray(start, end)));
  } catch {
    return fail("bencode: string is not UTF-8");
  }
}

function latin1(data: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(data[i] as number);
  return s;
}

/**
 * The bridge's SIP scanner: one pass over a datagram's bytes that reads only what the UDP
 * transactions and the shard routing use (the start line, the top Via, Call-ID, CSeq, the
 * Content-Length framing, and on demand Route, From, To and RSeq), without decoding the datagram
 * to a string or building a header list. The edge parses and validates every message in full;
 * the bridge relays bytes, so it needs a transaction key, not a verdict on the whole message.
 *
 * It reads the start line and header lines as src/sip/parser.ts does (CRLFs before the start line
 * skipped, bare LF accepted, folded lines unfolded, compact forms, names in any case, the header
 * section ended by the end of the datagram after a complete line), reads the top Via's key from
 * the bytes (scan-via.ts), and runs the edge's own grammars (parseCSeq, isCallId, splitList,
 * parseNameAddr) on the few values it decodes, so a message the full parser accepts yields the
 * same fields (test/unit/bridge/scan.test.ts checks it).
 *
 * It refuses what the bridge cannot key or frame: a bad start line, a malformed header line, a
 * missing or bad top Via, Call-ID or CSeq, a CSeq method unlike the request's, a missing From or
 * To, a duplicated Call-ID, CSeq, From, To or Content-Length, a bad Content-Length or a body
 * shorter than it. From/To syntax, the other Vias, the Request-URI and Max-Forwards are the
 * edge's to judge. Every loop advances through the bytes, and nothing throws on any input.
 */
import { parseCSeq } from "../src/sip/cseq.ts";
import { isCallId, isToken } from "../src/sip/headers.ts";
import { parseContentLength } from "../src/sip/message.ts";
import { parseNameAddr } from "../src/sip/name-addr.ts";
import { LeanHeaders, readValue, text, type Line } from "./scan-headers.ts";
import { firstElement, readVia } from "./scan-via.ts";

/** What the transactions match on in the top Via (RFC 3261 §17.1.3, §17.2.3). */
export interface ViaKey {
  readonly host: string;
  readonly port?: number;
  readonly branch?: string;
}

/** The header values the bridge reads: the top Via, Route (for the shard), From/To (the ACK), RSeq. */
export type BridgeHeader = "via" | "route" | "from" | "to" | "rseq";

export interface BridgeHeaders {
  /** The first value element, as HeaderList.get gives it. */
  get(name: BridgeHeader): string | undefined;
  getAll(name: "route"): string[];
}

interface BridgeMessageBase {
  readonly callId: string;
  readonly cseq: { readonly seq: number; readonly method: string };
  readonly headers: BridgeHeaders;
  /** The scanner reads the top Via only: a list of one. */
  vias(): readonly ViaKey[];
}

/** A request as the bridge sees it (the edge's SipRequest fits this too). */
export interface BridgeRequest extends BridgeMessageBase {
  readonly kind: "request";
  readonly method: string;
  readonly uri: string;
}

/** A response as the bridge sees it (the edge's SipResponse fits this too). */
export interface BridgeResponse extends BridgeMessageBase {
  readonly kind: "response";
  readonly status: number;
  to(): { readonly params: { get(name: "tag"): string | null | undefined } };
}

export type BridgeMessage = BridgeRequest | BridgeResponse;

export type ScanResult = { ok: true; message: BridgeMessage } | { ok: false; reason: string };

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/**
 * Scans one datagram; never throws. `data` is read in place (no copy). `binary`: the datagram is
 * not UTF-8 (it travels in a binary frame), so field text is taken byte for byte, as the parser
 * reads a binary frame; otherwise non-ASCII field text is decoded as UTF-8.
 */
export function scanMessage(data: Uint8Array, binary = false): ScanResult {
  try {
    return scan(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength), binary);
  } catch (error) {
    // Defence in depth for a process facing the network: every path above returns a value.
    return { ok: false, reason: "scanner error: " + (error instanceof Error ? error.message : String(error)) };
  }
}

function fail(reason: string): ScanResult {
  return { ok: false, reason };
}

function scan(data: Buffer, binary: boolean): ScanResult {
  const len = data.length;
  let pos = 0;
  while (pos < len && (data[pos] === CR || data[pos] === LF)) pos++;
  if (pos === len) return fail("Empty message");
  let eol = pos;
  while (eol < len && data[eol] !== LF) eol++;
  if (eol === len) return fail("Truncated message");
  const start = startLine(data, pos, eol > pos && data[eol - 1] === CR ? eol - 1 : eol, binary);
  if (typeof start === "string") return fail(start);
  const fields = new FieldScan(data, binary);
  const error = fields.run(eol + 1);
  if (error !== undefined) return fail(error);
  return build(data, start, fields);
}

type Start = { kind: "request"; method: string; uri: string } | { kind: "response"; status: number };

/** RFC 3261 §7.1/§7.2, as strict as parser.ts: one SP between elements, SIP/2.0 in any case. */
function startLine(data: Buffer, from: number, end: number, binary: boolean): Start | string {
  if (end - from > 4 && isSipSlash(data, from)) {
    const sp = from + 7;
    if (sp >= end || data[sp] !== SP || !isSip20(data, from)) return "Bad Status-Line";
    let status = 0;
    for (let i = sp + 1; i < sp + 4; i++) {
      const d = (data[i] ?? 0) - 0x30;
      if (i >= end || d < 0 || d > 9) return "Bad Status-Line";
      status = status * 10 + d;
    }
    if (status < 100 || status > 699 || (sp + 4 < end && data[sp + 4] !== SP)) return "Bad Status-Line";
    return { kind: "response", status };
  }
  const sp1 = indexOf(data, SP, from, end);
  const method = sp1 > from ? data.toString("latin1", from, sp1) : "";
  if (!isToken(method)) return "Bad start line";
  const sp2 = sp1 < 0 ? -1 : indexOf(data, SP, sp1 + 1, end);
  if (sp2 < 0 || sp2 === sp1 + 1 || end - sp2 !== 8 || !isSip20(data, sp2 + 1)) return "Bad Request-Line";
  return { kind: "request", method, uri: text(data, sp1 + 1, sp2, binary) };
}

function isSipSlash(data: Buffer, at: number): boolean {
  return ((data[at] ?? 0) | 0x20) === 0x73 && ((data[at + 1] ?? 0) | 0x20) === 0x69 && ((data[at + 2] ?? 0) | 0x20) === 0x70 && data[at + 3] === 0x2f;
}

/** "SIP/2.0", case-insensitive (§7.1), at `at`. */
function isSip20(data: Buffer, at: number): boolean {
  return isSipSlash(data, at) && data[at + 4] === 0x32 && data[at + 5] === 0x2e && data[at + 6] === 0x30;
}

/** The header names the scanner reads, by their lower-case spelling and compact form. */
type Key = "via" | "call-id" | "cseq" | "from" | "to" | "route" | "rseq" | "content-length";

const COMPACT: Readonly<Record<number, Key>> = { 0x76: "via", 0x69: "call-id", 0x66: "from", 0x74: "to", 0x6c: "content-length" };

/** Which of the names above `data[from..end)` spells, in any case, without making a string. */
function keyOf(data: Buffer, from: number, end: number): Key | undefined {
  const n = end - from;
  const first = (data[from] ?? 0) | 0x20;
  if (n === 1) return COMPACT[first];
  if (n === 2) return first === 0x74 && is(data, from, "to") ? "to" : undefined;
  if (n === 3) return is(data, from, "via") ? "via" : undefined;
  if (n === 4) return is(data, from, "cseq") ? "cseq" : is(data, from, "from") ? "from" : is(data, from, "rseq") ? "rseq" : undefined;
  if (n === 5) return is(data, from, "route") ? "route" : undefined;
  if (n === 7) return is(data, from, "call-id") ? "call-id" : undefined;
  if (n === 14) return is(data, from, "content-length") ? "content-length" : undefined;
  return undefined;
}

/** Case-insensitive match of `lower` (lower-case letters, digits and '-') at `at`. */
function is(data: Buffer, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = data[at + i] ?? 0;
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** One pass over the header lines (RFC 3261 §7.3), keeping the lines of the headers in KEYS. */
class FieldScan {
  readonly data: Buffer;
  readonly binary: boolean;
  bodyStart = -1;
  hasVia = false;
  /** The first Via line that holds an element, and where that element starts. */
  via: Line | undefined;
  topVia = -1;
  callId: Line | undefined;
  cseq: Line | undefined;
  from: Line | undefined;
  to: Line | undefined;
  rseq: Line | undefined;
  contentLength: Line | undefined;
  readonly routes: Line[] = [];

  constructor(data: Buffer, binary: boolean) {
    this.data = data;
    this.binary = binary;
  }

  /** Reads the header lines from `p`; returns the first error, or undefined. */
  run(p: number): string | undefined {
    const data = this.data;
    const len = data.length;
    while (p < len) {
      let nl = p;
      let loneCr = false;
      for (; nl < len; nl++) {
        const c = data[nl];
        if (c === LF) break;
        if (c === CR && data[nl + 1] !== LF) loneCr = true;
      }
      if (nl === len) return "Truncated message";
      let end = nl > p && data[nl - 1] === CR ? nl - 1 : nl;
      if (end === p) {
        this.bodyStart = nl + 1;
        return undefined;
      }
      // §7.3.1 folding: a line starting with SP or HTAB continues the previous one.
      let folded = false;
      while (nl + 1 < len && (data[nl + 1] === SP || data[nl + 1] === HTAB)) {
        let next = nl + 1;
        for (; next < len; next++) {
          const c = data[next];
          if (c === LF) break;
          if (c === CR && data[next + 1] !== LF) loneCr = true;
        }
        if (next === len) return "Truncated message";
        folded = true;
        nl = next;
        end = data[nl - 1] === CR ? nl - 1 : nl;
      }
      if (loneCr || data[p] === SP || data[p] === HTAB) return "Malformed header line";
      const error = this.line(p, end, folded);
      if (error !== undefined) return error;
      p = nl + 1;
    }
    // The datagram ended right after a complete header line: it ends the message (parser.ts).
    this.bodyStart = len;
    return undefined;
  }

  private line(start: number, end: number, folded: boolean): string | undefined {
    const data = this.data;
    const colon = indexOf(data, COLON, start, end);
    if (colon < 0) return "Malformed header line";
    let nameEnd = colon;
    while (nameEnd > start && (data[nameEnd - 1] === SP || data[nameEnd - 1] === HTAB)) nameEnd--;
    if (nameEnd === start) return "Malformed header line";
    const key = keyOf(data, start, nameEnd);
    if (key === undefined) return undefined;
    const line: Line = { start: colon + 1, end, folded };
    switch (key) {
      case "via":
        this.hasVia = true;
        if (this.via === undefined) {
          this.topVia = firstElement(data, line.start, line.end);
          if (this.topVia >= 0) this.via = line;
        }
        return undefined;
      case "route":
        this.routes.push(line);
        return undefined;
      case "rseq":
        this.rseq ??= line;
        return undefined;
      default:
        return this.single(key, line);
    }
  }

  /** §7.3.1: only list headers may repeat; a repeat with another value is ambiguous (parser.ts: 400). */
  private single(key: "call-id" | "cseq" | "from" | "to" | "content-length", line: Line): string | undefined {
    const field = key === "call-id" ? "callId" : key === "content-length" ? "contentLength" : key;
    const earlier = this[field];
    if (earlier === undefined) this[field] = line;
    else if (readValue(this.data, earlier, this.binary) !== readValue(this.data, line, this.binary)) return "Duplicate header: " + key;
    return undefined;
  }
}

function build(data: Buffer, start: Start, f: FieldScan): ScanResult {
  if (f.to === undefined) return fail("Missing header: To");
  if (f.from === undefined) return fail("Missing header: From");
  if (f.cseq === undefined) return fail("Missing header: CSeq");
  if (f.callId === undefined) return fail("Missing header: Call-ID");
  if (!f.hasVia) return fail("Missing header: Via");
  const top = f.via === undefined ? undefined : readVia(data, f.topVia, f.via.end);
  if (f.via === undefined || top === undefined) return fail("Bad Via header");
  const callId = readValue(data, f.callId, f.binary);
  if (!isCallId(callId)) return fail("Bad Call-ID header");
  const cseq = parseCSeq(readValue(data, f.cseq, f.binary));
  if (!cseq.ok) return fail("Bad CSeq header");
  if (start.kind === "request" && cseq.value.method !== start.method) return fail("CSeq method does not match request method");
  if (f.contentLength !== undefined) {
    const length = parseContentLength(readValue(data, f.contentLength, f.binary));
    if (length === undefined) return fail("Bad Content-Length header");
    // RFC 3261 §18.3: fewer octets than Content-Length is a torn datagram; more are discarded.
    if (data.length - f.bodyStart < length) return fail("Content-Length mismatch");
  }
  const headers = new LeanHeaders(data, f.binary, f.via, f.routes, { from: f.from, to: f.to, rseq: f.rseq });
  if (start.kind === "request") return { ok: true, message: new ScannedRequest(start.method, start.uri, callId, cseq.value, headers, top) };
  return { ok: true, message: new ScannedResponse(start.status, callId, cseq.value, headers, top) };
}

class ScannedMessage {
  readonly callId: string;
  readonly cseq: { readonly seq: number; readonly method: string };
  readonly headers: LeanHeaders;
  private readonly top: readonly ViaKey[];

  constructor(callId: string, cseq: { seq: number; method: string }, headers: LeanHeaders, top: ViaKey) {
    this.callId = callId;
    this.cseq = cseq;
    this.headers = headers;
    this.top = [top];
  }

  vias(): readonly ViaKey[] {
    return this.top;
  }
}

class ScannedRequest extends ScannedMessage implements BridgeRequest {
  readonly kind = "request";
  readonly method: string;
  readonly uri: string;

  constructor(method: string, uri: string, callId: string, cseq: { seq: number; method: string }, headers: LeanHeaders, top: ViaKey) {
    super(callId, cseq, headers, top);
    this.method = method;
    this.uri = uri;
  }
}

const NO_PARAMS: { readonly params: ReadonlyMap<string, string | null> } = { params: new Map() };

class ScannedResponse extends ScannedMessage implements BridgeResponse {
  readonly kind = "response";
  readonly status: number;

  constructor(status: number, callId: string, cseq: { seq: number; method: string }, headers: LeanHeaders, top: ViaKey) {
    super(callId, cseq, headers, top);
    this.status = status;
  }

  /** Parsed on demand (a provisional response's To tag): most datagrams never need it. */
  to(): { readonly params: ReadonlyMap<string, string | null> } {
    const value = this.headers.get("to");
    const parsed = value === undefined ? undefined : parseNameAddr(value);
    return parsed?.ok === true ? parsed.value : NO_PARAMS;
  }
}

function indexOf(data: Buffer, byte: number, from: number, end: number): number {
  for (let i = from; i < end; i++) if (data[i] === byte) return i;
  return -1;
}

/**
 * SIP message framing (RFC 3261 §7, §18.3; RFC 7118 §5: one SIP message per WebSocket message).
 *
 * The start line and the headers every hop needs (Via, From, To, Call-ID, CSeq, Max-Forwards,
 * Content-Length, the Request-URI) are parsed and validated here; everything else stays text until
 * someone asks. Errors are values whose reason becomes the reason phrase of the 400 (or 505).
 *
 * Leniencies, each deliberate:
 * - CRLFs before the start line are skipped (RFC 3261 §7.5: "implementations processing SIP
 *   messages over stream-oriented transports MUST ignore any CRLF appearing before the start-line").
 * - A bare LF ends a line like CRLF does (Kamailio and most stacks accept it); the message is
 *   written back with CRLF. A CR that is not followed by LF is a malformed line.
 * - Octets after Content-Length are discarded (RFC 3261 §18.3, per WebSocket message).
 * - Without Content-Length the body is the rest of the message, as for a datagram (§18.3).
 * - A message whose last header line is complete but lacks the empty line after it ends there
 *   (the frame delimits it); a header line cut short is a "Truncated message".
 */
import { parseCSeq } from "./cseq.ts";
import { HeaderLine, HeaderList, displayName, isCallId, isToken } from "./headers.ts";
import {
  SipRequest,
  SipResponse,
  parseContentLength,
  parseMaxForwards,
  type CSeq,
  type Encoding,
  type SipMessage,
} from "./message.ts";
import { parseNameAddr, type NameAddr } from "./name-addr.ts";
import { bytesToByteString, cutBody } from "./serializer.ts";
import { parseRequestUri } from "./uri.ts";
import { parseVia, type Via } from "./via.ts";
import { HeaderScan } from "./header-scan.ts";

export type MessageKind = "request" | "response" | "unknown";

export interface ParseFailure {
  ok: false;
  status: number;
  reason: string;
  kind: MessageKind;
  /** The header lines that could be read, for building the error response. */
  headers?: HeaderList;
  /** The method of the request line, when it named one (an ACK is never answered). */
  method?: string;
}

export type ParseResult = { ok: true; message: SipMessage } | ParseFailure;

const CR = 0x0d;
const LF = 0x0a;

/** A message's start line and header section, read and validated; the body not yet touched. */
interface Head {
  text: string;
  encoding: Encoding;
  startLine: string;
  start: Exclude<ReturnType<typeof parseStartLine>, { error: string }>;
  scan: HeaderScan;
  fields: Fields;
  ruri: ReturnType<typeof parseRequestUri> | undefined;
}

/** The start line and every header the proxy needs, checked; a failure says why (400/505). */
function readHead(data: string | Uint8Array): Head | ParseFailure {
  const encoding: Encoding = typeof data === "string" ? "text" : "binary";
  const text = typeof data === "string" ? data : bytesToByteString(data);
  let pos = 0;
  while (pos < text.length && (text.charCodeAt(pos) === CR || text.charCodeAt(pos) === LF)) pos++;
  if (pos === text.length) return failure("unknown", 400, "Empty message");

  let eol = text.indexOf("\n", pos);
  if (eol === -1) eol = text.length;
  const lineEnd = eol > pos && text.charCodeAt(eol - 1) === CR ? eol - 1 : eol;
  const startLine = text.slice(pos, lineEnd);
  const start = parseStartLine(startLine);

  const scan = new HeaderScan();
  scan.run(text, eol + 1);
  if ("error" in start) return failure(start.kind, start.status ?? 400, start.error, scan.lines, start.method);
  const method = start.kind === "request" ? start.method : undefined;
  const framingError = scan.error ?? (scan.bodyStart < 0 ? "Truncated message" : undefined);
  if (framingError !== undefined) return failure(start.kind, 400, framingError, scan.lines, method);
  // sip/sips/tel must parse; other schemes stay opaque for the route script's 416 (RFC 4475
  // §3.3.2). "<sip:...>" (§3.1.2.7) and URI headers in a SIP Request-URI (§3.1.2.11; RFC 3261
  // §19.1.1 table 1: "not allowed") are 400s.
  const ruri = start.kind === "request" ? parseRequestUri(start.uri) : undefined;
  if (ruri?.ok === false) return failure("request", 400, "Bad Request-URI", scan.lines, method);
  const fields = validateHeaders(scan, method);
  if (typeof fields === "string") return failure(start.kind, 400, fields, scan.lines, method);
  return { text, encoding, startLine, start, scan, fields, ruri };
}

/** Parses one SIP message: a text frame as a string, a binary frame as its bytes. */
export function parseMessage(data: string | Uint8Array): ParseResult {
  const head = readHead(data);
  if ("ok" in head) return head;
  const { text, encoding, startLine, start, scan, fields, ruri } = head;
  const method = start.kind === "request" ? start.method : undefined;
  let body = scan.bodyStart >= text.length ? "" : text.slice(scan.bodyStart);
  let bodyBytes: number | undefined;
  if (fields.contentLength !== undefined) {
    const cut = cutBody(body, fields.contentLength, encoding);
    if (cut === undefined) return failure(start.kind, 400, "Content-Length mismatch", scan.lines, method);
    body = cut;
    bodyBytes = fields.contentLength;
  } else if (body.length === 0) {
    bodyBytes = 0;
  }

  const headers = new HeaderList(scan.lines);
  const source = encoding === "binary" ? text.length : text;
  const { vias, from, to, callId, cseq, maxForwards } = fields;
  if (start.kind === "request") {
    const message = new SipRequest({
      headers, body, encoding, startLine, source, bodyBytes, vias, from, to, callId, cseq, maxForwards,
      method: start.method, uri: start.uri, ruri: ruri?.ok ? ruri.value : undefined,
    });
    return { ok: true, message };
  }
  const message = new SipResponse({
    headers, body, encoding, startLine, source, bodyBytes, vias, from, to, callId, cseq,
    status: start.status, reason: start.reason,
  });
  return { ok: true, message };
}

/**
 * A message too big to handle (Kamailio's `$ml >= 65535` check, 513): the start line and the
 * header section are read and checked as for any message, the body never, so an oversized
 * message costs no more than answering it does. A message with a broken header gets that 400
 * instead (a 513 needs valid Via, From, To, Call-ID and CSeq to be addressed).
 */
export function parseOversized(data: string | Uint8Array, reason = "Message too big"): ParseFailure {
  const head = readHead(data);
  if ("ok" in head) return head;
  const { start, scan } = head;
  return failure(start.kind, 513, reason, scan.lines, start.kind === "request" ? start.method : undefined);
}

function failure(
  kind: MessageKind,
  status: number,
  reason: string,
  lines?: HeaderLine[],
  method?: string,
): ParseFailure {
  const result: ParseFailure = { ok: false, status, reason, kind };
  if (lines !== undefined) result.headers = new HeaderList(lines);
  if (method !== undefined) result.method = method;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Start line (RFC 3261 §7.1, §7.2)

type StartLine =
  | { kind: "request"; method: string; uri: string }
  | { kind: "response"; status: number; reason: string }
  | { kind: MessageKind; error: string; status?: number; method?: string };

/**
 * Request-Line = Method SP Request-URI SP SIP-Version CRLF, with exactly one SP between the
 * elements: extra or trailing SP is rejected (RFC 4475 §3.1.2.8-10 allow rejecting, and a proxy
 * must not forward them anyway).
 */
function parseStartLine(line: string): StartLine {
  if (startsWithSipSlash(line)) return parseStatusLine(line);
  const sp1 = line.indexOf(" ");
  const method = sp1 > 0 ? line.slice(0, sp1) : "";
  if (!isToken(method)) return { kind: "unknown", error: "Bad start line" };
  const sp2 = line.indexOf(" ", sp1 + 1);
  const uri = sp2 === -1 ? "" : line.slice(sp1 + 1, sp2);
  const version = sp2 === -1 ? "" : line.slice(sp2 + 1);
  if (uri.length === 0 || version.length === 0 || version.indexOf(" ") !== -1) {
    return { kind: "request", method, error: "Bad Request-Line" };
  }
  if (!isSip20(version)) {
    // RFC 3261 §8.2.2 / §21.5.6: a request in a SIP version the server cannot handle gets 505.
    return isSipVersion(version)
      ? { kind: "request", method, error: "Version Not Supported", status: 505 }
      : { kind: "request", method, error: "Bad Request-Line" };
  }
  return { kind: "request", method, uri };
}

/** Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF; Status-Code is 3DIGIT. */
function parseStatusLine(line: string): StartLine {
  const sp1 = line.indexOf(" ");
  if (sp1 === -1 || !isSip20(line.slice(0, sp1))) return { kind: "response", error: "Bad Status-Line" };
  const after = line.charCodeAt(sp1 + 4);
  let status = 0;
  for (let i = sp1 + 1; i < sp1 + 4; i++) {
    const d = line.charCodeAt(i) - 0x30;
    if (!(d >= 0 && d <= 9)) return { kind: "response", error: "Bad Status-Line" };
    status = status * 10 + d;
  }
  // RFC 4475 §3.1.2.19: a code above 699 (or four digits and more) is dropped, never "rounded".
  if (status < 100 || status > 699 || !(Number.isNaN(after) || after === 0x20)) {
    return { kind: "response", error: "Bad Status-Line" };
  }
  // An empty Reason-Phrase is legal (RFC 4475 §3.1.1.13); tolerate a missing SP before it too.
  const reason = Number.isNaN(after) ? "" : line.slice(sp1 + 5);
  return { kind: "response", status, reason };
}

function startsWithSipSlash(line: string): boolean {
  return (
    line.length > 4 &&
    (line.charCodeAt(0) | 0x20) === 0x73 &&
    (line.charCodeAt(1) | 0x20) === 0x69 &&
    (line.charCodeAt(2) | 0x20) === 0x70 &&
    line.charCodeAt(3) === 0x2f
  );
}

/** RFC 3261 §7.1: "The SIP-Version string is case-insensitive". */
function isSip20(version: string): boolean {
  return version === "SIP/2.0" || (version.length === 7 && version.toUpperCase() === "SIP/2.0");
}

/** SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT */
function isSipVersion(version: string): boolean {
  if (!startsWithSipSlash(version)) return false;
  const dot = version.indexOf(".", 4);
  return dot > 4 && isDigits(version, 4, dot) && isDigits(version, dot + 1, version.length);
}

function isDigits(text: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (!(d >= 0 && d <= 9)) return false;
  }
  return true;
}



// ---------------------------------------------------------------------------------------------
// The headers every hop needs

interface Fields {
  vias: Via[];
  from: NameAddr;
  to: NameAddr;
  callId: string;
  cseq: CSeq;
  maxForwards: number | undefined;
  contentLength: number | undefined;
}


/**
 * Validates the headers every hop reads. Returns the parsed values, or the reason phrase of the
 * 400. A missing Max-Forwards is accepted: the maxfwd module inserts one (RFC 3261 §16.6 step 3).
 */
function validateHeaders(scan: HeaderScan, method: string | undefined): Fields | string {
  if (scan.duplicate !== undefined) return `Duplicate header: ${displayName(scan.duplicate)}`;
  // RFC 3261 §8.1.1: "at a minimum ... To, From, CSeq, Call-ID, Max-Forwards, and Via", in
  // that order; Max-Forwards: see above.
  if (scan.to === undefined) return "Missing header: To";
  if (scan.from === undefined) return "Missing header: From";
  if (scan.cseq === undefined) return "Missing header: CSeq";
  if (scan.callId === undefined) return "Missing header: Call-ID";
  if (!scan.hasVia) return "Missing header: Via";

  const vias: Via[] = [];
  for (const line of scan.lines) {
    if (line.key !== "via") continue;
    for (const element of line.elements()) {
      const via = parseVia(element);
      if (!via.ok) return "Bad Via header";
      vias.push(via.value);
    }
  }
  if (vias.length === 0) return "Bad Via header";
  const from = parseNameAddr(scan.from.value);
  if (!from.ok) return "Bad From header";
  const to = parseNameAddr(scan.to.value);
  if (!to.ok) return "Bad To header";
  const callId = scan.callId.value;
  if (!isCallId(callId)) return "Bad Call-ID header";
  const cseq = parseCSeq(scan.cseq.value);
  if (!cseq.ok) return "Bad CSeq header";
  // RFC 3261 §8.1.1.5: "The method MUST match that of the request."
  if (method !== undefined && cseq.value.method !== method) return "CSeq method does not match request method";

  const maxForwardsLine = scan.maxForwards;
  const maxForwards = maxForwardsLine === undefined ? undefined : parseMaxForwards(maxForwardsLine.value);
  if (maxForwardsLine !== undefined && maxForwards === undefined) return "Bad Max-Forwards header";
  const contentLengthLine = scan.contentLength;
  const contentLength = contentLengthLine === undefined ? undefined : parseContentLength(contentLengthLine.value);
  if (contentLengthLine !== undefined && contentLength === undefined) return "Bad Content-Length header";

  return { vias, from: from.value, to: to.value, callId, cseq: cseq.value, maxForwards, contentLength };
}


/**
 * The parser's invariants, checked on any input:
 *
 * 1. `parseMessage` never throws; a failure is a value with status 400 or 505 and a reason
 *    phrase that is printable ASCII (it becomes the reason phrase of the reply).
 * 2. The error reply built from a failure (`createErrorResponse`) is framed as one response:
 *    its status line, the request's lines copied (raw, whatever their content, so the client can
 *    match it), `Content-Length: 0` and one empty line at the very end, no bare CR. When the
 *    copied lines are well-formed it parses, with that status and reason.
 * 3. A parsed message's accessors never throw (the parser validated what they read).
 * 4. Round trip: parse(serialize(parse(x))) equals parse(x) in what a proxy reads (start line,
 *    header keys and values, body, Call-ID, CSeq, From, To, Vias), and serialize is idempotent:
 *    serialize(parse(serialize(m))) === serialize(m).
 * 5. A binary frame holding valid UTF-8 gets the same verdict as the same text in a text frame,
 *    except where Content-Length ends inside a UTF-8 character: a binary body is cut there as
 *    bytes, a text body cannot be (serializer.ts `cutBody`), and the text frame gets 400.
 */
import { formatNameAddr } from "../../src/sip/name-addr.ts";
import { parseMessage, type ParseResult } from "../../src/sip/parser.ts";
import { createErrorResponse } from "../../src/sip/response.ts";
import { byteStringToBytes, serialize, serializeBytes } from "../../src/sip/serializer.ts";
import type { SipMessage } from "../../src/sip/message.ts";
import { formatVia } from "../../src/sip/via.ts";

export interface Violation {
  invariant: string;
  detail: string;
}

const PRINTABLE = /^[\x20-\x7e]+$/;
const fatal = new TextDecoder("utf-8", { fatal: true });

function parse(data: string | Uint8Array): ParseResult | Violation {
  try {
    return parseMessage(data);
  } catch (err) {
    return { invariant: "parse threw", detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

function isViolation(x: unknown): x is Violation {
  return typeof x === "object" && x !== null && "invariant" in x;
}

/** What a proxy reads from a message; equal shapes mean the round trip lost nothing. */
export function shape(msg: SipMessage): unknown {
  return {
    start: msg.kind === "request" ? [msg.method, msg.uri] : [msg.status, msg.reason],
    headers: msg.headers.lines().filter((l) => l.key !== "content-length").map((l) => `${l.key}: ${l.value}`),
    body: msg.body,
    callId: msg.callId,
    cseq: `${msg.cseq.seq} ${msg.cseq.method}`,
    from: formatNameAddr(msg.from()),
    to: formatNameAddr(msg.to()),
    vias: msg.vias().map(formatVia),
  };
}

/** Reads everything the parser promises is readable; throws if something is not. */
function touch(msg: SipMessage): void {
  void msg.size;
  void msg.bodyByteLength();
  void msg.topVia();
  for (const line of msg.headers.lines()) void line.elements();
  if (msg.kind === "request") {
    void msg.ruri();
    void msg.maxForwards;
    void msg.clone();
  } else {
    void msg.clone();
  }
}

export function checkParser(data: string | Uint8Array): Violation[] {
  const out: Violation[] = [];
  const first = parse(data);
  if (isViolation(first)) return [first];
  if (!first.ok) {
    if (first.status !== 400 && first.status !== 505) out.push({ invariant: "failure status", detail: `${first.status} ${first.reason}` });
    if (!PRINTABLE.test(first.reason)) out.push({ invariant: "reason phrase", detail: JSON.stringify(first.reason) });
    out.push(...checkErrorReply(data, first));
  } else {
    out.push(...checkMessage(data, first.message));
  }
  out.push(...checkFrameAgreement(data, first));
  return out;
}

function checkErrorReply(data: string | Uint8Array, failure: Extract<ParseResult, { ok: false }>): Violation[] {
  let reply: string | undefined;
  try {
    reply = createErrorResponse(failure);
  } catch (err) {
    return [{ invariant: "error reply threw", detail: String(err) }];
  }
  if (reply === undefined) return [];
  const statusLine = `SIP/2.0 ${failure.status} ${failure.reason}\r\n`;
  const end = "\r\nContent-Length: 0\r\n\r\n";
  if (!reply.startsWith(statusLine) || !reply.endsWith(end) || reply.indexOf("\r\n\r\n") !== reply.length - 4 || /\r(?!\n)/.test(reply)) {
    return [{ invariant: "error reply framing", detail: JSON.stringify(reply.slice(0, 300)) }];
  }
  const parsed = parse(typeof data === "string" ? reply : byteStringToBytes(reply));
  if (isViolation(parsed)) return [{ invariant: "error reply: parse threw", detail: parsed.detail }];
  if (!parsed.ok) return [];
  const msg = parsed.message;
  if (msg.kind !== "response" || msg.status !== failure.status || msg.reason !== failure.reason) {
    return [{ invariant: "error reply status", detail: `${msg.startLine()} for ${failure.status} ${failure.reason}` }];
  }
  return [];
}

function checkMessage(data: string | Uint8Array, msg: SipMessage): Violation[] {
  try {
    touch(msg);
  } catch (err) {
    return [{ invariant: "accessor threw on a parsed message", detail: String(err) }];
  }
  const binary = typeof data !== "string";
  const wire1 = binary ? serializeBytes(msg) : serialize(msg);
  const second = parse(wire1);
  if (isViolation(second)) return [{ invariant: "reparse threw", detail: second.detail }];
  if (!second.ok) return [{ invariant: "serialized message does not parse", detail: `${second.status} ${second.reason}` }];
  const a = JSON.stringify(shape(msg));
  const b = JSON.stringify(shape(second.message));
  if (a !== b) return [{ invariant: "round trip changed the message", detail: firstDifference(a, b) }];
  const s1 = serialize(msg);
  const s2 = serialize(second.message);
  if (s1 !== s2) return [{ invariant: "serialize is not idempotent", detail: firstDifference(s1, s2) }];
  return [];
}

function checkFrameAgreement(data: string | Uint8Array, first: ParseResult): Violation[] {
  if (typeof data === "string") return [];
  let text: string;
  try {
    text = fatal.decode(data);
  } catch {
    return []; // not UTF-8: a text frame could not carry it
  }
  const other = parse(text);
  if (isViolation(other)) return [other];
  const verdict = (r: ParseResult) => (r.ok ? "ok" : `${r.status} ${r.reason}`);
  if (first.ok && !other.ok && other.reason === "Content-Length mismatch" && !isUtf8(byteStringToBytes(first.message.body))) return [];
  if (verdict(first) !== verdict(other)) {
    return [{ invariant: "binary and text frames disagree", detail: `binary: ${verdict(first)}, text: ${verdict(other)}` }];
  }
  return [];
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `at ${i}: ${JSON.stringify(a.slice(Math.max(0, i - 60), i + 60))} vs ${JSON.stringify(b.slice(Math.max(0, i - 60), i + 60))}`;
}

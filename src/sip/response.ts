/**
 * Responses the proxy itself generates (RFC 3261 §8.2.6): to a parsed request, and the 400/505
 * to a request that failed to parse, built from the header lines the parser could still read.
 */
import { HeaderLine, HeaderList } from "./headers.ts";
import { SipResponse, type SipRequest } from "./message.ts";
import { parseNameAddr } from "./name-addr.ts";
import type { ParseFailure } from "./parser.ts";
import { textToByteString } from "./serializer.ts";

export interface ResponseOptions {
  /** To tag for a response that creates one; by default a tag derived from the request. */
  toTag?: string;
  /** Extra header lines, appended in order, e.g. [["WWW-Authenticate", challenge]]. */
  headers?: [string, string][];
  body?: string;
  contentType?: string;
}

/**
 * RFC 3261 §8.2.6.2: "The From field of the response MUST equal the From header field of the
 * request. The Call-ID header field of the response MUST equal the Call-ID header field of the
 * request. The CSeq header field of the response MUST equal the CSeq field of the request. The
 * Via header field values in the response MUST equal the Via header field values in the request
 * and MUST maintain the same ordering." The To gets a tag unless it had one or this is a 100.
 * Lines are copied as they stand (raw when unchanged), so a received/rport the proxy stamped on
 * the top Via goes back too, as §18.2.2 needs.
 */
export function createResponse(
  req: SipRequest,
  status: number,
  reason: string,
  opts: ResponseOptions = {},
): SipResponse {
  const source = req.headers.lines();
  const lines: HeaderLine[] = source.filter((line) => line.key === "via");
  copyFirst(source, "from", lines);
  const to = source.find((line) => line.key === "to");
  if (to !== undefined) {
    const needsTag = status > 100 && !req.to().params.has("tag");
    lines.push(needsTag ? withTag(to, opts.toTag ?? localTag(req.callId, req.topVia().branch ?? "")) : to);
  }
  copyFirst(source, "call-id", lines);
  copyFirst(source, "cseq", lines);
  // RFC 3261 §8.2.6.1: a Timestamp in the request is copied into the 100 (Trying).
  if (status === 100) copyFirst(source, "timestamp", lines);

  const headers = new HeaderList(lines);
  for (const [name, value] of opts.headers ?? []) headers.append(name, value);
  let body = opts.body ?? "";
  if (body.length > 0 && req.encoding === "binary") body = textToByteString(body);
  if (opts.contentType !== undefined) headers.append("Content-Type", opts.contentType);
  const response = new SipResponse({ headers, body, encoding: req.encoding, callId: req.callId, status, reason });
  headers.append("Content-Length", String(response.bodyByteLength()));
  return response;
}

/**
 * The 400 (or 505) for a request that failed to parse, as text in the input's representation (a
 * byte-string when the input was binary), or undefined when no reply is possible: the input was
 * not a request, it was an ACK (never answered, RFC 3261 §17.1.1.3), or it carried no Via line.
 * Via, From, To, Call-ID and CSeq are copied raw, whatever their content: the client matches the
 * reply by what it sent.
 */
export function createErrorResponse(err: ParseFailure): string | undefined {
  if (err.kind !== "request" || err.headers === undefined || err.method === "ACK") return undefined;
  const lines = err.headers.lines();
  const vias = lines.filter((line) => line.key === "via");
  if (vias.length === 0) return undefined;
  let out = `SIP/2.0 ${err.status} ${err.reason}\r\n`;
  for (const line of vias) out += wire(line);
  const from = lines.find((line) => line.key === "from");
  if (from !== undefined) out += wire(from);
  const to = lines.find((line) => line.key === "to");
  const callId = lines.find((line) => line.key === "call-id");
  if (to !== undefined) {
    const parsed = parseNameAddr(to.value);
    const tag = localTag(callId?.value ?? "", vias[0]?.value ?? "");
    out += parsed.ok && !parsed.value.params.has("tag") ? wire(withTag(to, tag)) : wire(to);
  }
  if (callId !== undefined) out += wire(callId);
  const cseq = lines.find((line) => line.key === "cseq");
  if (cseq !== undefined) out += wire(cseq);
  return out + "Content-Length: 0\r\n\r\n";
}

function copyFirst(source: readonly HeaderLine[], key: string, into: HeaderLine[]): void {
  const line = source.find((l) => l.key === key);
  if (line !== undefined) into.push(line);
}

function withTag(to: HeaderLine, tag: string): HeaderLine {
  return new HeaderLine(to.name, to.key, `${to.value};tag=${tag}`);
}

function wire(line: HeaderLine): string {
  return (line.raw ?? `${line.name}: ${line.value}`) + "\r\n";
}

/**
 * A To tag that is the same for every response to one transaction (Call-ID and top Via branch),
 * so a retransmitted request gets an identical reply, as Kamailio's sl module does. The prefix
 * tells this instance's tags apart from another's; it is drawn on first use because Workers
 * forbid random numbers at global scope.
 */
let tagPrefix: string | undefined;

function localTag(callId: string, branch: string): string {
  tagPrefix ??= hex32(crypto.getRandomValues(new Uint32Array(1))[0] ?? 0);
  return `${tagPrefix}-${hex32(fnv1a(callId, fnv1a(branch, 0x811c9dc5)))}`;
}

/** FNV-1a, 32 bits: a fast, well-spread hash; not a security boundary. */
function fnv1a(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}

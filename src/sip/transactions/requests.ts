/**
 * The two requests a client builds from one it already sent: the ACK for a non-2xx final response
 * to an INVITE (RFC 3261 §17.1.1.3) and a CANCEL (§9.1). Header lines are reused as they stand
 * (raw when unchanged); only Via, To, CSeq and Max-Forwards are written anew.
 */
import { HeaderLine, HeaderList } from "../headers.ts";
import { SipRequest, type SipResponse } from "../message.ts";

/**
 * RFC 3261 §17.1.1.3: "The ACK request constructed by the client transaction MUST contain values
 * for the Call-ID, From, and Request-URI that are equal to the values of those header fields in
 * the request passed to the transport by the client transaction ... The To header field in the
 * ACK MUST equal the To header field in the response being acknowledged ... The ACK MUST contain
 * a single Via header field, and this MUST be equal to the top Via header field of the original
 * request. The CSeq header field in the ACK MUST contain the same value for the sequence number
 * as was present in the original request, but the method parameter MUST be equal to "ACK". If
 * the INVITE request whose response is being acknowledged had Route header fields, those header
 * fields MUST appear in the ACK."
 */
export function createAck(invite: SipRequest, response: SipResponse): SipRequest {
  const to = response.headers.lines().find((line) => line.key === "to");
  return derived(invite, "ACK", to);
}

/**
 * RFC 3261 §9.1: "The Request-URI, Call-ID, To, the numeric part of CSeq, and From header fields
 * in the CANCEL request MUST be identical to those in the request being cancelled, including
 * tags. A CANCEL constructed by a client MUST have only a single Via header field value matching
 * the top Via value in the request being cancelled. ... If the request being cancelled contains a
 * Route header field, the CANCEL request MUST include that Route header field's values."
 * `extra` adds lines such as an RFC 3326 Reason.
 */
export function createCancel(request: SipRequest, extra: [string, string][] = []): SipRequest {
  const to = request.headers.lines().find((line) => line.key === "to");
  const cancel = derived(request, "CANCEL", to);
  for (const [name, value] of extra) cancel.headers.append(name, value);
  return cancel;
}

function derived(original: SipRequest, method: "ACK" | "CANCEL", to: HeaderLine | undefined): SipRequest {
  const lines: HeaderLine[] = [];
  const topVia = original.headers.get("via");
  if (topVia !== undefined) lines.push(new HeaderLine("Via", "via", topVia));
  // §8.1.1.6 / §9.1: a new request carries Max-Forwards; 70 is the recommended value.
  lines.push(new HeaderLine("Max-Forwards", "max-forwards", "70"));
  for (const line of original.headers.lines()) {
    if (line.key === "from" || line.key === "call-id" || line.key === "route") lines.push(line);
  }
  if (to !== undefined) lines.push(to);
  const cseq = { seq: original.cseq.seq, method };
  lines.push(new HeaderLine("CSeq", "cseq", `${cseq.seq} ${method}`));
  lines.push(new HeaderLine("Content-Length", "content-length", "0"));
  return new SipRequest({
    headers: new HeaderList(lines),
    body: "",
    encoding: original.encoding,
    method,
    uri: original.uri,
    callId: original.callId,
    cseq,
  });
}

/** What matching, an ACK or CANCEL built from the request, and the upstream form of a response read. */
const MATCHING = new Set(["via", "from", "to", "call-id", "cseq", "route", "max-forwards"]);

/**
 * What an onreply route still reads of a branch's request when a 2xx is retransmitted after the
 * call finished: the offer (rtpengine answers it again) and the route set (a discarded 2xx ends
 * the callee's dialog along it).
 */
const FOR_REPLY_ROUTE = new Set([...MATCHING, "record-route", "content-type"]);

/**
 * A copy of `request` with only the header fields a finished transaction still reads (§17.1.3,
 * §17.2.3 matching, §17.1.1.3 ACK) and no body; `forReplyRoute` keeps what an onreply route reads
 * too, body included. Its strings are copied: V8 keeps a substring as a view of the whole string,
 * so a value cut from the received message would keep the message. Nothing is parsed until
 * something reads it.
 */
export function matchingCopy(request: SipRequest, forReplyRoute = false): SipRequest {
  const keep = forReplyRoute ? FOR_REPLY_ROUTE : MATCHING;
  const lines = request.headers.lines().filter((line) => keep.has(line.key));
  const body = forReplyRoute ? request.body : "";
  // One JSON round trip copies every string at once.
  const texts = [request.uri, body, ...lines.map((line) => line.value)];
  const [uri = request.uri, ownBody = "", ...values] = JSON.parse(JSON.stringify(texts)) as string[];
  const copied = lines.map((line, i) => new HeaderLine(line.name, line.key, values[i] ?? line.value));
  const cseq = request.cseq;
  return new SipRequest({ headers: new HeaderList(copied), body: ownBody, encoding: request.encoding, method: request.method, uri, cseq: { seq: cseq.seq, method: cseq.method } });
}

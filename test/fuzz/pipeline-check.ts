/**
 * The pipeline's invariants, checked on every delivery of the fuzz world:
 *
 * - no exception escapes `processMessage`, no timer callback throws, nothing is logged at error
 *   level (a route script that throws is answered 500 by the pipeline, but it is still a bug);
 * - a request that fails to parse gets the 400/505 reply `createErrorResponse` builds, or nothing
 *   when none can be addressed (not a request, an ACK, no Via);
 * - a parsed request other than ACK is answered, relayed, absorbed as a retransmission, or
 *   deliberately dropped (`ctx.drop()`: ban, flood, scanner); and eventually, once every timer
 *   has run, each one has had a final response (`FuzzWorld.owed` is empty);
 * - an ACK is never answered; a response is never answered;
 * - everything the proxy sends parses, and what it relays carries its own RFC 3261 branch and a
 *   Max-Forwards.
 */
import { parseMessage } from "../../src/sip/parser.ts";
import { createErrorResponse } from "../../src/sip/response.ts";
import { wireOf } from "../../src/sip/serializer.ts";
import { isRfc3261Branch } from "../../src/sip/via.ts";
import type { Violation } from "./parser-check.ts";
import { owedKey, wireText, type Delivery, type FuzzWorld, type Wire } from "./world.ts";

const PRINTABLE = /^[\x20-\x7e\x80-\uffff]*$/;

export function checkDelivery(world: FuzzWorld, d: Delivery, errorsBefore: number): Violation[] {
  const out: Violation[] = [];
  if (d.threw !== undefined) out.push({ invariant: "exception escaped processMessage", detail: String(d.threw) });
  for (const line of world.errors.slice(errorsBefore)) out.push({ invariant: "error logged", detail: line.slice(0, 400) });
  for (const err of world.clock.errors.splice(0)) out.push({ invariant: "timer callback threw", detail: String(err) });
  const responses = d.replies.filter((r) => wireText(r).startsWith("SIP/2.0 "));
  for (const wire of d.replies) out.push(...checkSent(wire, "reply"));
  for (const { request } of d.relayed) out.push(...checkRelayed(wireOf(request)));

  if (!d.parsed.ok) {
    const expected = createErrorResponse(d.parsed);
    if (expected === undefined && d.replies.length > 0) out.push({ invariant: "unaddressable input answered", detail: wireText(d.replies[0]!).slice(0, 200) });
    if (expected !== undefined && !responses.some((r) => wireText(r).startsWith(`SIP/2.0 ${d.parsed.ok ? 0 : d.parsed.status} `))) {
      out.push({ invariant: "malformed request not answered", detail: `${d.parsed.status} ${d.parsed.reason}` });
    }
    return out;
  }
  const msg = d.parsed.message;
  if (msg.kind === "response") {
    // A reply carrying the response's own top Via would answer it; the response forwarded to a
    // caller on the same socket has that Via popped, and is fine.
    const top = msg.vias()[0];
    const answer = d.replies.find((r) => {
      const p = parseMessage(r);
      if (!p.ok) return true;
      const via = p.message.vias()[0];
      return p.message.kind === "response" && via?.branch === top?.branch && via?.host === top?.host;
    });
    if (answer !== undefined) out.push({ invariant: "a response was answered", detail: wireText(answer).slice(0, 200) });
    return out;
  }
  const key = owedKey(msg);
  const answered = responses.some((r) => {
    const p = parseMessage(r);
    return p.ok && owedKey(p.message) === key;
  });
  if (msg.method === "ACK") {
    if (answered) out.push({ invariant: "an ACK was answered", detail: wireText(responses[0]!).slice(0, 200) });
    return out;
  }
  if (!answered && d.relayed.length === 0 && !d.retransmission) {
    if (d.dropped) world.owed.delete(key);
    else out.push({ invariant: "request neither answered, relayed nor dropped", detail: msg.startLine() });
  }
  return out;
}

/** What the proxy sends to a peer must parse, and a reply's reason phrase must be one line of text. */
function checkSent(wire: Wire, what: string): Violation[] {
  const p = parseMessage(wire);
  const text = wireText(wire);
  if (!p.ok) {
    // A 400 to a malformed request echoes the request's broken lines (response.ts): only its
    // status line is the proxy's own.
    if (/^SIP\/2\.0 (400|505) [\x20-\x7e]+\r\n/.test(text)) return [];
    return [{ invariant: `${what} does not parse`, detail: `${p.status} ${p.reason}: ${JSON.stringify(text.slice(0, 300))}` }];
  }
  const m = p.message;
  if (m.kind === "response" && (m.status < 100 || m.status > 699 || !PRINTABLE.test(m.reason))) {
    return [{ invariant: `${what} status line`, detail: m.startLine() }];
  }
  return [];
}

function checkRelayed(wire: Wire): Violation[] {
  const sent = checkSent(wire, "relayed request");
  if (sent.length > 0) return sent;
  const p = parseMessage(wire);
  if (!p.ok || p.message.kind !== "request") return [{ invariant: "relayed message is not a request", detail: wireText(wire).slice(0, 200) }];
  const req = p.message;
  if (!isRfc3261Branch(req.topVia().branch)) return [{ invariant: "relayed request without an RFC 3261 branch", detail: req.headers.get("via") ?? "" }];
  if (req.maxForwards === undefined) return [{ invariant: "relayed request without Max-Forwards", detail: req.startLine() }];
  return [];
}

/** After the drain: every request had its final response, and every table is empty again. */
export function checkDrained(world: FuzzWorld): Violation[] {
  const out: Violation[] = [];
  for (const [key, peer] of world.owed) out.push({ invariant: "request never got a final response", detail: `${peer.name}: ${key.replace(/\n/g, " | ")}` });
  for (const [table, size] of Object.entries(world.sizes())) {
    if (size !== 0) out.push({ invariant: "state left after the drain", detail: `${table} = ${size}` });
  }
  return out;
}

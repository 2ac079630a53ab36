/** Fake scheduler and clock, and raw SIP fixtures, shared by the transaction, tm and rr tests. */
import type { SipMessage, SipRequest, SipResponse } from "../../../src/sip/message.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { serialize } from "../../../src/sip/serializer.ts";
import type { Clock, TimerHandle, Timers } from "../../../src/sip/timers.ts";

/** A deterministic scheduler: nothing fires until `advance`. */
export class FakeTimers implements Timers, Clock {
  private time = 1_700_000_000_000;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  set(ms: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    this.pending.set(id, { at: this.time + ms, fn });
    return id;
  }

  clear(handle: TimerHandle): void {
    this.pending.delete(handle as number);
  }

  get count(): number {
    return this.pending.size;
  }

  /** Moves time forward, firing due timers in deadline order (timers set meanwhile included). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.pending) if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.pending.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
    }
    this.time = end;
  }
}

export function crlf(...lines: string[]): string {
  return lines.join("\r\n");
}

/** What went over the wire, re-parsed: each sent message as the peer would see it. */
export class Wire {
  readonly messages: SipMessage[] = [];
  fail = false;

  readonly send = (message: SipMessage): boolean => {
    if (this.fail) return false;
    this.messages.push(reparse(message));
    return true;
  };

  get requests(): SipRequest[] {
    return this.messages.filter((m): m is SipRequest => m.kind === "request");
  }

  get responses(): SipResponse[] {
    return this.messages.filter((m): m is SipResponse => m.kind === "response");
  }

  statuses(): number[] {
    return this.responses.map((r) => r.status);
  }

  methods(): string[] {
    return this.requests.map((r) => r.method);
  }

  clear(): void {
    this.messages.length = 0;
  }
}

export function reparse<T extends SipMessage>(message: T): T {
  return parse(serialize(message)) as T;
}

export function parse(text: string): SipMessage {
  const parsed = parseMessage(text);
  if (!parsed.ok) throw new Error(`fixture does not parse: ${parsed.reason}`);
  return parsed.message;
}

export function request(text: string): SipRequest {
  const m = parse(text);
  if (m.kind !== "request") throw new Error("not a request");
  return m;
}

export function response(text: string): SipResponse {
  const m = parse(text);
  if (m.kind !== "response") throw new Error("not a response");
  return m;
}

/** Alice calls Bob over WebSocket (RFC 7118 §8.2 shape). */
export function invite(opts: { branch?: string; uri?: string; cseq?: number; extra?: string[] } = {}): string {
  const body = crlf("v=0", "o=- 1 1 IN IP4 127.0.0.2", "s=-", "c=IN IP4 127.0.0.2", "t=0 0", "m=audio 4000 RTP/AVP 0", "");
  return crlf(
    `INVITE ${opts.uri ?? "sip:bob@localhost"} SIP/2.0`,
    `Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=${opts.branch ?? "z9hG4bK56sdasks"}`,
    "Max-Forwards: 69",
    "To: <sip:bob@localhost>",
    "From: Alice <sip:alice@localhost>;tag=asdyka899",
    "Call-ID: asidkj3ss",
    `CSeq: ${opts.cseq ?? 1} INVITE`,
    "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws;ob>",
    ...(opts.extra ?? []),
    "Content-Type: application/sdp",
    `Content-Length: ${body.length}`,
    "",
    body,
  );
}

/** The caller's ACK in `invite()`'s transaction (its Via, From, Call-ID and CSeq 1), with the final response's To. */
export function ack(opts: { to: string; uri?: string }): string {
  return crlf(
    `ACK ${opts.uri ?? "sip:bob@localhost"} SIP/2.0`,
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks",
    "Max-Forwards: 70",
    `To: ${opts.to}`,
    "From: Alice <sip:alice@localhost>;tag=asdyka899",
    "Call-ID: asidkj3ss",
    "CSeq: 1 ACK",
    "Content-Length: 0",
    "",
    "",
  );
}

export function nonInvite(method: string, opts: { branch?: string; extra?: string[] } = {}): string {
  return crlf(
    `${method} sip:bob@localhost SIP/2.0`,
    `Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=${opts.branch ?? "z9hG4bKmsg1"}`,
    "Max-Forwards: 69",
    "To: <sip:bob@localhost>",
    "From: Alice <sip:alice@localhost>;tag=asdyka899",
    "Call-ID: msg-call-1",
    `CSeq: 7 ${method}`,
    ...(opts.extra ?? []),
    "Content-Length: 0",
    "",
    "",
  );
}

/** RFC 4475 §3.4.1 inv2543: an RFC 2543 INVITE (no branch, no From tag). */
export const INV2543 = crlf(
  "INVITE sip:UserB@example.com SIP/2.0",
  "Via: SIP/2.0/UDP iftgw.example.com",
  "From: <sip:+13035551111@ift.client.example.net;user=phone>",
  "Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>",
  "To: sip:+16505552222@ss1.example.net;user=phone",
  "Call-ID: inv2543.1717@ift.client.example.com",
  "CSeq: 56 INVITE",
  "Content-Type: application/sdp",
  "",
  "v=0",
  "o=mhandley 29739 7272939 IN IP4 192.0.2.5",
  "s=-",
  "c=IN IP4 192.0.2.5",
  "t=0 0",
  "m=audio 49217 RTP/AVP 0",
  "",
);

/** The ACK an RFC 2543 client sends for a non-2xx: same top Via, the To tag of the response. */
export function ack2543(toTag: string): string {
  return crlf(
    "ACK sip:UserB@example.com SIP/2.0",
    "Via: SIP/2.0/UDP iftgw.example.com",
    "From: <sip:+13035551111@ift.client.example.net;user=phone>",
    `To: sip:+16505552222@ss1.example.net;user=phone;tag=${toTag}`,
    "Call-ID: inv2543.1717@ift.client.example.com",
    "CSeq: 56 ACK",
    "Content-Length: 0",
    "",
    "",
  );
}

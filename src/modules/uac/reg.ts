/**
 * uac_reg, the pure part: the REGISTER an account at a carrier sends (RFC 3261 §10.2), what its
 * answer means, and when the next attempt is due. The registration object
 * (durable-objects/uac-registration.ts) keeps the state and its alarm; a shard's bridge link
 * carries the request (durable-objects/uac-link.ts).
 */
import { parseNameAddr } from "../../sip/name-addr.ts";
import type { SipResponse } from "../../sip/message.ts";
import { isSipUri } from "../../sip/uri.ts";
import { formatHostPort, nextHopOf, type UacRegRow } from "./uacreg.ts";

/** A request a shard sends for a registration: everything but its Via and Contact host, which name the bridge. */
export interface UacRequest {
  method: "REGISTER";
  ruri: string;
  /** next hop, host:port (the bridge resolves names). */
  dst: string;
  /** From, To, Call-ID, CSeq, Expires, credentials ... in order. */
  headers: [string, string][];
  /** The Contact's user part (`l_uuid`) and host[:port] (`contact_addr`; empty: the bridge's address). */
  contactUser: string;
  contactAddr: string;
}

/** How a shard reports the attempt. */
export type UacOutcome =
  | { kind: "reply"; text: string }
  /** No final answer within the wait (or the bridge's Timer F said so). */
  | { kind: "timeout" }
  /** The bridge could not send it (name not resolved, address refused). */
  | { kind: "unreachable"; reason: string }
  /** No shard holds a bridge link. */
  | { kind: "no-link" };

export type RegState = "init" | "registering" | "registered" | "failed" | "disabled";

/** One registration as its object keeps it (no password: that stays in D1). */
export interface RegStatus {
  l_uuid: string;
  state: RegState;
  /** RFC 3261 §10.2.4: the same Call-ID for every refresh of this registration; CSeq grows. */
  callId: string;
  fromTag: string;
  cseq: number;
  /** Failures since the last success (the backoff's exponent). */
  failures: number;
  /** ms since the epoch. */
  registeredAt?: number;
  expiresAt?: number;
  nextAttemptAt?: number;
  /** Seconds the registrar granted. */
  expires?: number;
  lastStatus?: number;
  lastReason?: string;
  /** The Contact as registered (`sip:<l_uuid>@<address>`). */
  contact?: string;
}

export function newStatus(lUuid: string): RegStatus {
  return { l_uuid: lUuid, state: "init", callId: `${crypto.randomUUID()}-uacreg`, fromTag: crypto.randomUUID().slice(0, 8), cseq: 0, failures: 0 };
}

/** The REGISTER of `row` with the status's Call-ID and next CSeq, and optional credentials. */
export function registerRequest(row: UacRegRow, status: RegStatus, expires: number, credentials?: [string, string]): UacRequest | undefined {
  const hop = nextHopOf(row);
  if (hop === undefined) return undefined;
  const aor = `sip:${row.r_username}@${row.r_domain || hop.host}`;
  const headers: [string, string][] = [
    ["From", `<${aor}>;tag=${status.fromTag}`],
    ["To", `<${aor}>`],
    ["Call-ID", status.callId],
    ["CSeq", `${status.cseq} REGISTER`],
    ["Expires", String(expires)],
  ];
  if (credentials !== undefined) headers.push(credentials);
  return { method: "REGISTER", ruri: `sip:${row.r_domain || formatHostPort(hop)}`, dst: formatHostPort(hop), headers, contactUser: row.l_uuid, contactAddr: row.contact_addr };
}

/** Via and Contact written with the bridge's address; the rest as the registration object built it. */
export function renderRequest(request: UacRequest, via: { host: string; port?: number }, branch: string): string {
  const sentBy = via.port === undefined ? via.host : `${via.host}:${via.port}`;
  const contactHost = request.contactAddr !== "" ? request.contactAddr : sentBy;
  return [
    `${request.method} ${request.ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${sentBy};branch=${branch};rport`,
    "Max-Forwards: 70",
    ...request.headers.map(([name, value]) => `${name}: ${value}`),
    `Contact: <sip:${request.contactUser}@${contactHost}>`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

/**
 * RFC 3261 §10.2.4: the registrar's answer lists the bindings with their expiry; ours is the one
 * whose user is `l_uuid`. Then the Expires header, then what was asked for.
 */
export function grantedExpires(reply: SipResponse, lUuid: string, requested: number): number {
  for (const line of reply.headers.lines()) {
    if (line.key !== "contact") continue;
    for (const value of line.elements()) {
      const parsed = parseNameAddr(value);
      if (!parsed.ok || !isSipUri(parsed.value.uri) || parsed.value.uri.user !== lUuid) continue;
      const e = parsed.value.params.get("expires");
      if (e !== undefined && e !== null && /^[0-9]+$/.test(e)) return Number(e);
    }
  }
  const header = reply.headers.get("expires");
  return header !== undefined && /^\s*[0-9]+\s*$/.test(header) ? Number(header) : requested;
}

/** RFC 3261 §10.3 item 7 (423): the Min-Expires the registrar wants, when above what was asked for. */
export function minExpires(reply: SipResponse, asked: number): number | undefined {
  const v = reply.headers.get("min-expires");
  const n = v === undefined ? NaN : Number(v.trim());
  return Number.isInteger(n) && n > asked ? n : undefined;
}

/**
 * When to refresh a registration granted `expires` seconds, in ms: a fifth of the interval early,
 * at most 30 s early, so a refresh that needs a challenge round and a retransmission is still in
 * time (Kamailio refreshes within reg_timer_interval of the expiry).
 */
export function refreshDelay(expires: number): number {
  return Math.max(1, expires - Math.min(expires * 0.2, 30)) * 1000;
}

/** The backoff after `failures` consecutive failures, ms: interval × 2^(failures-1), capped, ±10 % jitter so that many accounts do not retry in step. */
export function retryDelay(failures: number, interval: number, max: number, random: number = Math.random()): number {
  const base = Math.min(max, interval * 2 ** Math.max(0, failures - 1));
  return Math.round(base * 1000 * (0.9 + 0.2 * random));
}

/** Kamailio uac.reg_info flags: 1 disabled, 2 in progress, 4 succeeded, 8 in progress with auth, 16 initialized. */
export function kamailioFlags(status: RegStatus, authInProgress = false): number {
  let flags = 16;
  if (status.state === "disabled") flags |= 1;
  if (status.state === "registering") flags |= authInProgress ? 2 | 8 : 2;
  if (status.state === "registered") flags |= 4;
  return flags;
}

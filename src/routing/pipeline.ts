import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { SipRequest } from "../sip/message.ts";
import { parseMessage, parseOversized, type ParseResult } from "../sip/parser.ts";
import { createErrorResponse } from "../sip/response.ts";
import type { MessageCounter } from "../metrics/instrument.ts";
import { ReplyContext, RequestContext, type ReplyRoute, type RequestRoute, type Services, type Source, type Transport } from "./context.ts";

/** A route script: the request route and, optionally, an onreply route. */
export interface Script {
  request: RequestRoute;
  reply?: ReplyRoute;
}

export interface Inbound {
  data: string | Uint8Array;
  /** The message already parsed from `data` (the host needed its Call-ID first). */
  parsed?: ParseResult;
  source: Source;
  transport: Transport;
  config: Config;
  log: Logger;
  services?: Services;
  /** Counts every message read (src/metrics). */
  metrics?: MessageCounter;
}

/**
 * One message in: parse, stamp the transport facts on it, run the script, apply the SIP defaults.
 * Whatever happens here, the caller's connection and state carry on: bad input gets an answer or
 * is dropped, and a failing script gets a 500 without details.
 */
export async function processMessage(script: Script, inbound: Inbound): Promise<void> {
  const { config, source, transport } = inbound;
  const parsed = inbound.parsed ?? parseInbound(inbound.data, config.maxMessageSize);
  inbound.metrics?.message(parsed);
  if (!parsed.ok) {
    // RFC 3261 §16.3 / §18.1.2: a request that cannot be parsed gets 400 (505 for the version)
    // when enough of it could be read to address a reply; a malformed response is dropped.
    const reply = parsed.kind === "request" ? createErrorResponse(parsed) : undefined;
    inbound.log.warn("malformed message", { status: parsed.status, reason: parsed.reason, kind: parsed.kind, ip: source.ip, replied: reply !== undefined });
    if (reply !== undefined) transport.send(reply);
    return;
  }
  const msg = parsed.message;
  if (msg.kind === "response") {
    const log = inbound.log.child({ callId: msg.callId, status: msg.status });
    const ctx = new ReplyContext(msg, source, config, log, inbound.services);
    if (script.reply) await script.reply(ctx);
    if (ctx.dropped || !inbound.services?.routeResponse) {
      log.debug("response dropped", { dropped: ctx.dropped });
      return;
    }
    await inbound.services.routeResponse(msg);
    return;
  }
  stampReceived(msg, source);
  const log = inbound.log.child({ callId: msg.callId, method: msg.method });
  const ctx = new RequestContext(msg, source, config, log, transport, inbound.services);
  try {
    await script.request(ctx);
  } catch (err) {
    log.error("route script failed", { error: err instanceof Error ? err.message : String(err) });
    if (!ctx.handled) ctx.sl.sendReply(500, "Server Internal Error");
    return;
  }
  // SIP defaults: a request no route handled gets 404; an ACK is never answered (sl absorbs it).
  if (!ctx.handled) ctx.sl.sendReply(404, "Not Found");
}

/**
 * A message as it arrives: parsed, or (the seed's `$ml >= 65535` → 513) found too big to handle
 * from its header section alone, before its body is read.
 */
export function parseInbound(data: string | Uint8Array, maxMessageSize: number): ParseResult {
  return byteSize(data, maxMessageSize) >= maxMessageSize ? parseOversized(data) : parseMessage(data);
}

/** The size in bytes, counted exactly only when it may reach `limit`. */
function byteSize(data: string | Uint8Array, limit: number): number {
  if (typeof data !== "string") return data.length;
  return data.length * 3 < limit ? data.length : new TextEncoder().encode(data).length;
}

/**
 * RFC 3261 §18.2.1: "If the host portion of the sent-by ... contains a domain name, or if it
 * contains an IP address that differs from the packet source address, the server MUST add a
 * received parameter". RFC 3581 §4: fill an empty rport with the source port when it is known
 * (Workers do not report a WebSocket client's port, so over WS rport stays empty).
 */
export function stampReceived(msg: SipRequest, source: Source): void {
  const via = msg.topVia();
  let changed = false;
  // An IPv6 sent-by is bracketed, the source address is not (no regular expression per message).
  const host = via.host.charCodeAt(0) === 0x5b && via.host.endsWith("]") ? via.host.slice(1, -1) : via.host;
  if (host !== source.ip) {
    via.params.set("received", source.ip);
    changed = true;
  }
  if (source.port !== undefined && via.params.has("rport") && via.params.get("rport") === null) {
    via.params.set("rport", String(source.port));
    changed = true;
  }
  if (changed) msg.rewriteTopVia(via);
}

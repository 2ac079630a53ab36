/**
 * dialog: calls between a WebSocket client and a gateway, tracked so that a call whose WebSocket
 * side is gone — its socket closed and no reconnect of the same client instance within
 * DIALOG_FLOW_TIMEOUT — is ended toward the gateway with a BYE, and PSTN minutes do not run on.
 * Kamailio's dialog module does this with its keepalives and timeouts (`dlg_manage`, `ka_timer`,
 * `dlg_bye`). A record holds what the WebSocket side's own BYE would carry. Pure: the shard keeps
 * the records (durable-objects/dialogs.ts).
 */
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import { parseNameAddr } from "../../sip/name-addr.ts";
import { formatUri } from "../../sip/uri.ts";
import type { SentBy, Target } from "../tm/types.ts";

/** One call between a WebSocket client and a gateway, as its WebSocket side would end it. */
export interface GatewayDialog {
  v: 1;
  callId: string;
  /** The WebSocket side's flow, and the client instance and AOR behind it (to follow a reconnect). */
  flow: string;
  instance?: string;
  aor?: string;
  /** The gateway (host:port) and the bridge whose link reaches it. */
  dst: string;
  bridge?: string;
  /** The BYE of the WebSocket side: Request-URI (the gateway's Contact), Route set, From, To, base CSeq. */
  ruri: string;
  routes: string[];
  from: string;
  to: string;
  cseq: number;
  /** ms since the epoch: when the call was answered, and since when its flow has been seen gone. */
  since: number;
  lostAt?: number;
}

/** What the WebSocket side of a call is, from the request route's point of view. */
export interface WebSocketSide {
  flow: string;
  instance?: string;
  aor?: string;
}

/**
 * A record from an INVITE's branch and its first 2xx. `ws` is the caller when the call goes to a
 * gateway (the branch has a `dst`), else the branch's target is the WebSocket callee and `gateway`
 * the caller's address.
 */
export function dialogOf(request: SipRequest, response: SipResponse, target: Target, side: { ws?: WebSocketSide; gateway?: { dst: string; bridge?: string } }, now: number): GatewayDialog | undefined {
  const toTag = response.to().params.get("tag");
  if (toTag === undefined || toTag === null) return undefined;
  const routes = request.headers.getAll("record-route");
  if (target.flow === undefined && target.dst !== undefined && side.ws !== undefined) {
    // To the gateway: the caller's route set is the 2xx's Record-Route reversed. The 2xx carries
    // the branch's Record-Route with whatever the gateway's side added on top: that part, reversed,
    // is what the caller's BYE carries past this proxy.
    const answered = response.headers.getAll("record-route");
    const beyond = answered.slice(0, Math.max(0, answered.length - routes.length));
    const dialog: GatewayDialog = {
      v: 1, callId: request.callId, ...side.ws, dst: target.dst, ruri: contactOf(response) ?? request.uri, routes: beyond.reverse(),
      from: request.headers.get("from") ?? "", to: withTag(request.headers.get("to") ?? "", toTag), cseq: request.cseq.seq, since: now,
    };
    if (target.bridge !== undefined) dialog.bridge = target.bridge;
    return dialog;
  }
  if (target.flow !== undefined && side.gateway !== undefined) {
    // From the gateway: the callee's route set is the INVITE's Record-Route as it is; after the
    // proxy's own entries (on top) comes the gateway's side.
    const dialog: GatewayDialog = {
      v: 1, callId: request.callId, flow: target.flow, ...side.gateway, ruri: contactOf(request) ?? "", routes: routes.slice(recordedHere(request)),
      from: withTag(request.headers.get("to") ?? "", toTag), to: request.headers.get("from") ?? "", cseq: 0, since: now,
    };
    if (target.successor !== undefined) Object.assign(dialog, { instance: target.successor.instance, aor: target.successor.aor });
    if (dialog.ruri === "") return undefined;
    return dialog;
  }
  return undefined;
}

/** How many Record-Route entries on top of the request this proxy wrote (1, or 2 with double record-routing). */
function recordedHere(request: SipRequest): number {
  const routes = request.headers.getAll("record-route");
  return routes.length > 1 && routes[0]?.includes(";r2=on") && routes[1]?.includes(";r2=on") ? 2 : routes.length > 0 ? 1 : 0;
}

function contactOf(message: SipRequest | SipResponse): string | undefined {
  const value = message.headers.get("contact");
  if (value === undefined) return undefined;
  const parsed = parseNameAddr(value);
  return parsed.ok ? formatUri(parsed.value.uri) : undefined;
}

function withTag(nameAddr: string, tag: string): string {
  return /;\s*tag=/i.test(nameAddr) ? nameAddr : `${nameAddr};tag=${tag}`;
}

/**
 * The BYE the WebSocket side would send, sent by the proxy in its place (Kamailio `dlg_bye`): its
 * CSeq is well above any the side used through this proxy. RFC 3326 Reason says why.
 */
export function byeOf(dialog: GatewayDialog, via: SentBy, branch: string): string {
  const host = via.port === undefined ? via.host : `${via.host}:${via.port}`;
  const lines = [
    `BYE ${dialog.ruri} SIP/2.0`,
    `Via: SIP/2.0/${via.transport} ${host};branch=${branch};rport`,
    "Max-Forwards: 70",
    ...dialog.routes.map((r) => `Route: ${r}`),
    `From: ${dialog.from}`,
    `To: ${dialog.to}`,
    `Call-ID: ${dialog.callId}`,
    `CSeq: ${dialog.cseq + BYE_CSEQ_MARGIN} BYE`,
    'Reason: SIP;cause=480;text="WebSocket client gone"',
    "Content-Length: 0",
    "",
    "",
  ];
  return lines.join("\r\n");
}

/**
 * Added to the base CSeq of the WebSocket side (its INVITE's, or 0 for a callee): the BYE must be
 * above every request that side sent in the dialog (RFC 3261 §12.2.2), some of which may not have
 * passed the shard that keeps the record; JsSIP starts a callee's CSeq below 10,000.
 */
export const BYE_CSEQ_MARGIN = 10_001;

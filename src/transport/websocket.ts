import type { Config } from "../config.ts";
import type { Transport } from "../routing/context.ts";
import type { SipMessage } from "../sip/message.ts";
import { serialize, serializeBytes } from "../sip/serializer.ts";

/** RFC 7118 §4.1: the WebSocket subprotocol a SIP client must offer. */
export const SIP_SUBPROTOCOL = "sip";

/** RFC 5626 §4.4.1 keep-alive over a stream: a CRLFCRLF ping is answered with a CRLF pong. */
export const KEEPALIVE_PING = "\r\n\r\n";
export const KEEPALIVE_PONG = "\r\n";

export type UpgradeCheck = { ok: true } | { ok: false; status: number; message: string };

/**
 * Decides whether an HTTP request may become a SIP WebSocket: it must be a WebSocket upgrade that
 * offers the `sip` subprotocol (RFC 7118 §4.1: "the server MUST NOT accept the upgrade" without a
 * supported subprotocol), from an allowed Origin when an allow-list is configured.
 */
export function checkUpgrade(headers: Headers, config: Config): UpgradeCheck {
  if (headers.get("Upgrade")?.toLowerCase() !== "websocket") {
    return { ok: false, status: 426, message: "This endpoint speaks SIP over WebSocket (RFC 7118): send a WebSocket upgrade offering the 'sip' subprotocol." };
  }
  const offered = (headers.get("Sec-WebSocket-Protocol") ?? "").split(",").map((p) => p.trim().toLowerCase());
  if (!offered.includes(SIP_SUBPROTOCOL)) {
    return { ok: false, status: 400, message: "WebSocket subprotocol 'sip' required (RFC 7118): set Sec-WebSocket-Protocol: sip." };
  }
  if (config.allowedOrigins.length > 0) {
    const origin = headers.get("Origin");
    if (!origin || !config.allowedOrigins.includes(origin)) {
      return { ok: false, status: 403, message: "Origin not allowed." };
    }
  }
  return { ok: true };
}

/** True for frames that carry no SIP message: RFC 5626 keep-alive pings and pongs. */
export function isKeepAlive(data: string | ArrayBuffer): "ping" | "pong" | false {
  if (typeof data === "string") {
    if (data === KEEPALIVE_PING) return "ping";
    if (data === KEEPALIVE_PONG) return "pong";
    return false;
  }
  const bytes = new Uint8Array(data);
  if (bytes.length === 4 && bytes[0] === 13 && bytes[1] === 10 && bytes[2] === 13 && bytes[3] === 10) return "ping";
  if (bytes.length === 2 && bytes[0] === 13 && bytes[1] === 10) return "pong";
  return false;
}

/** One SIP message per WebSocket message (RFC 7118 §5): text frames for text, binary for bytes. */
export class WebSocketTransport implements Transport {
  constructor(private readonly ws: WebSocket) {}

  send(message: SipMessage | string): void {
    const frame = typeof message === "string" ? message : message.encoding === "binary" ? serializeBytes(message) : serialize(message);
    try {
      this.ws.send(frame);
    } catch (err) {
      // The peer closed while its request was being handled (a client that gave up and
      // reconnected, as after a deploy): the answer is lost as a datagram to a host that left
      // would be; the route script did nothing wrong. Logging it as a script failure cost a line
      // per such reply, and in a reconnect storm those lines filled workerd's stdout.
      if (this.ws.readyState !== WebSocket.OPEN) return;
      throw err;
    }
  }
}

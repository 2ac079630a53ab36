import type { Transport } from "../routing/context.ts";
import type { SipMessage } from "../sip/message.ts";
import { serialize, serializeBytes } from "../sip/serializer.ts";

/**
 * The edge side of the bridge link (protocol `sipedge-bridge.v1`, bridge/README.md): one
 * WebSocket per (shard, bridge); a datagram frame is `<address>\r\n<SIP message>`, a control
 * frame a JSON object.
 */
export const BRIDGE_SUBPROTOCOL = "sipedge-bridge.v1";

export interface HostPort {
  host: string;
  port?: number;
}

export type BridgeFrame =
  | { kind: "datagram"; address: string; ip: string; port: number; message: string | Uint8Array }
  /** `rtpengine`: the bridge runs media commands (it was started with `--rtpengine`). */
  | { kind: "hello"; bridge: string; advertise: HostPort; rtpengine: boolean }
  | { kind: "control"; type: string; body: Record<string, unknown> }
  | { kind: "invalid"; reason: string };

/** `ip:port` or `[v6]:port` (what the bridge reports as a datagram's source). */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]+)):([0-9]{1,5})$/.exec(text);
  if (m) {
    const port = Number(m[3]);
    return port >= 1 && port <= 65535 ? { host: m[1] ?? (m[2] as string), port } : undefined;
  }
  return /^[^:\s]+$/.test(text) ? { host: text } : undefined;
}

export function formatHostPort(hp: HostPort): string {
  const host = hp.host.includes(":") && !hp.host.startsWith("[") ? `[${hp.host}]` : hp.host;
  return hp.port === undefined ? host : `${host}:${hp.port}`;
}

function controlFrame(text: string): BridgeFrame {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { kind: "invalid", reason: "control frame is not JSON" };
  }
  if (body.type === "hello") {
    const advertise = typeof body.advertise === "string" ? parseHostPort(body.advertise) : undefined;
    if (!advertise || typeof body.bridge !== "string") return { kind: "invalid", reason: "hello without bridge or advertise" };
    return { kind: "hello", bridge: body.bridge, advertise, rtpengine: body.rtpengine === true };
  }
  return { kind: "control", type: String(body.type), body };
}

/** Reads one frame from the bridge. Binary frames carry datagrams that are not UTF-8. */
export function parseBridgeFrame(data: string | ArrayBuffer): BridgeFrame {
  if (typeof data === "string") {
    if (data.startsWith("{")) return controlFrame(data);
    const nl = data.indexOf("\r\n");
    const hp = nl < 0 ? undefined : parseHostPort(data.slice(0, nl));
    if (!hp || hp.port === undefined) return { kind: "invalid", reason: "datagram frame without a source address" };
    return { kind: "datagram", address: data.slice(0, nl), ip: hp.host, port: hp.port, message: data.slice(nl + 2) };
  }
  const bytes = new Uint8Array(data);
  let nl = -1;
  for (let i = 0; i + 1 < bytes.length && i < 80; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) {
      nl = i;
      break;
    }
  }
  const address = nl < 0 ? "" : String.fromCharCode(...bytes.subarray(0, nl));
  const hp = parseHostPort(address);
  if (!hp || hp.port === undefined) return { kind: "invalid", reason: "datagram frame without a source address" };
  return { kind: "datagram", address, ip: hp.host, port: hp.port, message: bytes.subarray(nl + 2) };
}

/** Sends SIP messages to one UDP address through a bridge link. */
export class BridgeTransport implements Transport {
  constructor(
    private readonly ws: WebSocket,
    private readonly address: string,
  ) {}

  send(message: SipMessage | string): void {
    sendDatagram(this.ws, this.address, message);
  }
}

export function sendDatagram(ws: WebSocket, address: string, message: SipMessage | string): void {
  if (typeof message !== "string" && message.encoding === "binary") {
    const body = serializeBytes(message);
    const head = new TextEncoder().encode(`${address}\r\n`);
    const frame = new Uint8Array(head.length + body.length);
    frame.set(head);
    frame.set(body, head.length);
    ws.send(frame);
    return;
  }
  ws.send(`${address}\r\n${typeof message === "string" ? message : serialize(message)}`);
}

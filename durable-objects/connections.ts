import type { Services, Source, Transport } from "../src/routing/context.ts";
import { WebSocketTransport } from "../src/transport/websocket.ts";
import type { BridgeAttachment } from "./bridge-links.ts";

/** What a client socket carries through hibernation (serializeAttachment). */
export interface ClientAttachment {
  kind?: "client";
  /** The flow token (src/transport/flow.ts). */
  flow: string;
  ip: string;
  transport: "ws" | "wss";
  connectedAt: number;
  /** AORs that registered a binding over this flow, for `handle_lost_tcp` on close. */
  aors: string[];
  /** The instance key of the latest registration with +sip.instance over this flow. */
  instance?: string;
  // Keep-alive state (keepalive.ts), written once per socket, ping or answer, never per message.
  /** The first complete SIP message (WS_IDLE_TIMEOUT runs until then). */
  firstAt?: number;
  /** The outstanding OPTIONS ping. */
  pingedAt?: number;
  /** The latest answer to a ping: the peer reads. */
  provenAt?: number;
}

/** Per-socket state, rebuilt lazily after the object wakes from hibernation. */
export interface Connection {
  /** Set for a bridge link; client sockets have none. */
  bridge?: BridgeAttachment;
  attachment: ClientAttachment;
  source: Source;
  transport: Transport;
  /** The shard's services with this socket's `flowRegistered`, built at its first message. */
  services?: Services;
  /** The latest complete SIP message from the peer (memory only: the per-message write). */
  seenAt?: number;
  /** Its close was handled: frames still arriving (a peer that never read the close) are ignored. */
  closed?: true;
}

/** The shard's sockets: clients (tagged `conn:<flow>` and `ip:<key>`) and bridge links. */
export class Connections {
  private readonly byWs = new WeakMap<WebSocket, Connection>();
  /** Sockets whose close was handled: webSocketError and webSocketClose may both fire for one. */
  private readonly gone = new WeakSet<WebSocket>();

  /** `wrap` decorates each socket's transport once (metrics count what goes out). */
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly wrap: (transport: Transport) => Transport = (t) => t,
  ) {}

  of(ws: WebSocket): Connection {
    let conn = this.byWs.get(ws);
    if (conn === undefined) {
      const stored = ws.deserializeAttachment() as ClientAttachment | BridgeAttachment;
      if (stored.kind === "bridge") {
        conn = { bridge: stored, attachment: { flow: "", ip: "", transport: "ws", connectedAt: stored.connectedAt, aors: [] }, source: { transport: "udp", ip: "" }, transport: new WebSocketTransport(ws) };
      } else {
        conn = { attachment: stored, source: sourceOf(stored), transport: this.wrap(new WebSocketTransport(ws)) };
      }
      this.byWs.set(ws, conn);
    }
    return conn;
  }

  /** The socket's connection, unless its close was handled already. */
  open(ws: WebSocket): Connection | undefined {
    return this.gone.has(ws) ? undefined : this.of(ws);
  }

  /** The socket closed: its connection, the first time only. */
  closed(ws: WebSocket): Connection | undefined {
    if (this.gone.has(ws)) return undefined;
    this.gone.add(ws);
    const conn = this.of(ws);
    conn.closed = true;
    return conn;
  }

  /** The open socket of a flow in this shard. */
  socket(flow: string): WebSocket | undefined {
    const ws = this.ctx.getWebSockets(`conn:${flow}`)[0];
    return ws === undefined || this.gone.has(ws) ? undefined : ws;
  }

  /** A REGISTER over this flow stored bindings of `aor` (and names its client instance). */
  registered(ws: WebSocket, aor: string, instance: string | undefined): void {
    const conn = this.of(ws);
    const a = conn.attachment;
    const known = a.aors.includes(aor);
    if (known && (instance === undefined || a.instance === instance)) return;
    if (!known) a.aors.push(aor);
    if (instance !== undefined) {
      a.instance = instance;
      conn.source.instance = instance;
    }
    ws.serializeAttachment(a);
  }
}

function sourceOf(a: ClientAttachment): Source {
  const source: Source = { transport: a.transport, ip: a.ip, flow: a.flow };
  if (a.instance !== undefined) source.instance = a.instance;
  return source;
}

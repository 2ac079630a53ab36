import type { Logger } from "../src/log.ts";
import type { SentBy } from "../src/modules/tm/index.ts";
import type { SipMessage, SipResponse } from "../src/sip/message.ts";
import { BRIDGE_SUBPROTOCOL, formatHostPort, sendDatagram, type HostPort } from "../src/transport/bridge.ts";
import type { Probe, ProbeResult } from "./dispatcher.ts";

/** What a bridge socket carries through hibernation. */
export interface BridgeAttachment {
  kind: "bridge";
  bridge: string;
  /** The bridge's UDP address for Via and Record-Route (its hello frame). */
  advertise?: HostPort;
  /** The bridge said in its hello that it runs media commands (rtpengine beside it). */
  rtpengine?: boolean;
  connectedAt: number;
}

const PROBE_PREFIX = "z9hG4bKds";

/**
 * The bridge links a shard holds (one per bridge, bridge/README.md): a gateway branch leaves
 * through one of them, so a call to a gateway never leaves the object that holds the caller. Also
 * sends the Dispatcher object's keepalives and matches their replies.
 */
export class BridgeLinks {
  /** rr's listen table: the UDP side is the advertised address of the link in use. */
  readonly listen: { udp?: HostPort } = {};
  private readonly probes = new Map<string, { uri: string; sentAt: number; done: (r: ProbeResult) => void }>();
  private current: { ws: WebSocket; advertise: HostPort } | undefined;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly log: Logger,
  ) {}

  /** Accepts a link the Worker authenticated; a second link of the same bridge replaces the first. */
  accept(bridge: string): Response {
    for (const old of this.ctx.getWebSockets(`bridge:${bridge}`)) old.close(1000, "replaced by a new link");
    const pair = new WebSocketPair();
    const attachment: BridgeAttachment = { kind: "bridge", bridge, connectedAt: Date.now() };
    this.ctx.acceptWebSocket(pair[1], ["bridge", `bridge:${bridge}`]);
    pair[1].serializeAttachment(attachment);
    this.log.info("bridge link up", { bridge });
    return new Response(null, { status: 101, webSocket: pair[0], headers: { "Sec-WebSocket-Protocol": BRIDGE_SUBPROTOCOL } });
  }

  hello(ws: WebSocket, attachment: BridgeAttachment, advertise: HostPort, rtpengine = false): void {
    attachment.advertise = advertise;
    attachment.rtpengine = rtpengine;
    ws.serializeAttachment(attachment);
    this.listen.udp = advertise;
    this.current = { ws, advertise };
  }

  /**
   * An open link with a known UDP address, if any. The one in use is remembered, so a gateway
   * call's messages do not scan the sockets (or read attachments) each time.
   */
  link(): { ws: WebSocket; advertise: HostPort } | undefined {
    if (this.current && this.current.ws.readyState === WebSocket.OPEN) return this.current;
    this.current = undefined;
    for (const ws of this.ctx.getWebSockets("bridge")) {
      const a = ws.deserializeAttachment() as BridgeAttachment | null;
      if (a?.advertise && ws.readyState === WebSocket.OPEN) {
        this.listen.udp = a.advertise;
        this.current = { ws, advertise: a.advertise };
        return this.current;
      }
    }
    return undefined;
  }

  /** A link closed: stop using it. */
  closed(ws: WebSocket): void {
    if (this.current?.ws === ws) this.current = undefined;
  }

  via(): SentBy | undefined {
    const link = this.link();
    return link && { transport: "UDP", host: link.advertise.host, port: link.advertise.port };
  }

  /** Sends a message to `dst` (`host:port` or a name) through a link; false when there is none. */
  send(dst: string, message: SipMessage | string): boolean {
    const link = this.link();
    if (!link) return false;
    sendDatagram(link.ws, dst, message);
    return true;
  }

  /**
   * A control frame (media commands) to bridge `bridge` when its link is up, else to the link in
   * use; the bridge id it went to, or undefined when no link is up.
   */
  sendControl(frame: string, bridge?: string): string | undefined {
    const ws = this.linkOf(bridge);
    if (ws === undefined) return undefined;
    ws.send(frame);
    return (ws.deserializeAttachment() as BridgeAttachment).bridge;
  }

  /** Whether that bridge (or the link in use) runs media commands. */
  hasRtpengine(bridge?: string): boolean {
    const ws = this.linkOf(bridge);
    return ws !== undefined && (ws.deserializeAttachment() as BridgeAttachment).rtpengine === true;
  }

  private linkOf(bridge: string | undefined): WebSocket | undefined {
    if (bridge !== undefined) {
      const named = this.ctx.getWebSockets(`bridge:${bridge}`).find((ws) => ws.readyState === WebSocket.OPEN);
      if (named !== undefined) return named;
    }
    return this.link()?.ws;
  }

  /**
   * OPTIONS keepalives (Kamailio dispatcher probing) to each destination; resolves with every
   * status, 408 for those that stayed silent for `timeoutMs`.
   */
  async probe(probes: Probe[], timeoutMs: number, shard: string): Promise<ProbeResult[] | "no-link"> {
    const link = this.link();
    if (!link) return "no-link";
    const via = formatHostPort(link.advertise);
    return Promise.all(
      probes.map(
        (p) =>
          new Promise<ProbeResult>((resolve) => {
            const branch = `${PROBE_PREFIX}${shard}x${crypto.randomUUID().replaceAll("-", "")}`;
            const timer = setTimeout(() => finish({ uri: p.uri, status: 408, latencyMs: timeoutMs }), timeoutMs);
            const finish = (r: ProbeResult) => {
              clearTimeout(timer);
              this.probes.delete(branch);
              resolve(r);
            };
            this.probes.set(branch, { uri: p.uri, sentAt: Date.now(), done: finish });
            const options = [
              `OPTIONS ${p.uri} SIP/2.0`,
              `Via: SIP/2.0/UDP ${via};branch=${branch};rport`,
              "Max-Forwards: 70",
              `From: <${p.from}>;tag=${branch.slice(-10)}`,
              `To: <${p.uri}>`,
              `Call-ID: ${branch}`,
              "CSeq: 1 OPTIONS",
              "Content-Length: 0",
              "",
              "",
            ].join("\r\n");
            sendDatagram(link.ws, p.dst, options);
          }),
      ),
    );
  }

  /** A reply to one of our keepalives: consumed here (true), else the caller routes it. */
  probeReply(response: SipResponse): boolean {
    const branch = response.topVia().branch ?? "";
    if (!branch.startsWith(PROBE_PREFIX)) return false;
    const probe = this.probes.get(branch);
    if (probe && response.status >= 200) probe.done({ uri: probe.uri, status: response.status, latencyMs: Date.now() - probe.sentAt });
    return true;
  }
}

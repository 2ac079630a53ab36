import type { Logger } from "../src/log.ts";
import type { SentBy } from "../src/modules/tm/index.ts";
import type { SipMessage, SipRequest, SipResponse } from "../src/sip/message.ts";
import { BRIDGE_SUBPROTOCOL_V2 } from "../src/transport/bridge-batch.ts";
import { LinkSender, chooseSubprotocol, formatHostPort, type HostPort } from "../src/transport/bridge.ts";
import { LinkProbes, UNRESPONSIVE_CLOSE } from "./bridge-probes.ts";
import type { Probe, ProbeResult } from "./bridge-probes.ts";

/** What a bridge socket carries through hibernation. */
export interface BridgeAttachment {
  kind: "bridge";
  bridge: string;
  /** The bridge's UDP address for Via and Record-Route (its hello frame). */
  advertise?: HostPort;
  /** The bridge said in its hello that it runs media commands (rtpengine beside it). */
  rtpengine?: boolean;
  /** The bridge said in its hello that it answers liveness pings (bridge-probes.ts). */
  pong?: boolean;
  /** The link speaks `sipedge-bridge.v2`: frames sent close together share a batch frame. */
  batch?: boolean;
  connectedAt: number;
}

/** Requests that may wait for a bridge link at once (each holds its flow's queue meanwhile). */
const MAX_WAITING = 1000;
/**
 * How long a request that has had no answer is kept to be sent again should its link close: tm
 * gives a branch fr_timer (30 s by default) before it answers 408 itself, so later is pointless.
 */
const RESEND_WINDOW_MS = 30_000;
/** Requests kept at most (the oldest goes first): a burst toward a silent gateway stays bounded. */
const MAX_UNANSWERED = 2000;
/** How long requests lost with a link wait for their bridge to dial in again. */
const RESEND_WAIT_MS = 10_000;

/**
 * A request sent through a link that has had no response yet, by branch and method: a CANCEL
 * shares its INVITE's branch (RFC 3261 §9.1), and each waits for a response of its own.
 */
interface Unanswered {
  link: Link;
  dst: string;
  request: SipRequest;
  at: number;
}

const unansweredKey = (branch: string, method: string): string => `${branch} ${method}`;

/** One bridge's link as a branch uses it. */
export interface Link {
  ws: WebSocket;
  out: LinkSender;
  bridge: string;
  advertise: HostPort;
  /** The bridge runs media commands (its hello said so). */
  rtpengine: boolean;
  /** The bridge answers liveness pings (its hello said so). */
  pong: boolean;
}

/**
 * The bridge links a shard holds (one per bridge, bridge/README.md): a gateway branch leaves
 * through one of them, so a call to a gateway never leaves the object that holds the caller.
 * Several bridges may serve one edge, each with an address of its own: every address a bridge
 * advertises is one of the proxy's (`is_myself`), and a branch names the bridge it leaves
 * through, so its Via, its Record-Route and its retransmissions all use the same one. Also sends
 * the Dispatcher object's keepalives and matches their replies.
 */
export class BridgeLinks {
  /** rr's listen table: the UDP side's default is the advertised address of the link in use. */
  readonly listen: { udp?: HostPort } = {};
  /** The Dispatcher object's keepalives and the liveness pings of the links they go through. */
  readonly probes: LinkProbes;
  /** Open links with a known address, by bridge id (rebuilt from the sockets after hibernation). */
  private readonly links = new Map<string, Link>();
  /** Each socket's sender (its batch queue), made on first use, also after hibernation. */
  private readonly senders = new WeakMap<WebSocket, LinkSender>();
  private scanned = false;
  /** Requests waiting for a link to come up (whenLinked). */
  private readonly waiting = new Set<() => void>();
  /** Requests sent through a link with no response yet, oldest first, by `unansweredKey`. */
  private readonly unanswered = new Map<string, Unanswered>();

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly log: Logger,
  ) {
    this.probes = new LinkProbes(log, (ws, code, reason) => {
      ws.close(code, reason);
      this.closed(ws);
    });
  }

  /** Accepts a link the Worker authenticated; a second link of the same bridge replaces the first. */
  accept(bridge: string, offer: string | null): Response {
    // A bridge dialling in again while its old link looks open restarted without the edge seeing
    // the old connection close (a host that lost power): what the old link lost goes again.
    for (const old of this.ctx.getWebSockets(`bridge:${bridge}`)) {
      old.close(1000, "replaced by a new link");
      this.lostWith(old);
    }
    this.links.delete(bridge);
    const pair = new WebSocketPair();
    // The Worker checked that the offer holds a protocol of ours.
    const protocol = chooseSubprotocol(offer) ?? BRIDGE_SUBPROTOCOL_V2;
    const attachment: BridgeAttachment = { kind: "bridge", bridge, batch: protocol === BRIDGE_SUBPROTOCOL_V2, connectedAt: Date.now() };
    this.ctx.acceptWebSocket(pair[1], ["bridge", `bridge:${bridge}`]);
    pair[1].serializeAttachment(attachment);
    this.log.debug("bridge link up", { bridge, protocol });
    return new Response(null, { status: 101, webSocket: pair[0], headers: { "Sec-WebSocket-Protocol": protocol } });
  }

  /** The sender of a link's socket (datagrams and control frames in order, batched on v2). */
  sender(ws: WebSocket, attachment: BridgeAttachment): LinkSender {
    let out = this.senders.get(ws);
    if (out === undefined) {
      out = new LinkSender(ws, attachment.batch === true);
      this.senders.set(ws, out);
    }
    return out;
  }

  hello(ws: WebSocket, attachment: BridgeAttachment, advertise: HostPort, features: { rtpengine?: boolean; pong?: boolean } = {}): void {
    const rtpengine = features.rtpengine === true;
    const pong = features.pong === true;
    attachment.advertise = advertise;
    attachment.rtpengine = rtpengine;
    attachment.pong = pong;
    ws.serializeAttachment(attachment);
    this.links.set(attachment.bridge, { ws, out: this.sender(ws, attachment), bridge: attachment.bridge, advertise, rtpengine, pong });
    this.listen.udp ??= advertise;
    for (const wake of [...this.waiting]) wake();
  }

  /**
   * Resolves true when a link is up (that bridge's, given `bridge`): at once, or at the next
   * matching hello (a bridge restarted by its supervisor dials in again within a few seconds);
   * false after `ms` without one, or at once when MAX_WAITING requests already wait.
   */
  whenLinked(ms: number, bridge?: string): Promise<boolean> {
    const up = (): boolean => (bridge === undefined ? this.link() : this.named(bridge)) !== undefined;
    if (up()) return Promise.resolve(true);
    if (this.waiting.size >= MAX_WAITING) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        resolve(ok);
      };
      const wake = (): void => {
        if (up()) done(true);
      };
      const timer = setTimeout(() => done(false), ms);
      this.waiting.add(wake);
    });
  }

  /**
   * An open link: the named bridge's when it is up, else any open one. The links are rebuilt from
   * the sockets once after the object wakes, so a gateway call's messages do not scan sockets.
   */
  link(bridge?: string): Link | undefined {
    this.rescan();
    if (bridge !== undefined) {
      const named = this.named(bridge);
      if (named !== undefined) return named;
    }
    for (const [id, link] of this.links) {
      if (link.ws.readyState === WebSocket.OPEN) return link;
      this.links.delete(id);
    }
    return undefined;
  }

  /** That bridge's link when it is open. */
  private named(bridge: string): Link | undefined {
    this.rescan();
    const link = this.links.get(bridge);
    return link !== undefined && link.ws.readyState === WebSocket.OPEN ? link : undefined;
  }

  /**
   * Closes this shard's links of a bridge found frozen (bridge-probes.ts) that opened before
   * `since`: their socket looks open but nothing answers. A link the bridge dialled since (it woke
   * up) stays. Returns how many closed.
   */
  closeFrozen(bridge: string, since: number): number {
    let closed = 0;
    for (const ws of this.ctx.getWebSockets(`bridge:${bridge}`)) {
      const a = ws.deserializeAttachment() as BridgeAttachment | null;
      if (a === null || a.connectedAt >= since || ws.readyState !== WebSocket.OPEN) continue;
      ws.close(UNRESPONSIVE_CLOSE, "bridge unresponsive");
      this.closed(ws);
      closed++;
    }
    return closed;
  }

  /** Whether `host[:port]` is an address a bridge of this shard advertises (5060 when no port is given). */
  isAdvertised(host: string, port: number | undefined): boolean {
    return this.bridgeAt(host, port) !== undefined;
  }

  /** The bridge that advertises `host[:port]`. */
  bridgeAt(host: string, port: number | undefined): string | undefined {
    this.rescan();
    for (const link of this.links.values()) {
      const a = link.advertise;
      if (a.host.toLowerCase() === host.toLowerCase() && (a.port ?? 5060) === (port ?? 5060)) return link.bridge;
    }
    return undefined;
  }

  /** A link closed: stop using it, and send what it lost again once its bridge is back. */
  closed(ws: WebSocket): void {
    for (const [id, link] of this.links) if (link.ws === ws) this.links.delete(id);
    if (this.listen.udp !== undefined && ![...this.links.values()].some((l) => l.advertise === this.listen.udp)) {
      this.listen.udp = this.links.values().next().value?.advertise;
    }
    this.lostWith(ws);
  }

  /**
   * The requests still unanswered on a link that is gone, sent again once their bridge is back.
   * Keepalives are not sent again: they end at once as lost, which says nothing about their
   * destinations (a bridge that died with a probe in flight must not mark every gateway down).
   */
  private lostWith(ws: WebSocket): void {
    this.probes.lostWith(ws);
    const lost: Unanswered[] = [];
    for (const [key, sent] of this.unanswered) {
      if (sent.link.ws !== ws) continue;
      this.unanswered.delete(key);
      lost.push(sent);
    }
    if (lost.length > 0) void this.resend(lost);
  }

  /**
   * A response came for a branch: nothing of it needs sending again. Called for every response
   * the shard receives (a map lookup for one that is not ours).
   */
  answered(response: SipResponse): void {
    if (this.unanswered.size === 0) return;
    const branch = response.vias()[0]?.branch;
    if (branch !== undefined) this.unanswered.delete(unansweredKey(branch, response.cseq.method));
  }

  /**
   * Requests that had no response when their link closed: the bridge may have died with them
   * unread, or with the gateway's answer in its socket. As a UDP hop would retransmit them, they
   * go again, same branch and bytes, once the same bridge dials in again (its Via names that
   * bridge's address, so another bridge cannot carry them); a gateway that had them already
   * answers the retransmission from its transaction. Those older than tm's default fr_timer, or
   * whose bridge is not back within RESEND_WAIT_MS or comes back at another address, are left
   * to tm's timers, as before.
   */
  private async resend(lost: Unanswered[]): Promise<void> {
    const bridge = (lost[0] as Unanswered).link.bridge;
    const old = (lost[0] as Unanswered).link.advertise;
    if (!(await this.whenLinked(RESEND_WAIT_MS, bridge))) return;
    const link = this.named(bridge);
    if (link === undefined || formatHostPort(link.advertise) !== formatHostPort(old)) {
      this.log.info("requests lost with a bridge link not sent again: the bridge came back elsewhere", { bridge, requests: lost.length });
      return;
    }
    const now = Date.now();
    let sent = 0;
    for (const u of lost) {
      if (now - u.at > RESEND_WINDOW_MS) continue;
      link.out.datagram(u.dst, u.request);
      this.remember(link, u.dst, u.request);
      sent++;
    }
    this.log.info("requests lost with a bridge link sent again", { bridge, requests: sent });
  }

  /** Keeps a request sent through `link` until a response names its branch and method (bounded, oldest out). */
  private remember(link: Link, dst: string, request: SipRequest): void {
    const branch = request.vias()[0]?.branch;
    if (branch === undefined) return;
    const key = unansweredKey(branch, request.method);
    const now = Date.now();
    this.unanswered.delete(key);
    for (const [b, u] of this.unanswered) {
      if (now - u.at <= RESEND_WINDOW_MS && this.unanswered.size < MAX_UNANSWERED) break;
      this.unanswered.delete(b);
    }
    this.unanswered.set(key, { link, dst, request, at: now });
  }

  /** The Via sent-by and bridge id of a branch through a link (the named bridge when it is up). */
  via(bridge?: string): (SentBy & { bridge: string }) | undefined {
    const link = this.link(bridge);
    return link && { transport: "UDP", host: link.advertise.host, port: link.advertise.port, bridge: link.bridge };
  }

  /** Sends a message to `dst` (`host:port` or a name) through a link; false when there is none. */
  send(dst: string, message: SipMessage | string, bridge?: string): boolean {
    const link = this.link(bridge);
    if (!link) return false;
    link.out.datagram(dst, message);
    // An ACK has no response to wait for; strings are this object's own (keepalives, uac).
    if (typeof message !== "string" && message.kind === "request" && message.method !== "ACK") this.remember(link, dst, message);
    return true;
  }

  private rescan(): void {
    if (this.scanned) return;
    this.scanned = true;
    for (const ws of this.ctx.getWebSockets("bridge")) {
      const a = ws.deserializeAttachment() as BridgeAttachment | null;
      if (a?.advertise && ws.readyState === WebSocket.OPEN && !this.links.has(a.bridge)) {
        this.links.set(a.bridge, {
          ws,
          out: this.sender(ws, a),
          bridge: a.bridge,
          advertise: a.advertise,
          rtpengine: a.rtpengine === true,
          pong: a.pong === true,
        });
        this.listen.udp ??= a.advertise;
      }
    }
  }

  /**
   * A control frame (media commands) to bridge `bridge` when its link is up, else to the link in
   * use; the bridge id it went to, or undefined when no link is up.
   */
  sendControl(frame: string, bridge?: string): string | undefined {
    const link = this.link(bridge);
    if (link === undefined) return undefined;
    // Through the link's sender, so a media command keeps its place among the datagrams.
    link.out.control(frame);
    return link.bridge;
  }

  /**
   * Whether that bridge (or the link in use) runs media commands: asked by every call and every
   * in-dialog request, so it reads the link table, not the socket's attachment (a runtime call
   * and a structured-clone read each).
   */
  hasRtpengine(bridge?: string): boolean {
    return this.link(bridge)?.rtpengine === true;
  }

  /**
   * OPTIONS keepalives (Kamailio dispatcher probing) to each destination through the link in use
   * (bridge-probes.ts says what a silent one counts as).
   */
  async probe(probes: Probe[], timeoutMs: number, shard: string): Promise<ProbeResult[] | "no-link"> {
    const link = this.link();
    return link === undefined ? "no-link" : this.probes.round(link, probes, timeoutMs, shard);
  }
}

/**
 * The bridge: one UDP socket toward the gateways, one WebSocket link per edge shard, and between
 * them only what UDP needs (client/server transactions for retransmission and absorption, RFC
 * 3263 resolution). It adds no headers and makes no routing decision: the edge writes the Via and
 * Record-Route (with the advertised address) and names every destination.
 */
import dgram from "node:dgram";
import { isUtf8 } from "node:buffer";
import type { Logger } from "../src/log.ts";
import type { Parsed } from "../src/sip/result.ts";
import { fnv1a } from "../src/util/hash.ts";
import { ClientTransactions, type ClientTransaction } from "./client.ts";
import type { BridgeConfig } from "./config.ts";
import { datagramFrame, formatAddress, parseEdgeFrames, parseTarget, type Address, type EdgeFrame } from "./frame.ts";
import { DEFAULT_BACKOFF, EdgeLink, backoffDelay, type Backoff } from "./link.ts";
import { Resolver } from "./resolver.ts";
import { scanMessage, type BridgeRequest, type ScanResult } from "./scan.ts";
import { ServerTransactions } from "./server.ts";
import { fetchShardCount } from "./shards.ts";
import { RtpengineControl } from "./rtpengine/control.ts";
import { NgSocket } from "./rtpengine/ng.ts";
import { RtpenginePool } from "./rtpengine/pool.ts";

export interface BridgeOptions {
  config: BridgeConfig;
  log: Logger;
  backoff?: Backoff;
  random?: () => number;
}

/** Frames queued on one link beyond this are dropped, as a full UDP buffer would drop them. */
const MAX_LINK_BUFFER = 16 * 1024 * 1024;

export class Bridge {
  /** Counters read by /metrics (http.ts). */
  readonly stats = { fromGateway: 0, toGateway: 0, toEdge: 0, fromEdge: 0, messagesFromEdge: 0, absorbed: 0, dropped: 0, unparseable: 0, timeouts: 0, unreachable: 0 };
  private readonly config: BridgeConfig;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly random: () => number;
  private readonly socket: dgram.Socket;
  private readonly resolver: Resolver;
  readonly client: ClientTransactions;
  readonly server: ServerTransactions;
  /** Media anchoring: the edge's `rtpengine` control frames, run on the configured rtpengines. */
  readonly rtpengine: RtpengineControl;
  private readonly ng: { socket: NgSocket; pool: RtpenginePool } | undefined;
  private links: EdgeLink[] = [];
  private advertised = "";
  private stopped = false;
  private discovering = false;
  private readonly sleepers = new Set<() => void>();

  constructor(options: BridgeOptions) {
    this.config = options.config;
    this.log = options.log;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
    const family = options.config.listen.address.includes(":") ? 6 : 4;
    this.socket = dgram.createSocket({
      type: family === 6 ? "udp6" : "udp4",
      recvBufferSize: options.config.socketBufferBytes,
      sendBufferSize: options.config.socketBufferBytes,
    });
    this.resolver = new Resolver({ servers: options.config.dns, family, random: this.random });
    this.client = new ClientTransactions(
      { send: (to, data, tx) => this.sendUdp(to, data, tx), timedOut: (tx) => this.timedOut(tx) },
      options.config.maxTransactions,
    );
    this.server = new ServerTransactions({ send: (to, data) => this.sendUdp(to, data) }, options.config.maxTransactions);
    const media = options.config.rtpengine;
    if (media !== undefined) {
      const socket = new NgSocket({ log: this.log, timeoutMs: media.timeoutMs, tries: media.tries });
      this.ng = { socket, pool: new RtpenginePool({ sets: media.sets, socket, log: this.log, disableMs: media.disableMs }) };
    }
    this.rtpengine = new RtpengineControl(this.ng?.pool, this.log);
  }

  /** The bound UDP address. */
  get address(): Address {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  /** `host:port` the edge must put in Via/Record-Route for the UDP side. */
  get advertise(): string {
    return this.advertised;
  }

  get shardLinks(): readonly EdgeLink[] {
    return this.links;
  }

  /** Binds the UDP socket and starts dialling the edge (links come up in the background). */
  async start(): Promise<void> {
    const { listen } = this.config;
    await new Promise<void>((resolve, reject) => {
      this.socket.once("error", reject);
      this.socket.bind(listen.port, listen.address, () => {
        this.socket.off("error", reject);
        resolve();
      });
    });
    this.socket.on("error", (error) => this.log.error("udp socket error", { error: error.message }));
    this.socket.on("message", (data, rinfo) => this.onDatagram(data, rinfo));
    this.advertised = this.config.advertise ?? formatAddress(this.address);
    if (listen.address === "0.0.0.0" || listen.address === "::") {
      this.log.warn("listening on a wildcard address: set --advertise to the address gateways reach", {});
    }
    this.log.info("udp listening", {
      address: formatAddress(this.address),
      advertise: this.advertised,
      recvBuffer: this.socket.getRecvBufferSize(),
      sendBuffer: this.socket.getSendBufferSize(),
    });
    void this.ng?.pool.probe();
    void this.discover();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ng?.pool.stop();
    this.ng?.socket.close();
    for (const wake of this.sleepers) wake();
    await Promise.all(this.links.map((link) => link.stop()));
    this.client.clear();
    this.server.clear();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  // ---- edge → gateways -------------------------------------------------------------------

  /** One WebSocket message from the edge: a frame, or on a v2 link a batch of them, in order. */
  private onMessage(link: EdgeLink, data: Buffer, binary: boolean): void {
    this.stats.messagesFromEdge++;
    for (const frame of parseEdgeFrames(data, binary)) this.onFrame(link, frame);
  }

  private onFrame(link: EdgeLink, frame: EdgeFrame): void {
    if (frame.kind === "control") return this.onControl(link, frame.control);
    if (frame.kind === "invalid") {
      this.log.warn("invalid frame from edge", { shard: link.shard, reason: frame.reason });
      return;
    }
    this.stats.fromEdge++;
    const target = parseTarget(frame.target);
    const parsed = scanMessage(frame.payload, frame.binary);
    if (!target.ok) {
      return this.control(link.shard, { type: "unreachable", to: frame.target, reason: "address", detail: target.reason, ...ids(parsed) });
    }
    const now = this.resolver.resolveNow(target.value);
    if (now !== undefined) return this.toGateway(link.shard, frame.target, parsed, frame.payload, now);
    void this.resolver.resolve(target.value).then((resolved) => {
      if (!this.stopped) this.toGateway(link.shard, frame.target, parsed, frame.payload, resolved);
    });
  }

  private toGateway(shard: number, target: string, parsed: ScanResult, payload: Buffer, to: Parsed<Address>): void {
    if (!to.ok) {
      this.log.warn("destination did not resolve", { to: target, reason: to.reason });
      return this.control(shard, { type: "unreachable", to: target, reason: "dns", detail: to.reason, ...ids(parsed) });
    }
    if (!parsed.ok) {
      // The edge owns message content: an unparseable one is its bug, sent as is without state.
      this.log.warn("unparseable message from edge, sent statelessly", { shard, reason: parsed.reason });
      return this.sendUdp(to.value, payload);
    }
    const message = parsed.message;
    if (message.kind === "request") this.client.request(message, payload, to.value, shard);
    else this.server.response(message, payload, to.value);
  }

  private sendUdp(to: Address, data: Uint8Array, tx?: ClientTransaction): void {
    this.stats.toGateway++;
    this.socket.send(data, to.port, to.address, (error) => {
      if (error === null || error === undefined) return;
      const code = (error as { code?: string }).code ?? error.message;
      this.log.warn("udp send failed", { to: formatAddress(to), error: code });
      if (tx !== undefined) {
        this.control(tx.link, {
          type: "unreachable", to: formatAddress(to), reason: "send", detail: code,
          branch: tx.branch, method: tx.method, callId: tx.callId,
        });
      }
    });
  }

  private timedOut(tx: ClientTransaction): void {
    this.stats.timeouts++;
    this.log.info("no final response (Timer B/F)", { to: formatAddress(tx.to), method: tx.method, callId: tx.callId });
    this.control(tx.link, { type: "timeout", to: formatAddress(tx.to), branch: tx.branch, method: tx.method, callId: tx.callId });
  }

  private onControl(link: EdgeLink, control: Record<string, unknown>): void {
    // The edge's liveness check (durable-objects/bridge-probes.ts): answered from the event loop at once.
    if (control.type === "ping") {
      link.send(JSON.stringify({ type: "pong", id: control.id }));
      return;
    }
    if (control.type === "rtpengine") {
      void this.rtpengine.handle(control, (answer) => link.send(JSON.stringify(answer)));
      return;
    }
    if (control.type === "error") this.log.error("edge reported an error", { shard: link.shard, ...control });
    else this.log.debug("control frame from edge", { shard: link.shard, ...control });
  }

  // ---- gateways → edge -------------------------------------------------------------------

  private onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    this.stats.fromGateway++;
    const utf8 = isUtf8(data);
    const parsed = scanMessage(data, !utf8);
    if (!parsed.ok) {
      // Keep-alives, scanners' junk, torn datagrams: nothing the edge could act on.
      this.stats.unparseable++;
      this.log.debug("unparseable datagram dropped", { from: rinfo.address, port: rinfo.port, reason: parsed.reason });
      return;
    }
    const message = parsed.message;
    let shard: number;
    if (message.kind === "request") {
      if (this.server.request(message) === "absorb") {
        this.stats.absorbed++;
        return;
      }
      shard = this.requestShard(message);
    } else {
      const verdict = this.client.response(message);
      if (!verdict.forward) {
        this.stats.absorbed++;
        return;
      }
      shard = verdict.link ?? this.hashShard(message.callId);
    }
    const from = rinfo.family === "IPv6" ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`;
    const frame = datagramFrame(from, data, utf8);
    if (this.toEdge(shard, frame.head, frame.body, frame.binary)) return;
    // Not delivered: forget the request so that the gateway's retransmission gets another try.
    this.stats.dropped++;
    if (message.kind === "request") this.server.forget(message);
  }

  /**
   * The shard for a request from a gateway: the `shard` parameter the edge wrote into its
   * Record-Route (seen here as the top Route) or Contact (the Request-URI), else a hash of the
   * Call-ID, so that every request of one dialog lands on the same shard.
   */
  private requestShard(req: BridgeRequest): number {
    const n = this.links.length;
    const fromRoute = shardParam(req.headers.get("route"), n);
    if (fromRoute !== undefined) return fromRoute;
    return shardParam(req.uri, n) ?? this.hashShard(req.callId);
  }

  private hashShard(callId: string): number {
    return this.links.length === 0 ? 0 : fnv1a(callId) % this.links.length;
  }

  /** Sends on shard `k`'s link, or on another open one when that link is down. */
  private toEdge(k: number, head: string, body: Buffer, binary: boolean): boolean {
    const n = this.links.length;
    for (let i = 0; i < n; i++) {
      const link = this.links[(k + i) % n];
      if (link === undefined || !link.open) continue;
      if (link.buffered > MAX_LINK_BUFFER) return false;
      this.stats.toEdge++;
      return link.sendFrame(head, body, binary);
    }
    return false;
  }

  private control(k: number, body: Record<string, unknown>): void {
    if (body.type === "unreachable") this.stats.unreachable++;
    this.toEdge(k, "", Buffer.from(JSON.stringify(body), "utf8"), false);
  }

  // ---- shards ----------------------------------------------------------------------------

  /** Asks the edge for its shard count (retrying with backoff) and dials one link per shard. */
  private async discover(): Promise<void> {
    if (this.discovering) return;
    this.discovering = true;
    try {
      for (let attempt = 0; !this.stopped; attempt++) {
        const count = await fetchShardCount(this.config.edgeHttp, this.config.secret);
        if (count.ok) return this.setShards(count.value);
        const delay = backoffDelay(this.backoff, attempt, this.random);
        this.log.warn("shard count unavailable", { edge: this.config.edgeHttp, reason: count.reason, retryInMs: delay });
        await this.sleep(delay);
      }
    } finally {
      this.discovering = false;
    }
  }

  private setShards(count: number): void {
    if (this.stopped || count === this.links.length) return;
    this.log.info("edge shards", { shards: count, was: this.links.length });
    for (const extra of this.links.slice(count)) void extra.stop();
    const links = this.links.slice(0, count);
    for (let k = links.length; k < count; k++) {
      const link = new EdgeLink({
        url: `${this.config.edge}/bridge?shard=${k}&bridge=${encodeURIComponent(this.config.id)}`,
        secret: this.config.secret,
        shard: k,
        log: this.log,
        backoff: this.backoff,
        random: this.random,
        pingIntervalMs: this.config.pingIntervalMs,
        onOpen: (l) => this.hello(l),
        onFrame: (l, data, binary) => this.onMessage(l, data, binary),
        onDown: (_l, info) => {
          // 404 on the handshake or close code 4404: the shard no longer exists (resharded edge).
          if (info.status === 404 || info.code === 4404) void this.discover();
        },
      });
      links.push(link);
      link.start();
    }
    this.links = links;
  }

  private hello(link: EdgeLink): void {
    link.send(
      JSON.stringify({
        type: "hello", version: 1, bridge: this.config.id, shard: link.shard, shards: this.links.length,
        advertise: this.advertised, transport: "udp", rtpengine: this.ng !== undefined, pong: true,
      }),
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}

/** Call-ID, method and branch of a message, for control frames about it. */
function ids(parsed: ScanResult): Record<string, unknown> {
  if (!parsed.ok) return {};
  const m = parsed.message;
  const method = m.kind === "request" ? m.method : m.cseq.method;
  return { callId: m.callId, method, branch: m.vias()[0]?.branch };
}

/** The value of a `;shard=N` parameter in a URI or name-addr text, when below `n`. */
export function shardParam(text: string | undefined, n: number): number | undefined {
  if (text === undefined) return undefined;
  const at = text.indexOf(";shard=");
  if (at < 0) return undefined;
  let k = 0;
  let i = at + 7;
  const start = i;
  for (; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) break;
    k = k * 10 + d;
  }
  return i > start && k < n ? k : undefined;
}

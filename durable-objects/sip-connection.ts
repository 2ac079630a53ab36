import { DurableObject } from "cloudflare:workers";
import { configFor, type Config } from "../src/config.ts";
import type { Env } from "../src/env.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { createAuth, type Auth } from "../src/modules/auth/index.ts";
import { createRegistrar } from "../src/modules/registrar/index.ts";
import { LocationClient, type LocationStub } from "../src/modules/registrar/location-client.ts";
import { createRr } from "../src/modules/rr/index.ts";
import { Tm, ownerOfBranch, type Target } from "../src/modules/tm/index.ts";
import { subscriberCacheFor, type SubscriberCache } from "../src/provisioning/subscriber-lookup.ts";
import { defaultScript } from "../src/routes/default.ts";
import { isMyself, type Services, type Source } from "../src/routing/context.ts";
import { processMessage } from "../src/routing/pipeline.ts";
import type { SipRequest, SipResponse } from "../src/sip/message.ts";
import { parseMessage } from "../src/sip/parser.ts";
import { createResponse } from "../src/sip/response.ts";
import { serialize } from "../src/sip/serializer.ts";
import { systemTimers } from "../src/sip/timers.ts";
import { KEEPALIVE_PING, KEEPALIVE_PONG, SIP_SUBPROTOCOL, WebSocketTransport, isKeepAlive } from "../src/transport/websocket.ts";
import { DispatcherClient } from "../src/modules/dispatcher/client.ts";
import { BridgeTransport, parseBridgeFrame } from "../src/transport/bridge.ts";
import { BridgeLinks, type BridgeAttachment } from "./bridge-links.ts";
import type { Probe, ProbeResult } from "./dispatcher.ts";
import { callCountService, locationOf } from "./location.ts";
import { TransactionStore } from "./transaction-store.ts";
import { GuardClient, type GuardEvent } from "./guard.ts";
import { PermissionsLoader } from "../src/modules/permissions/script.ts";
import { pikeKey } from "../src/modules/pike/index.ts";

/** What a client socket carries through hibernation (serializeAttachment). */
interface Attachment {
  kind?: "client";
  /** The flow token: `<shard>.<connection id>` (RFC 5626 flow). */
  flow: string;
  ip: string;
  transport: "ws" | "wss";
  connectedAt: number;
  /** AORs that registered a binding over this flow, for `handle_lost_tcp` on close. */
  aors: string[];
}

/** Per-socket state rebuilt lazily after the object wakes from hibernation. */
interface Connection {
  /** Set for a bridge link; client sockets have none. */
  bridge?: BridgeAttachment;
  attachment: Attachment;
  source: Source;
  transport: WebSocketTransport;
}

/** Headers the Worker uses to hand facts to the object (it strips any inbound copy). */
export const CLIENT_IP_HEADER = "X-Sipedge-Client-IP";
export const SHARD_HEADER = "X-Sipedge-Shard";
export const BRIDGE_HEADER = "X-Sipedge-Bridge";
/** Set by the Worker when the client's address has live auth failures (its Guard said so). */
export const AUTH_WATCH_HEADER = "X-Sipedge-Auth-Watch";

/**
 * SipConnection: one shard of WebSocket clients (RFC 7118). It holds the hibernatable sockets,
 * lets the runtime answer CRLF keep-alives without waking it, and runs the route script for every
 * message in the object that owns the socket, so the per-message path has no object hop.
 */
export class SipConnection extends DurableObject<Env> {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly connections = new WeakMap<WebSocket, Connection>();
  private readonly services: Services & { location: LocationClient; tm: Tm };
  private readonly bridges: BridgeLinks;
  private readonly transactions: TransactionStore;
  /** This shard's number: the first part of its flow tokens, and the owner id in its branches. */
  private readonly shard: string;
  /** Pike fast paths and cached bans in front of the Guard objects (issue 5). */
  private readonly guard: GuardClient;
  private readonly permissions: PermissionsLoader;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = configFor(env);
    this.log = createLogger(this.config.logLevel);
    this.shard = ctx.id.name?.replace(/^shard-/, "") ?? "0";
    // RFC 5626 §4.4.1 double-CRLF ping → CRLF pong, answered by the runtime while we hibernate.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(KEEPALIVE_PING, KEEPALIVE_PONG));
    const subscribers = subscriberCacheFor(env.DB, { domainOf: (realm) => (this.config.aliases.includes(realm) ? this.config.domain : realm) });
    const host = { host: this.config.domain };
    this.bridges = new BridgeLinks(ctx, this.log);
    const dispatcher = env.DISPATCHER.get(env.DISPATCHER.idFromName("default"));
    this.guard = new GuardClient({ guards: env.GUARD, directory: env.GUARD_DIRECTORY }, ctx, this.config.security, this.log);
    this.permissions = new PermissionsLoader(env.DB);
    const subscriberExists = async (user: string, domain: string) => (await subscribers.lookup({ username: user, user, realm: domain })) !== undefined;
    this.services = {
      guard: this.guard,
      calls: callCountService(env.LOCATION, subscriberExists),
      permissions: this.permissions.load,
      auth: createEdgeAuth(env, this.config, subscribers),
      location: createLocationClient(env, this.config),
      subscriberExists,
      tm: new Tm({
        ownerId: this.shard,
        sentBy: { transport: "WS", host: this.config.domain },
        sendRequest: (request, target) => this.sendRequest(request, target),
        timers: systemTimers,
        frTimer: this.config.tm.frTimer,
        frInvTimer: this.config.tm.frInvTimer,
        log: this.log,
        serverHeader: this.config.serverHeader,
      }),
      rr: createRr({ listen: Object.assign(this.bridges.listen, { ws: host, wss: host }), isMyself: (target) => isMyself(this.config, target) }),
      routeResponse: (response) => this.routeResponse(response),
      dispatcher: new DispatcherClient({
        snapshot: () => dispatcher.snapshot(),
        markDst: (set, uri, state) => dispatcher.markDst(set, uri, state),
        selectByLoad: (set, input, useDefault) => dispatcher.selectByLoad(set, input, useDefault),
        loadEvent: (callId, event, duid) => dispatcher.loadEvent(callId, event, duid),
      }),
      bridgeVia: () => this.bridges.via(),
      shard: this.shard,
    };
    this.transactions = new TransactionStore(ctx, this.services.tm, (flow) => this.upstreamOf(flow), this.log);
    // Transactions stored before an eviction come back before any message is handled.
    void ctx.blockConcurrencyWhile(() => this.transactions.restore().then(() => undefined));
  }

  /** Accepts an upgrade the Worker has already checked (subprotocol, Origin, bridge secret). */
  override async fetch(request: Request): Promise<Response> {
    const bridge = request.headers.get(BRIDGE_HEADER);
    if (bridge !== null) return this.bridges.accept(bridge);
    const shard = request.headers.get(SHARD_HEADER) ?? "0";
    const ip = request.headers.get(CLIENT_IP_HEADER) ?? "0.0.0.0";
    // Issue 5: a banned address (403) or one at its connection cap (429) is refused before any
    // socket exists for it; the terse answers a scanner gets everywhere else. The proxy's own
    // addresses are never refused (the seed's `src_ip != myself`).
    if (!isMyself(this.config, ip)) {
      const status = await this.guard.admit(ip, shard, this.config.connectionShards);
      if (status === 403) return new Response("Forbidden", { status: 403 });
      if (status === 429) return new Response("Too many connections", { status: 429 });
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const attachment: Attachment = {
      flow: `${shard}.${crypto.randomUUID()}`,
      ip,
      transport: new URL(request.url).protocol === "https:" ? "wss" : "ws",
      connectedAt: Date.now(),
      aors: [],
    };
    // The `ip:` tag lets a Guard's ban close every socket of the address, and count them.
    this.ctx.acceptWebSocket(server, [`conn:${attachment.flow}`, `ip:${pikeKey(attachment.ip)}`]);
    this.guard.accepted(attachment.ip, request.headers.get(AUTH_WATCH_HEADER) === "1");
    server.serializeAttachment(attachment);
    this.log.debug("websocket accepted", { flow: attachment.flow, ip: attachment.ip });
    return new Response(null, { status: 101, webSocket: client, headers: { "Sec-WebSocket-Protocol": SIP_SUBPROTOCOL } });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const keepAlive = isKeepAlive(data);
    if (keepAlive === "ping") {
      ws.send(KEEPALIVE_PONG);
      return;
    }
    if (keepAlive === "pong") return; // RFC 5626: a lone CRLF is a pong; nothing to do.
    const conn = this.connection(ws);
    if (conn.bridge) {
      await this.bridgeFrame(ws, conn.bridge, data);
      return;
    }
    await processMessage(defaultScript, {
      data: typeof data === "string" ? data : new Uint8Array(data),
      source: conn.source,
      transport: conn.transport,
      config: this.config,
      log: this.log,
      services: { ...this.services, flowRegistered: (aor) => this.rememberAor(ws, conn, aor) },
    });
    if (this.services.tm.size > 0) this.transactions.watch();
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    // Always complete the close handshake. 1005/1006 are reserved: they cannot be sent back.
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed by the runtime.
    }
    await this.flowGone(ws);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    this.log.warn("websocket error", { error: error instanceof Error ? error.message : String(error) });
    await this.flowGone(ws);
  }

  /** Number of client sockets this shard holds (admin, tests). */
  async connectionCount(): Promise<number> {
    return this.ctx.getWebSockets().length;
  }

  /** RPC from a Guard (a count), the Worker (an admission) or the admin API (a permissions reload). */
  async security(event: GuardEvent): Promise<number | undefined> {
    if (event.kind === "reload-permissions") return (await this.permissions.reload()).ok ? 1 : 0;
    return this.guard.onEvent(event);
  }

  /** The object's alarm: a stored transaction's timer is due (it may have been evicted since). */
  override async alarm(): Promise<void> {
    await this.transactions.restore();
    await this.transactions.sweep();
  }

  /** The client socket of a flow, as a transaction's upstream (restored transactions). */
  private upstreamOf(flow: string): WebSocketTransport | undefined {
    const ws = this.ctx.getWebSockets(`conn:${flow}`)[0];
    return ws === undefined ? undefined : new WebSocketTransport(ws);
  }

  /** RPC from the Dispatcher object: keepalives through this shard's bridge link. */
  async probe(probes: Probe[], timeoutMs: number): Promise<ProbeResult[] | "no-link"> {
    return this.bridges.probe(probes, timeoutMs, this.shard);
  }

  /** One frame from a bridge: a datagram from a gateway (through the route script), or control. */
  private async bridgeFrame(ws: WebSocket, attachment: BridgeAttachment, data: string | ArrayBuffer): Promise<void> {
    const frame = parseBridgeFrame(data);
    switch (frame.kind) {
      case "hello":
        this.bridges.hello(ws, attachment, frame.advertise);
        this.log.info("bridge hello", { bridge: frame.bridge, advertise: frame.advertise });
        return;
      case "control":
        this.log.info("bridge control frame", { bridge: attachment.bridge, type: frame.type, ...frame.body });
        return;
      case "invalid":
        this.log.warn("bridge frame refused", { bridge: attachment.bridge, reason: frame.reason });
        return;
      case "datagram":
        await processMessage(defaultScript, {
          data: frame.message,
          source: { transport: "udp", ip: frame.ip, port: frame.port, bridge: attachment.bridge },
          transport: new BridgeTransport(ws, frame.address),
          config: this.config,
          log: this.log,
          services: this.services,
        });
    }
  }

  /** RPC from a Location object: its binding set changed, so a cached copy is stale. */
  async forgetLocation(aor: string): Promise<void> {
    this.services.location.forget(aor);
  }

  /** RPC from another shard: send a request on one of this shard's flows. False: the socket is gone. */
  async deliver(flow: string, text: string): Promise<boolean> {
    const ws = this.ctx.getWebSockets(`conn:${flow}`)[0];
    if (!ws) return false;
    ws.send(text);
    return true;
  }

  /** RPC from another shard: a response to one of this shard's transactions. */
  async deliverResponse(text: string): Promise<void> {
    const parsed = parseMessage(text);
    if (parsed.ok && parsed.message.kind === "response") this.services.tm.receiveResponse(parsed.message);
  }

  /**
   * tm's way out: a branch goes to the socket of its flow, in this shard or (one RPC) in another.
   * A flow whose socket is gone answers the branch with 430 Flow Failed (RFC 5626 §5.3).
   */
  private sendRequest(request: SipRequest, target: Target): boolean {
    const flow = target.flow;
    if (flow === undefined) return target.dst !== undefined && this.bridges.send(target.dst, request);
    const text = serialize(request);
    const shard = flow.slice(0, flow.indexOf("."));
    if (shard === this.shard) {
      const ws = this.ctx.getWebSockets(`conn:${flow}`)[0];
      if (ws) {
        ws.send(text);
        return true;
      }
      this.flowFailed(request);
      return true;
    }
    this.shardStub(shard)
      .deliver(flow, text)
      .then((sent) => {
        if (!sent) this.flowFailed(request);
      })
      .catch(() => this.flowFailed(request));
    return true;
  }

  private flowFailed(request: SipRequest): void {
    if (request.method === "ACK" || request.method === "CANCEL") return;
    queueMicrotask(() => this.services.tm.receiveResponse(createResponse(request, 430, "Flow Failed")));
  }

  /** A response goes to the shard whose transaction it answers: the top Via's branch names it. */
  private async routeResponse(response: SipResponse): Promise<void> {
    if (this.bridges.probeReply(response)) return;
    const owner = ownerOfBranch(response.topVia().branch ?? "");
    if (owner === undefined) return;
    if (owner === this.shard) {
      this.services.tm.receiveResponse(response);
      return;
    }
    await this.shardStub(owner).deliverResponse(serialize(response));
  }

  private shardStub(shard: string): DurableObjectStub<SipConnection> {
    return this.env.SIP_CONNECTION.get(this.env.SIP_CONNECTION.idFromName(`shard-${shard}`)) as DurableObjectStub<SipConnection>;
  }

  /** Kamailio `handle_lost_tcp`: the bindings of a flow whose socket closed are removed. */
  private async flowGone(ws: WebSocket): Promise<void> {
    const conn = this.connection(ws);
    this.connections.delete(ws);
    if (conn.bridge) {
      this.bridges.closed(ws);
      this.log.info("bridge link down", { bridge: conn.bridge.bridge });
      return;
    }
    const { ip, flow: closed } = conn.attachment;
    this.guard.closed(ip, closed, this.shard, !isMyself(this.config, ip)).catch(() => undefined);
    if (!this.config.handleLostFlows) return;
    const { flow, aors } = conn.attachment;
    await Promise.all(
      aors.map((aor) =>
        this.services.location.removeFlow(aor, flow).catch((err: unknown) => {
          this.log.warn("removing a closed flow's bindings failed", { aor, flow, error: String(err) });
        }),
      ),
    );
  }

  private rememberAor(ws: WebSocket, conn: Connection, aor: string): void {
    if (conn.attachment.aors.includes(aor)) return;
    conn.attachment.aors.push(aor);
    ws.serializeAttachment(conn.attachment);
  }

  private connection(ws: WebSocket): Connection {
    let conn = this.connections.get(ws);
    if (!conn) {
      const stored = ws.deserializeAttachment() as Attachment | BridgeAttachment;
      if (stored.kind === "bridge") {
        conn = { bridge: stored, attachment: { flow: "", ip: "", transport: "ws", connectedAt: stored.connectedAt, aors: [] }, source: { transport: "udp", ip: "" }, transport: new WebSocketTransport(ws) };
        this.connections.set(ws, conn);
        return conn;
      }
      const attachment = stored;
      conn = {
        attachment,
        source: { transport: attachment.transport, ip: attachment.ip, flow: attachment.flow },
        transport: new WebSocketTransport(ws),
      };
      this.connections.set(ws, conn);
    }
    return conn;
  }
}

/**
 * Digest auth over D1 subscribers. Nonces are signed with NONCE_SECRET (a `wrangler secret`;
 * NONCE_SECRET_PREVIOUS keeps the old one valid during a rotation). Without one, each isolate
 * signs with a random secret: nonces still work on the flow they were issued to (they are bound
 * to it), and a restarted edge simply re-challenges with stale=true.
 */
function createEdgeAuth(env: Env, config: Config, subscribers: SubscriberCache): Auth {
  const current = env.NONCE_SECRET || crypto.randomUUID();
  return createAuth({
    secrets: { current, previous: env.NONCE_SECRET_PREVIOUS || undefined },
    nonceExpire: config.nonceExpire,
    lookup: subscribers.lookup,
  });
}

function createLocationClient(env: Env, config: Config): LocationClient {
  // RPC's structured clone widens tuples to arrays in the stub's types; the values are the same.
  return new LocationClient((aor) => locationOf(env.LOCATION, aor) as unknown as LocationStub, createRegistrar(config.registrar));
}

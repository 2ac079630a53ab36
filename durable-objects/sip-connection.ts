import { DurableObject } from "cloudflare:workers";
import { configFor, type Config } from "../src/config.ts";
import type { Env } from "../src/env.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { ownerOfBranch, verifiedOwner, type Target } from "../src/modules/tm/index.ts";
import { isMyself } from "../src/routing/context.ts";
import type { Script } from "../src/routing/pipeline.ts";
import { selectScript, type ScriptRegistry } from "../src/routing/scripts.ts";
import type { ReturnPath } from "../src/modules/forward/index.ts";
import type { SipRequest, SipResponse } from "../src/sip/message.ts";
import { parseMessage } from "../src/sip/parser.ts";
import { createResponse } from "../src/sip/response.ts";
import { wireOf } from "../src/sip/serializer.ts";
import { TimerWheel } from "../src/sip/timer-wheel.ts";
import { KEEPALIVE_PING, KEEPALIVE_PONG, SIP_SUBPROTOCOL, WebSocketTransport, isKeepAlive } from "../src/transport/websocket.ts";
import { newFlowToken } from "../src/transport/flow.ts";
import { KeyedSerial } from "../src/util/serial.ts";
import { Alarms } from "./alarms.ts";
import { ClientMessages } from "./client-messages.ts";
import { BridgeMessages } from "./bridge-messages.ts";
import { BridgeLinks } from "./bridge-links.ts";
import { Connections, type ClientAttachment } from "./connections.ts";
import type { Probe, ProbeResult } from "./bridge-probes.ts";
import { routeSignersFor, type RouteSigners } from "./route-signing.ts";
import { isShard, shardOf } from "./shards.ts";
import { TransactionStore } from "./transaction-store.ts";
import { DialogStore } from "./dialogs.ts";
import { shardServices, type ShardServices } from "./shard-services.ts";
import { FlowDelivery } from "./flow-delivery.ts";
import { GuardClient, type GuardEvent } from "./guard.ts";
import { PermissionsLoader } from "../src/modules/permissions/script.ts";
import { pikeKey } from "../src/modules/pike/index.ts";
import { ShardOps, type ShardStatus } from "./shard-ops.ts";
import type { UacOutcome, UacRequest } from "../src/modules/uac/reg.ts";
import { UacLinks } from "./uac-link.ts";
import { KeepaliveSweep } from "./keepalive.ts";
import { startRegistrations } from "./uac-service.ts";
import { forgetHere, type Forget } from "../src/admin/forget-subscribers.ts";

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
  private readonly connections: Connections;
  private readonly services: ShardServices;
  private readonly bridges: BridgeLinks;
  private readonly transactions: TransactionStore;
  private readonly dialogs: DialogStore;
  /** tm's timers: one platform timer per shard, not one per transaction (src/sip/timer-wheel.ts). */
  private readonly timers = new TimerWheel();
  private readonly flows: FlowDelivery;
  private readonly alarms: Alarms;
  /** This shard's number: the first part of its flow tokens, and the owner id in its branches. */
  private readonly shard: string;
  /** Pike fast paths and cached bans in front of the Guard objects (issue 5). */
  private readonly guard: GuardClient;
  private readonly permissions: PermissionsLoader;
  private readonly signers: RouteSigners;
  /** Messages of one flow, or of one call through the bridge, are handled in arrival order. */
  private readonly serial = new KeyedSerial();
  /** Client sockets' messages through the route script, REGISTERs through a gate (client-messages.ts). */
  private readonly clients: ClientMessages;
  private readonly bridgeMessages: BridgeMessages;
  /** Counters, call records and the scrape's view of this shard (shard-ops.ts). */
  private readonly ops: ShardOps;
  /** The route script ROUTE_SCRIPT names, out of the ones the Worker entry carries (src/edge.ts). */
  private readonly script: Script;
  /** uac_reg's requests through this shard's bridge links. */
  private readonly uacLinks: UacLinks;
  /** Pings sockets that have not proven they read, closes those that never answer (keepalive.ts). */
  private readonly keepalive: KeepaliveSweep;

  constructor(ctx: DurableObjectState, env: Env, scripts: ScriptRegistry) {
    super(ctx, env);
    this.config = configFor(env);
    this.script = selectScript(this.config.routeScript, scripts);
    this.log = createLogger(this.config.logLevel);
    this.shard = ctx.id.name?.replace(/^shard-/, "") ?? "0";
    // RFC 5626 §4.4.1 double-CRLF ping → CRLF pong, answered by the runtime while we hibernate.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(KEEPALIVE_PING, KEEPALIVE_PONG));
    this.connections = new Connections(ctx, (transport) => this.ops.transport(transport));
    this.bridges = new BridgeLinks(ctx, this.log);
    this.ops = new ShardOps(ctx, env.DB, this.log, this.shard);
    this.alarms = new Alarms(this.ops.storage("alarm"));
    this.signers = routeSignersFor(env, this.log);
    this.guard = new GuardClient({ guards: env.GUARD, directory: env.GUARD_DIRECTORY }, ctx, this.config.security, this.log);
    this.permissions = new PermissionsLoader(env.DB);
    this.services = shardServices({
      env, config: this.config, log: this.log, shard: this.shard, bridges: this.bridges, guard: this.guard,
      permissions: this.permissions, ops: this.ops, signers: this.signers,
      sendRequest: (request, target) => this.sendRequest(request, target),
      routeResponse: (response) => this.routeResponse(response),
      forgotten: (id) => this.transactions.forgotten(id),
      timers: this.timers,
    });
    this.uacLinks = new UacLinks(this.bridges, this.shard, () => startRegistrations(env), this.log);
    this.flows = new FlowDelivery(this.shard, this.config.connectionShards, env.SIP_CONNECTION, this.connections, this.services.location);
    this.transactions = new TransactionStore(
      { storage: this.ops.storage("transactions") }, this.services.tm, (flow) => this.upstreamOf(flow), this.alarms, this.log, this.config.transactionStoreAfterMs,
    );
    this.dialogs = new DialogStore(this.ops.storage("dialogs"), this.alarms, {
      timeoutMs: this.config.dialogFlowTimeout * 1000,
      writeEveryMs: this.config.dialogDbUpdatePeriod * 1000,
      liveFlows: (flows) => this.flows.live(flows),
      successor: (aor, instance, flow) => this.flows.successor(flow, { aor, instance }),
      bridgeVia: (bridge) => this.bridges.via(bridge),
      send: (dst, text, bridge) => this.bridges.send(dst, text, bridge),
      shard: this.shard,
      tellKeeper: (owner, callId) => {
        if (isShard(owner, this.config.connectionShards)) void shardOf(this.env.SIP_CONNECTION, owner).dialogEnded(callId).catch(() => undefined);
      },
      log: this.log,
    });
    this.services.dialogs = this.dialogs;
    this.clients = new ClientMessages({
      script: this.script, config: this.config, log: this.log, services: this.services,
      connections: this.connections, serial: this.serial, metrics: this.ops.counter,
      dropped: () => this.ops.metrics.inc("registersDropped"),
    });
    this.bridgeMessages = new BridgeMessages({
      ctx, script: this.script, config: this.config, log: this.log, services: this.services, bridges: this.bridges,
      ops: this.ops, serial: this.serial, uacLinks: this.uacLinks, transactions: this.transactions,
    });
    this.keepalive = new KeepaliveSweep({
      ctx, connections: this.connections, alarms: this.alarms, config: this.config.keepalive, domain: this.config.domain,
      serverHeader: this.config.serverHeader, signer: this.signers.branch, log: this.log, metrics: this.ops.metrics, lost: (ws) => this.flowGone(ws),
    });
    // Transactions and calls stored before an eviction come back, once, before any message is handled.
    void ctx.blockConcurrencyWhile(async () => {
      await this.alarms.load();
      await this.transactions.restore();
      await this.dialogs.restore();
    });
  }

  /** Accepts an upgrade the Worker has already checked (subprotocol, Origin, bridge secret). */
  override async fetch(request: Request): Promise<Response> {
    const bridge = request.headers.get(BRIDGE_HEADER);
    if (bridge !== null) return this.bridges.accept(bridge, request.headers.get("Sec-WebSocket-Protocol"));
    const ip = request.headers.get(CLIENT_IP_HEADER) ?? "0.0.0.0";
    // Issue 5: a banned address (403) or one at its connection cap (429) is refused before any
    // socket exists for it; the terse answers a scanner gets everywhere else. The proxy's own
    // addresses are never refused (the seed's `src_ip != myself`).
    if (!isMyself(this.config, ip)) {
      const status = await this.guard.admit(ip, this.shard, this.config.connectionShards);
      if (status === 403) return new Response("Forbidden", { status: 403 });
      if (status === 429) return new Response("Too many connections", { status: 429 });
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const transport = new URL(request.url).protocol === "https:" ? "wss" : "ws";
    const attachment: ClientAttachment = { flow: newFlowToken(this.shard, transport), ip, transport, connectedAt: Date.now(), aors: [] };
    // The `ip:` tag lets a Guard's ban close every socket of the address, and count them.
    this.ctx.acceptWebSocket(server, [`conn:${attachment.flow}`, `ip:${pikeKey(attachment.ip)}`]);
    this.guard.accepted(attachment.ip, request.headers.get(AUTH_WATCH_HEADER) === "1");
    server.serializeAttachment(attachment);
    await this.keepalive.accepted(attachment.connectedAt);
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
    const conn = this.connections.of(ws);
    if (conn.closed) return;
    if (conn.bridge) {
      await this.bridgeMessages.handle(ws, conn.bridge, data);
      return;
    }
    // The one per-message write of liveness; the attachment is written once per socket.
    conn.seenAt = Date.now();
    if (conn.attachment.firstAt === undefined) this.keepalive.first(ws, conn, conn.seenAt);
    await this.clients.handle(ws, conn, typeof data === "string" ? data : new Uint8Array(data));
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

  /** RPC from the metrics scrape, the admin API and the dashboard (src/metrics/scrape.ts). */
  async status(): Promise<ShardStatus> {
    const g = this.guard.stats();
    return this.ops.status(this.services.tm, this.guard.known(), {
      timers: this.timers.pending,
      dialogs: this.dialogs.size,
      storedTransactions: this.transactions.stored,
      guardEntries: g.fastPaths + g.bans + g.watched + g.directory,
    }, (ws) => this.connections.of(ws));
  }

  /** RPC (tests): write the buffered call records and registration index changes now. */
  async flush(): Promise<void> {
    await this.ops.flush();
  }

  /** RPC from a Guard (a count), the Worker (an admission) or the admin API (a permissions reload). */
  async security(event: GuardEvent): Promise<number | undefined> {
    if (event.kind === "reload-permissions") return (await this.permissions.reload()).ok ? 1 : 0;
    return this.guard.onEvent(event);
  }

  /** The object's alarm: stored transactions' deadlines, the calls whose client may be gone, sockets' liveness. */
  override async alarm(): Promise<void> {
    this.alarms.fired();
    await this.transactions.sweep();
    await this.dialogs.poll();
    await this.keepalive.sweep();
  }

  /** RPC from another shard: which of these flows of this shard have an open socket. */
  async liveFlows(flows: string[]): Promise<string[]> {
    return this.flows.liveHere(flows);
  }

  /** RPC from another shard: the BYE of a call this shard keeps went by there. */
  async dialogEnded(callId: string): Promise<void> {
    this.dialogs.ended(callId, this.shard);
  }

  /** The client socket of a flow, as a transaction's upstream (restored transactions). */
  private upstreamOf(flow: string): WebSocketTransport | undefined {
    const ws = this.connections.socket(flow);
    return ws === undefined ? undefined : new WebSocketTransport(ws);
  }

  /** RPC from a UacRegistration object: its REGISTER through this shard's bridge link. */
  async uacSend(request: UacRequest, timeoutMs: number): Promise<UacOutcome> {
    return this.uacLinks.send(request, timeoutMs);
  }

  /** RPC from the Dispatcher object: keepalives through this shard's bridge link. */
  async probe(probes: Probe[], timeoutMs: number): Promise<ProbeResult[] | "no-link"> {
    return this.bridges.probe(probes, timeoutMs, this.shard);
  }

  /** RPC from the Dispatcher object: a bridge left its liveness ping unanswered; close its links here. */
  async bridgeFrozen(bridge: string, since: number): Promise<number> {
    return this.bridges.closeFrozen(bridge, since);
  }

  /** RPC from the admin API: subscribers changed, so their cached HA1s are stale. */
  async forgetSubscribers(accounts: Forget): Promise<void> {
    forgetHere(this.env, accounts);
  }

  /** RPC from a Location object: its binding set changed, so a cached copy is stale. */
  async forgetLocation(aor: string): Promise<void> {
    this.ops.metrics.inc("locationForgets", this.services.location.forget(aor) ? "cached" : "absent");
  }

  /** RPC from another shard: send a request on one of this shard's flows. False: the socket is gone. */
  async deliver(flow: string, text: string | Uint8Array): Promise<boolean> {
    return this.flows.sendHere(flow, text);
  }

  /** RPC from another shard: a response to one of this shard's transactions. */
  async deliverResponse(text: string | Uint8Array): Promise<void> {
    const parsed = parseMessage(text);
    if (!parsed.ok || parsed.message.kind !== "response") return;
    this.bridges.answered(parsed.message);
    this.services.tm.receiveResponse(parsed.message);
  }

  /**
   * tm's way out: a branch goes to the socket of its flow, in this shard or (one RPC) in another.
   * A flow whose socket is gone is followed to the flow its client instance registered since (a
   * reconnect, RFC 5626 §4.2); failing that the branch gets 430 Flow Failed (RFC 5626 §5.3).
   */
  private sendRequest(request: SipRequest, target: Target): boolean {
    const flow = target.flow;
    if (flow === undefined) return target.dst !== undefined && this.bridges.send(target.dst, request, target.bridge);
    const text = wireOf(request); // a message from a binary frame goes on as its bytes
    void this.flows.send(flow, text).then(async (sent) => {
      if (sent) return;
      const next = target.successor === undefined ? undefined : await this.flows.successor(flow, target.successor).catch(() => undefined);
      if (next === undefined || !(await this.flows.send(next, text))) this.flowFailed(request);
    });
    return true;
  }

  private flowFailed(request: SipRequest): void {
    if (request.method === "ACK" || request.method === "CANCEL") return;
    queueMicrotask(() => this.services.tm.receiveResponse(createResponse(request, 430, "Flow Failed")));
  }

  /**
   * A response goes to the shard whose transaction it answers: the top Via's branch names it. One
   * for this shard is matched in its own table; one for another shard is passed on only when the
   * branch carries this deployment's signature and names a shard that exists, so a forged Via
   * costs nothing beyond its parse.
   */
  private async routeResponse(response: SipResponse): Promise<void> {
    this.bridges.answered(response);
    if (this.bridges.probes.reply(response) || this.uacLinks.reply(response) || this.keepalive.answered(response)) return;
    // A response to a request forwarded statelessly (`forward()`): straight back the way it came.
    const back = this.services.forwarder?.replyPath(response);
    if (back !== undefined) {
      this.replyStateless(response, back);
      return;
    }
    const branch = response.topVia().branch;
    if (ownerOfBranch(branch) === this.shard) {
      this.services.tm.receiveResponse(response);
      return;
    }
    const owner = verifiedOwner(branch, this.signers.branch);
    if (!isShard(owner, this.config.connectionShards)) {
      this.log.debug("response dropped: not a branch of this deployment", { branch });
      return;
    }
    await shardOf(this.env.SIP_CONNECTION, owner).deliverResponse(wireOf(response));
  }

  /**
   * RFC 3261 §16.11: a stateless proxy forwards a response by its Via. The branch named the hop
   * the request came from (signed), so the response goes to that flow, or to that UDP address
   * through the bridge it came in by; a flow whose socket is gone loses it, as UDP would.
   */
  private replyStateless(response: SipResponse, back: ReturnPath): void {
    if (back.kind === "flow") {
      void this.flows.send(back.flow, wireOf(response));
      return;
    }
    if (!this.bridges.send(back.address, response, back.bridge)) this.log.debug("stateless reply dropped: no bridge link", { callId: response.callId });
  }

  /** Kamailio `handle_lost_tcp`: the bindings of a flow whose socket closed are removed. */
  private async flowGone(ws: WebSocket): Promise<void> {
    const conn = this.connections.closed(ws);
    if (conn === undefined) return; // error and close both fired: handled once
    if (conn.bridge) {
      this.bridges.closed(ws);
      this.log.info("bridge link down", { bridge: conn.bridge.bridge });
      return;
    }
    const { ip, flow, aors } = conn.attachment;
    this.guard.closed(ip, flow, this.shard, !isMyself(this.config, ip)).catch(() => undefined);
    if (!this.config.handleLostFlows) return;
    await Promise.all(
      aors.map((aor) =>
        this.services.location.removeFlow(aor, flow).catch((err: unknown) => {
          this.log.warn("removing a closed flow's bindings failed", { aor, flow, error: String(err) });
        }),
      ),
    );
  }
}

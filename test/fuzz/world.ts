/**
 * The whole pipeline in one process, as a SipConnection shard runs it: the shipped route script
 * (src/routes/default.ts) with the real modules (auth, registrar, tm, rr, dispatcher, pike,
 * htable, permissions) over fake transports and the in-memory services of services.ts, on a fake
 * clock. Peers stand on their own addresses, as in a deployment: WebSocket clients on 127.0.1.x,
 * gateways (dispatcher set 1) on 127.0.0.20-22:5060 behind a bridge advertised as 127.0.0.9, a
 * trusted carrier on 127.0.0.30, and strangers elsewhere. Peers answer what the proxy relays to
 * them (ring, answer, refuse or stay silent), so responses flow back through the pipeline too.
 */
import { parseConfig, type Config } from "../../src/config.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { computeHa1, createAuth, type Auth } from "../../src/modules/auth/index.ts";
import { DispatcherClient } from "../../src/modules/dispatcher/client.ts";
import { Permissions } from "../../src/modules/permissions/index.ts";
import { createRegistrar } from "../../src/modules/registrar/index.ts";
import { Signer } from "../../src/util/signer.ts";
import { parseInbound } from "../../src/routing/pipeline.ts";
import { createRr } from "../../src/modules/rr/index.ts";
import { Tm, ownerOfBranch, type Target } from "../../src/modules/tm/index.ts";
import { defaultScript } from "../../src/routes/default.ts";
import { isMyself, type Services, type Source, type Transport } from "../../src/routing/context.ts";
import { processMessage, type Script } from "../../src/routing/pipeline.ts";
import type { SipMessage, SipRequest, SipResponse } from "../../src/sip/message.ts";
import { parseMessage, type ParseResult } from "../../src/sip/parser.ts";
import { createResponse } from "../../src/sip/response.ts";
import { bytesToByteString, wireOf } from "../../src/sip/serializer.ts";
import { Rng } from "./random.ts";
import { DOMAIN, GATEWAYS } from "./seeds.ts";

// The deployment's signing of routing state (durable-objects/route-signing.ts), with a fixed secret.
const ROUTE_SIGNER = new Signer({ current: "fuzz-route-secret" }, "sipedge rr");
const BRANCH_SIGNER = new Signer({ current: "fuzz-route-secret" }, "sipedge branch");
import { FakeClock, MemoryDispatcher, MemoryGuard, MemoryLocation } from "./services.ts";

export const USERS: Readonly<Record<string, string>> = { alice: "alice123", bob: "bob123", carol: "carol123" };
export const BRIDGE_ADDRESS = "127.0.0.9";
export const CARRIER = "127.0.0.30";

/** A message as it went over the socket: a text frame, or a binary frame's bytes. */
export type Wire = string | Uint8Array;

/** A wire message as a string for matching and printing (a binary frame as a byte-string). */
export function wireText(w: Wire): string {
  return typeof w === "string" ? w : bytesToByteString(w);
}

export interface Peer {
  name: string;
  kind: "client" | "gateway" | "carrier" | "stranger";
  source: Source;
  transport: Transport;
  /** Everything the proxy sent to this peer, in order. */
  received: Wire[];
  /** Whether the socket is open (a closed client's flow gets 430 Flow Failed). */
  open: boolean;
}

/** One message handed to the pipeline and what happened while it was processed. */
export interface Delivery {
  peer: Peer;
  data: string | Uint8Array;
  parsed: ParseResult;
  /** Messages the proxy sent to the sender while processing it. */
  replies: Wire[];
  /** Requests tm sent on (branches, ACKs, CANCELs) while processing it. */
  relayed: { request: SipRequest; target: Target }[];
  /** The script called `ctx.drop()` (ban, flood, scanner, an ACK absorbed). */
  dropped: boolean;
  /** A request that matched a live server transaction before it arrived (a retransmission). */
  retransmission: boolean;
  threw?: unknown;
}

/** Queued work for the peers: what they send back when the fake clock gets there. */
interface Outgoing {
  peer: Peer;
  data: string | Uint8Array;
}

export class FuzzWorld {
  readonly clock = new FakeClock();
  readonly config: Config;
  readonly log: Logger;
  /** Error-level log lines (a failing script, a failing failure route). */
  readonly errors: string[] = [];
  readonly tm: Tm;
  readonly location: MemoryLocation;
  readonly guard: MemoryGuard;
  readonly dispatcherSource: MemoryDispatcher;
  readonly auth: Auth;
  readonly peers = new Map<string, Peer>();
  readonly rng: Rng;
  private readonly services: Services;
  private readonly script: Script;
  private readonly outbox: Outgoing[] = [];
  private current: Delivery | undefined;
  /** Requests from peers still owed a final response: key → the peer that sent it. */
  readonly owed = new Map<string, Peer>();

  constructor(seed: number, vars: Record<string, string> = {}) {
    this.rng = new Rng(seed);
    this.config = parseConfig({ SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", LOG_LEVEL: "error", MAX_EXPIRES: "7200", ...vars });
    this.log = createLogger("error", (line) => this.errors.push(line));
    const now = this.clock.now;
    this.tm = new Tm({
      ownerId: "0",
      sentBy: { transport: "WS", host: DOMAIN },
      sendRequest: (request, target) => this.sendRequest(request, target),
      timers: this.clock,
      clock: this.clock,
      frTimer: this.config.tm.frTimer,
      frInvTimer: this.config.tm.frInvTimer,
      log: this.log,
      serverHeader: this.config.serverHeader,
      signer: BRANCH_SIGNER,
    });
    this.location = new MemoryLocation(createRegistrar(this.config.registrar), now);
    this.guard = new MemoryGuard(this.config.security, now);
    this.dispatcherSource = new MemoryDispatcher(GATEWAYS.map((ip) => `1 sip:${ip}:5060`).join("\n"), now);
    this.auth = createAuth({ secrets: { current: "fuzz-secret" }, nonceExpire: this.config.nonceExpire, lookup: ({ user, realm }) => subscriber(user, realm), clock: now });
    const permissions = Permissions.compile({ trustedRows: [{ src_ip: CARRIER, proto: "udp" }] });
    const host = { host: DOMAIN };
    const isBridgeAddress = (h: string, p: number | undefined): boolean => h === BRIDGE_ADDRESS && (p ?? 5060) === 5060;
    this.services = {
      auth: this.auth,
      location: this.location,
      tm: this.tm,
      rr: createRr({ listen: { ws: host, wss: host, udp: { host: BRIDGE_ADDRESS, port: 5060 } }, isMyself: (t) => isMyself(this.config, t, isBridgeAddress), signer: ROUTE_SIGNER }),
      routeResponse: (response) => this.routeResponse(response),
      dispatcher: new DispatcherClient(this.dispatcherSource, 1000, now),
      bridgeVia: () => ({ transport: "UDP", host: BRIDGE_ADDRESS, port: 5060, bridge: "b1" }),
      bridgeAt: (h, p) => (isBridgeAddress(h, p) ? "b1" : undefined),
      isBridgeAddress,
      subscriberExists: async (user, domain) => subscriber(user, domain) !== undefined,
      guard: this.guard,
      permissions: async () => permissions,
      shard: "0",
    };
    this.script = {
      reply: defaultScript.reply,
      request: async (ctx) => {
        const delivery = this.current;
        const drop = ctx.drop.bind(ctx);
        ctx.drop = () => {
          if (delivery) delivery.dropped = true;
          drop();
        };
        await defaultScript.request(ctx);
      },
    };
    for (let i = 1; i <= 6; i++) this.addPeer(`client${i}`, "client", { transport: "ws", ip: `127.0.1.${i}`, flow: `0.c${i}` });
    for (const ip of GATEWAYS) this.addPeer(`gw-${ip}`, "gateway", { transport: "udp", ip, port: 5060, bridge: "b1" });
    this.addPeer("carrier", "carrier", { transport: "udp", ip: CARRIER, port: 5060, bridge: "b1" });
    this.addPeer("stranger-udp", "stranger", { transport: "udp", ip: "127.0.0.99", port: 5099, bridge: "b1" });
  }

  private addPeer(name: string, kind: Peer["kind"], source: Source): void {
    const received: Wire[] = [];
    const peer: Peer = {
      name,
      kind,
      source,
      received,
      open: true,
      transport: {
        send: (message: SipMessage | string) => {
          // As WebSocketTransport: text frames for text messages, bytes for binary ones.
          const wire = typeof message === "string" ? message : wireOf(message);
          received.push(wire);
          if (this.current?.peer === peer) this.current.replies.push(wire);
          this.settle(peer, wire);
        },
      },
    };
    this.peers.set(name, peer);
  }

  peer(name: string): Peer {
    const p = this.peers.get(name);
    if (!p) throw new Error(`no peer ${name}`);
    return p;
  }

  clients(): Peer[] {
    return [...this.peers.values()].filter((p) => p.kind === "client");
  }

  /** Hands one message from `peer` to the pipeline, as its shard would. */
  async deliver(peer: Peer, data: string | Uint8Array): Promise<Delivery> {
    const parsed = parseInbound(data, this.config.maxMessageSize);
    const delivery: Delivery = { peer, data, parsed, replies: [], relayed: [], dropped: false, retransmission: false };
    if (parsed.ok && parsed.message.kind === "request") {
      const request = parsed.message;
      delivery.retransmission = request.method !== "ACK" && this.tm.table.matchServer(request) !== undefined;
      // A retransmission is owed nothing new: the first copy's answer (or, after a 2xx, the
      // UAS's own retransmissions, RFC 6026) covers it.
      if (request.method !== "ACK" && !delivery.retransmission) this.owed.set(owedKey(request), peer);
    }
    const previous = this.current;
    this.current = delivery;
    try {
      await processMessage(this.script, { data, source: peer.source, transport: peer.transport, config: this.config, log: this.log, services: this.services });
    } catch (err) {
      delivery.threw = err;
    } finally {
      this.current = previous;
    }
    return delivery;
  }

  /** Moves the clock on, lets peers send what became due, and runs a keepalive round now and then. */
  async advance(ms: number): Promise<Delivery[]> {
    const out: Delivery[] = [];
    let left = ms;
    while (left > 0) {
      const step = Math.min(left, 5000);
      this.clock.advance(step);
      left -= step;
      if (this.clock.now() % 5000 < step) this.dispatcherSource.probeAll();
      out.push(...(await this.flush()));
    }
    if (ms === 0) out.push(...(await this.flush()));
    return out;
  }

  private async flush(): Promise<Delivery[]> {
    const out: Delivery[] = [];
    while (this.outbox.length > 0) {
      const next = this.outbox.shift()!;
      out.push(await this.deliver(next.peer, next.data));
    }
    return out;
  }

  /** A client's socket closes: its flow's bindings go (Kamailio `handle_lost_tcp`). */
  close(peer: Peer): void {
    peer.open = false;
    this.location.removeFlow(peer.source.flow ?? "");
  }

  reopen(peer: Peer): void {
    peer.open = true;
  }

  /** The sizes of every table the pipeline touches. */
  sizes(): Record<string, number> {
    return {
      tmContexts: this.tm.size,
      tmServerTransactions: this.tm.table.serverCount,
      tmClientTransactions: this.tm.table.clientCount,
      timers: this.clock.count,
      ...prefixed("location", this.location.sizes),
      ...prefixed("guard", this.guard.sizes),
      outbox: this.outbox.length,
    };
  }

  /** Everything that can expire has (the objects' alarms and sweeps). */
  sweep(): void {
    this.location.sweep();
    this.guard.sweep();
  }

  // ---------------------------------------------------------------------------------------------
  // The peers' side

  /** tm's way out, as SipConnection.sendRequest: a flow's socket or a gateway through the bridge. */
  private sendRequest(request: SipRequest, target: Target): boolean {
    this.current?.relayed.push({ request, target });
    const peer = target.flow !== undefined ? this.clients().find((p) => p.source.flow === target.flow) : this.gatewayAt(target.dst);
    if (target.flow !== undefined && (peer === undefined || !peer.open)) {
      // RFC 5626 §5.3: the flow is gone; the shard answers the branch 430 (SipConnection.flowFailed).
      if (request.method !== "ACK" && request.method !== "CANCEL") queueMicrotask(() => this.tm.receiveResponse(createResponse(request, 430, "Flow Failed")));
      return true;
    }
    if (peer === undefined) return false;
    peer.received.push(wireOf(request));
    this.answer(peer, request);
    return true;
  }

  private gatewayAt(dst: string | undefined): Peer | undefined {
    if (dst === undefined) return undefined;
    return [...this.peers.values()].find((p) => p.kind === "gateway" && `${p.source.ip}:${p.source.port}` === dst);
  }

  /** How a UAS answers: ring then answer, refuse, fail, or stay silent (tm's timers end it). */
  private answer(peer: Peer, request: SipRequest): void {
    const rng = this.rng;
    if (request.method === "ACK") return;
    const tag = `${peer.name}-${rng.int(1e6)}`;
    const send = (delay: number, status: number, reason: string) => {
      this.clock.set(delay, () => this.outbox.push({ peer, data: this.responseText(peer, request, status, reason, tag) }));
    };
    if (request.method === "CANCEL") {
      send(rng.int(50), 200, "OK");
      return;
    }
    const roll = rng.next();
    if (request.method === "INVITE") {
      if (rng.chance(0.5)) send(rng.int(20), 100, "Trying");
      send(rng.range(10, 300), 180, "Ringing");
      if (roll < 0.55) send(rng.range(300, 2500), 200, "OK");
      else if (roll < 0.7) send(rng.range(300, 2500), 486, "Busy Here");
      else if (roll < 0.8) send(rng.range(300, 2500), 500, "Server Internal Error");
      else if (roll < 0.85) send(rng.range(300, 2500), 503, "Service Unavailable");
      // else: never answers; fr_inv_timer (Timer C) ends the branch with 408.
      return;
    }
    if (roll < 0.8) send(rng.range(5, 400), 200, "OK");
    else if (roll < 0.9) send(rng.range(5, 400), 404, "Not Found");
    // else: silent; fr_timer ends it.
  }

  private responseText(peer: Peer, request: SipRequest, status: number, reason: string, tag: string): Wire {
    const response = createResponse(request, status, reason, { toTag: tag });
    if (status > 100 && request.method === "INVITE") {
      for (const rr of request.headers.getAll("record-route")) response.headers.append("Record-Route", rr);
      const contact = peer.kind === "client" ? `<sip:${peer.name}@${peer.source.ip};transport=ws>` : `<sip:${peer.source.ip}:${peer.source.port}>`;
      response.headers.append("Contact", contact);
    }
    return wireOf(response);
  }

  /** As SipConnection.routeResponse: the top Via's branch names the shard that owns it. */
  private routeResponse(response: SipResponse): void {
    if (ownerOfBranch(response.topVia().branch ?? "") === "0") this.tm.receiveResponse(response);
  }

  /** A final response reached the peer that is owed one. */
  private settle(peer: Peer, wire: Wire): void {
    const parsed = parseMessage(wire);
    if (!parsed.ok || parsed.message.kind !== "response" || parsed.message.status < 200) return;
    const key = owedKey(parsed.message);
    if (this.owed.get(key) === peer) this.owed.delete(key);
  }
}

/** Call-ID, CSeq and top Via: what ties a response to the request it answers. */
export function owedKey(msg: SipMessage): string {
  return `${msg.callId}\n${msg.cseq.seq} ${msg.cseq.method}\n${msg.vias()[0]?.branch ?? ""}\n${msg.vias()[0]?.host ?? ""}`;
}

function prefixed(prefix: string, sizes: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(sizes).map(([k, v]) => [prefix + k[0]!.toUpperCase() + k.slice(1), v]));
}

function subscriber(user: string, realm: string) {
  const password = USERS[user];
  if (password === undefined || realm !== DOMAIN) return undefined;
  return { ha1: computeHa1("MD5", user, realm, password), ha1Sha256: computeHa1("SHA-256", user, realm, password) };
}

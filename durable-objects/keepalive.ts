import type { Logger } from "../src/log.ts";
import type { Metrics } from "../src/metrics/counters.ts";
import type { SipResponse } from "../src/sip/message.ts";
import { flowTransport } from "../src/transport/flow.ts";
import { CLOSE_CODES, judge, nextLook, pingBranch, pingOf, pingRequest, type CloseReason, type KeepaliveConfig, type Liveness } from "../src/transport/keepalive.ts";
import type { Signer } from "../src/util/signer.ts";
import type { Alarms } from "./alarms.ts";
import type { Connection, Connections } from "./connections.ts";
import { yieldToMessages } from "./yield.ts";

/** A sweep lets the shard's queued messages run after this many sockets judged ... */
const SLICE_SOCKETS = 1000;
/** ... or this many pinged (a ping and its answer cost the shard ~100 µs; bench/README, "Idle sockets"). */
const SLICE_PINGS = 50;

export interface KeepaliveDeps {
  ctx: DurableObjectState;
  connections: Connections;
  alarms: Alarms;
  config: KeepaliveConfig;
  /** SIP_DOMAIN: the Via host and the pings' Request-URI and From domain. */
  domain: string;
  serverHeader: string;
  /** The shard's branch signer: a ping's branch is one of the proxy's own. */
  signer: Signer;
  log: Logger;
  metrics: Metrics;
  /** The shard's handling of a lost flow (its bindings go: HANDLE_LOST_FLOWS). */
  lost: (ws: WebSocket) => Promise<void>;
}

/**
 * The shard's side of src/transport/keepalive.ts: one pass over its client sockets on the
 * object's alarm every WS_KEEPALIVE_INTERVAL (and at a ping's or a new socket's deadline), never
 * a timer per socket, and no alarm at all while the shard holds no client socket. What must
 * outlive hibernation (the first message, the outstanding ping, the last answer) is in each
 * socket's attachment, written once per ping or answer, never per message; the time of the
 * latest message is memory only, so an object that forgot it can at worst ping early, and no
 * socket is closed without a ping it left unanswered for WS_KEEPALIVE_TIMEOUT.
 */
export class KeepaliveSweep {
  /** The alarm time last asked for (the Alarms owner "keepalive"). */
  private wanted: number | undefined;
  /** While a pass runs: the earliest deadline of a socket accepted since it began (not in its list). */
  private joined: number | undefined;
  private passing = false;

  constructor(private readonly d: KeepaliveDeps) {}

  private get enabled(): boolean {
    return this.d.config.intervalMs > 0 || this.d.config.idleMs > 0;
  }

  /** A client socket opened: the alarm must come by its idle deadline, or within the interval. */
  async accepted(now = Date.now()): Promise<void> {
    if (!this.enabled) return;
    const { intervalMs, idleMs } = this.d.config;
    const due = now + (idleMs > 0 && (intervalMs === 0 || idleMs < intervalMs) ? idleMs : intervalMs);
    if (this.passing) this.joined = Math.min(this.joined ?? Infinity, due);
    if (this.wanted !== undefined && this.wanted > now && this.wanted <= due) return;
    this.wanted = due;
    // A failed alarm write must not refuse the socket: the next sweep or accept sets it again.
    await this.d.alarms.want("keepalive", due, now).catch((err: unknown) => this.d.log.warn("keep-alive: setting the alarm failed", { error: String(err) }));
  }

  /** The first complete message of a socket: kept in its attachment (once per socket). */
  first(ws: WebSocket, conn: Connection, now: number): void {
    conn.attachment.firstAt = now;
    ws.serializeAttachment(conn.attachment);
  }

  /**
   * A response whose branch is a ping's is absorbed here (never passed to tm, never counted as a
   * stray); when it answers the socket's outstanding ping, the socket has proven it reads.
   */
  answered(response: SipResponse, now = Date.now()): boolean {
    const ping = pingOf(response.topVia().branch, this.d.signer);
    if (ping === undefined) return false;
    const ws = this.d.connections.socket(ping.flow);
    if (ws === undefined) return true;
    const a = this.d.connections.of(ws).attachment;
    if (a.pingedAt !== ping.pingedAt) return true; // a late answer to an earlier ping
    a.pingedAt = undefined;
    a.provenAt = now;
    ws.serializeAttachment(a);
    return true;
  }

  /**
   * One pass over the client sockets: close the dead, ping the doubtful, set the next alarm.
   * The pass runs in slices (SLICE_SOCKETS sockets, or SLICE_PINGS pings, whichever comes first)
   * with a zero-delay timer between them, which the shard's queued messages run before: a shard
   * of many sockets otherwise held every other message of its clients for the whole pass, and
   * then again for the burst of answers (bench/README, "Idle sockets").
   */
  async sweep(now?: number): Promise<void> {
    if (!this.enabled) return;
    const cfg = this.d.config;
    const clock = now === undefined ? Date.now : (): number => now;
    this.passing = true;
    this.joined = undefined;
    let pass: { next: number | undefined; clients: number };
    try {
      pass = await this.pass(cfg, clock);
    } finally {
      this.passing = false;
    }
    const t = clock();
    let next = pass.next;
    if (pass.clients > 0 && cfg.intervalMs > 0) next = Math.min(next ?? Infinity, t + cfg.intervalMs);
    // A socket accepted while the pass ran is not in its list: its deadline stands.
    if (this.joined !== undefined) next = Math.min(next ?? Infinity, this.joined);
    this.wanted = next;
    await this.d.alarms.want("keepalive", next, t);
  }

  /** The sockets' verdicts, carried out; the earliest deadline among them and how many clients stay. */
  private async pass(cfg: KeepaliveConfig, clock: () => number): Promise<{ next: number | undefined; clients: number }> {
    let next: number | undefined;
    let clients = 0;
    let t = clock();
    let judged = 0;
    let pinged = 0;
    for (const ws of this.d.ctx.getWebSockets()) {
      if (judged === SLICE_SOCKETS || pinged === SLICE_PINGS) {
        await yieldToMessages();
        t = clock();
        judged = 0;
        pinged = 0;
      }
      judged++;
      const conn = this.d.connections.open(ws);
      if (conn === undefined || conn.bridge) continue;
      const s = this.livenessOf(ws, conn);
      const verdict = judge(s, cfg, t);
      if (verdict.action === "close") {
        await this.close(ws, conn, s, verdict.reason, t);
        continue;
      }
      clients++;
      if (verdict.action === "ping") {
        s.pingedAt = this.ping(ws, conn, t);
        pinged++;
      }
      const look = nextLook(s, cfg);
      if (look !== undefined && (next === undefined || look < next)) next = look;
    }
    return { next, clients };
  }

  private livenessOf(ws: WebSocket, conn: Connection): Liveness {
    const a = conn.attachment;
    const crlf = this.d.ctx.getWebSocketAutoResponseTimestamp(ws);
    return { connectedAt: a.connectedAt, firstAt: a.firstAt, seenAt: conn.seenAt, keepaliveAt: crlf?.getTime(), provenAt: a.provenAt, pingedAt: a.pingedAt };
  }

  private ping(ws: WebSocket, conn: Connection, now: number): number {
    const a = conn.attachment;
    const branch = pingBranch(a.flow, now, this.d.signer);
    const { domain } = this.d;
    // To an AOR registered over the flow, as nathelper pings a contact: softphones answer 200
    // (JsSIP and SIP.js answer 404 to a Request-URI without their user; that counts as well).
    const uri = a.aors[0] === undefined ? `sip:${domain}` : `sip:${a.aors[0]}`;
    try {
      ws.send(pingRequest({ flow: a.flow, branch, from: `sip:pinger@${domain}`, uri, transport: flowTransport(a.flow), host: domain, serverHeader: this.d.serverHeader }));
    } catch {
      // The socket is closing; the runtime reports its close.
    }
    a.pingedAt = now;
    ws.serializeAttachment(a);
    this.d.metrics.inc("keepalivePings");
    return now;
  }

  private async close(ws: WebSocket, conn: Connection, s: Liveness, reason: CloseReason, now: number): Promise<void> {
    const { code, reason: text } = CLOSE_CODES[reason];
    const a = conn.attachment;
    this.d.log.info("websocket closed by keep-alive", {
      flow: a.flow, ip: a.ip, reason, code,
      openMs: now - a.connectedAt,
      unansweredMs: s.pingedAt === undefined ? undefined : now - s.pingedAt,
      registered: a.aors.length,
    });
    this.d.metrics.inc("keepaliveCloses", reason);
    try {
      ws.close(code, text);
    } catch {
      // Already closing.
    }
    // A deaf peer never returns the close frame, so webSocketClose may never come: the flow is
    // lost now (its bindings go); a later webSocketClose finds it handled.
    await this.d.lost(ws);
  }
}

/**
 * One WebSocket link to one edge shard, dialled by the bridge and redialled whenever it drops,
 * with exponential backoff and full jitter (the delay is uniform in [0, min(cap, base * 2^n)]),
 * so that a fleet of bridges reconnecting after a deploy spreads out instead of arriving at once.
 */
import WebSocket from "ws";
import type { Logger } from "../src/log.ts";
import { BRIDGE_SUBPROTOCOL_V1, BRIDGE_SUBPROTOCOL_V2, MAX_BATCH, RECORD_OVERHEAD, encodeBatch, type OutRecord } from "../src/transport/bridge-batch.ts";

export interface Backoff {
  baseMs: number;
  capMs: number;
  /** A link that stayed up this long starts over from the base delay when it drops. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 500, capMs: 30_000, resetAfterMs: 10_000 };

export interface LinkOptions {
  /** ws(s)://host/bridge?shard=k&bridge=id */
  url: string;
  secret: string;
  shard: number;
  log: Logger;
  backoff?: Backoff;
  /** WebSocket ping interval; a link silent for two intervals is dropped and redialled. 0: off. */
  pingIntervalMs?: number;
  random?: () => number;
  /** The link is up: send the hello. */
  onOpen(link: EdgeLink): void;
  onFrame(link: EdgeLink, data: Buffer, binary: boolean): void;
  /** The link went down (it redials by itself); `status` is the HTTP status of a refused handshake. */
  onDown?(link: EdgeLink, info: { code: number; reason: string; status: number | undefined }): void;
}

/** Delay before attempt `attempt` (0-based): full jitter over the capped exponential. */
export function backoffDelay(backoff: Backoff, attempt: number, random: () => number): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Longest frame accepted from the edge: a UDP datagram plus the address line. */
const MAX_FRAME = 65_535 + 512;

export class EdgeLink {
  readonly shard: number;
  private readonly options: LinkOptions;
  private readonly backoff: Backoff;
  private readonly random: () => number;
  private ws: WebSocket | undefined;
  private attempt = 0;
  private openedAt = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private ping: ReturnType<typeof setInterval> | undefined;
  private alive = false;
  private stopped = false;
  /** Times the link came up (the first open included). */
  opens = 0;
  /** The edge chose `sipedge-bridge.v2`: frames queued in one event-loop turn leave as one batch. */
  private batching = false;
  private queue: OutRecord[] = [];
  /** Size of the batch frame the queue would make. */
  private queued = 1;
  /** WebSocket messages sent, and the frames (datagrams, control) they carried. */
  messagesSent = 0;
  framesSent = 0;

  constructor(options: LinkOptions) {
    this.options = options;
    this.shard = options.shard;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
  }

  get open(): boolean {
    return this.ws !== undefined && this.ws.readyState === WebSocket.OPEN;
  }

  /** Bytes queued in the socket: the caller drops datagrams (as UDP would) when this grows. */
  get buffered(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  start(): void {
    this.stopped = false;
    this.dial();
  }

  /** Sends one control frame (JSON text); false when the link is down. */
  send(json: string): boolean {
    return this.sendFrame("", Buffer.from(json, "utf8"), false);
  }

  /**
   * Sends one frame, `head` (ASCII: an address line) then `body`; false when the link is down (the
   * datagram is lost, as on UDP). On a v2 link it waits for the end of this event-loop turn
   * (`setImmediate` runs after the I/O callbacks of the current poll, before the next poll), so
   * that datagrams read in one turn share a frame; a lone one leaves alone, in its v1 form.
   */
  sendFrame(head: string, body: Buffer, binary: boolean): boolean {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return false;
    this.framesSent++;
    if (!this.batching) {
      this.messagesSent++;
      ws.send(head === "" ? body : Buffer.concat([Buffer.from(head, "latin1"), body]), { binary });
      return true;
    }
    const bytes = RECORD_OVERHEAD + head.length + body.length;
    if (this.queue.length > 0 && this.queued + bytes > MAX_BATCH) this.flush(); // the edge's maxPayload
    this.queue.push({ head, body, binary });
    this.queued += bytes;
    if (this.queue.length === 1) setImmediate(this.flush);
    return true;
  }

  // A 1 ms window after each flush (a timer, as the edge does) batched no more than this: 16
  // links share ~1,000 datagrams/s, so one link rarely gets two within a millisecond, and the
  // timer cost a wake-up per flush (bench/README, "Gateway call, round 7").
  private readonly flush = (): void => {
    const queue = this.queue;
    this.queue = [];
    this.queued = 1;
    const ws = this.ws;
    // Closed in between: the queued datagrams are lost, as on UDP.
    if (queue.length === 0 || ws === undefined || ws.readyState !== WebSocket.OPEN) return;
    this.messagesSent++;
    if (queue.length === 1) {
      const { head, body, binary } = queue[0] as OutRecord;
      ws.send(head === "" ? body : Buffer.concat([Buffer.from(head, "latin1"), body]), { binary });
      return;
    }
    ws.send(encodeBatch(queue, (size) => Buffer.allocUnsafe(size)), { binary: true });
  };

  /** Closes the link for good (1001 Going Away) and waits for the socket to close. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.retry = undefined;
    this.stopPing();
    const ws = this.ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => ws.terminate(), 2_000);
      ws.once("close", () => {
        clearTimeout(force);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1001, "bridge stopping");
    });
  }

  private dial(): void {
    const { url, secret, log } = this.options;
    // v2 first: an edge that knows it chooses it; an older edge chooses v1 and gets no batches.
    const ws = new WebSocket(url, [BRIDGE_SUBPROTOCOL_V2, BRIDGE_SUBPROTOCOL_V1], {
      headers: { Authorization: "Bearer " + secret },
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      maxPayload: MAX_FRAME,
    });
    this.ws = ws;
    let status: number | undefined;
    ws.on("open", () => {
      this.openedAt = Date.now();
      this.opens++;
      this.alive = true;
      this.batching = ws.protocol === BRIDGE_SUBPROTOCOL_V2;
      this.queue = [];
      this.queued = 1;
      this.startPing(ws);
      log.info("edge link up", { shard: this.shard, protocol: ws.protocol });
      this.options.onOpen(this);
    });
    ws.on("message", (data, isBinary) => {
      this.alive = true;
      this.options.onFrame(this, data as Buffer, isBinary);
    });
    ws.on("pong", () => {
      this.alive = true;
    });
    ws.on("error", (error) => {
      // A refused handshake (401 wrong secret, 404 unknown shard) surfaces as this error, then
      // a close; keep the status for the close handler.
      const refused = /^Unexpected server response: (\d{3})$/.exec(error.message);
      if (refused !== null) status = Number(refused[1]);
      log.debug("edge link error", { shard: this.shard, error: error.message });
    });
    ws.once("close", (code: number, reason: Buffer) => this.onClose(ws, code, reason.toString(), status));
  }

  private onClose(ws: WebSocket, code: number, reason: string, status: number | undefined): void {
    if (this.ws !== ws) return;
    this.stopPing();
    this.ws = undefined;
    if (this.stopped) return;
    if (this.openedAt > 0 && Date.now() - this.openedAt >= this.backoff.resetAfterMs) this.attempt = 0;
    this.openedAt = 0;
    const delay = backoffDelay(this.backoff, this.attempt++, this.random);
    const level = status === 401 || status === 403 ? "error" : "warn";
    this.options.log[level]("edge link down", { shard: this.shard, code, reason, status, retryInMs: delay });
    this.options.onDown?.(this, { code, reason, status });
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.stopped) this.dial();
    }, delay);
  }

  private startPing(ws: WebSocket): void {
    const interval = this.options.pingIntervalMs ?? 0;
    if (interval <= 0) return;
    this.ping = setInterval(() => {
      if (!this.alive) {
        this.options.log.warn("edge link silent, redialling", { shard: this.shard });
        ws.terminate();
        return;
      }
      this.alive = false;
      ws.ping();
    }, interval);
  }

  private stopPing(): void {
    if (this.ping !== undefined) clearInterval(this.ping);
    this.ping = undefined;
  }
}

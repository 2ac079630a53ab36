/**
 * The client side of rtpengine's ng control protocol over UDP: a datagram is `<cookie>
 * <bencoded dictionary>`, and the reply carries the same cookie. rtpengine keeps recent replies by
 * cookie, so a retransmission with the same cookie is answered again without running the command
 * twice; that makes retrying an offer safe. One socket talks to every instance.
 */
import dgram from "node:dgram";
import { randomBytes } from "node:crypto";
import type { Logger } from "../../src/log.ts";
import { formatAddress, type Address } from "../frame.ts";
import { decode, encode, type BValue } from "./bencode.ts";

export type NgDict = { [key: string]: BValue };

export type NgResult =
  | { ok: true; reply: NgDict; ms: number }
  /** timeout: no reply after every try; send: the kernel refused the datagram. */
  | { ok: false; error: "timeout" | "send"; detail: string };

export interface NgSocketOptions {
  log: Logger;
  /** Wait for a reply this long before sending again (Kamailio `rtpengine_tout_ms`). */
  timeoutMs: number;
  /** Sends in all, the first included (Kamailio `rtpengine_retr` + 1). */
  tries: number;
  family?: 4 | 6;
}

interface Pending {
  readonly to: Address;
  readonly data: Uint8Array;
  readonly started: number;
  tries: number;
  timer: ReturnType<typeof setTimeout>;
  readonly done: (result: NgResult) => void;
}

const SPACE = 0x20;
const encoder = new TextEncoder();

export class NgSocket {
  readonly stats = { sent: 0, retransmitted: 0, replies: 0, timeouts: 0, stray: 0, unparseable: 0 };
  private readonly socket: dgram.Socket;
  private readonly options: NgSocketOptions;
  private readonly pending = new Map<string, Pending>();
  /** Random per process, so cookies never repeat across bridge restarts within rtpengine's cache. */
  private readonly prefix = randomBytes(6).toString("hex");
  private counter = 0;
  private bound: Promise<void> | undefined;

  constructor(options: NgSocketOptions) {
    this.options = options;
    this.socket = dgram.createSocket(options.family === 6 ? "udp6" : "udp4");
    this.socket.on("message", (data, rinfo) => this.onReply(data, rinfo));
    this.socket.on("error", (error) => options.log.error("rtpengine control socket error", { error: error.message }));
  }

  /** The local UDP port replies come to (once the first request bound it). */
  get localPort(): number | undefined {
    try {
      return this.socket.address().port;
    } catch {
      return undefined;
    }
  }

  /** Sends one command to `to` and resolves with its reply, or with why none came. Never rejects. */
  async request(to: Address, command: NgDict): Promise<NgResult> {
    this.bound ??= new Promise((resolve) => this.socket.bind(0, () => resolve()));
    await this.bound;
    const cookie = this.prefix + "_" + (this.counter++).toString(36);
    const body = encode(command);
    const head = encoder.encode(cookie + " ");
    const data = new Uint8Array(head.length + body.length);
    data.set(head);
    data.set(body, head.length);
    return new Promise<NgResult>((resolve) => {
      const entry: Pending = {
        to, data, started: performance.now(), tries: 0,
        timer: undefined as unknown as ReturnType<typeof setTimeout>,
        done: resolve,
      };
      this.pending.set(cookie, entry);
      this.send(cookie, entry);
    });
  }

  close(): void {
    for (const [cookie, p] of this.pending) this.finish(cookie, p, { ok: false, error: "timeout", detail: "bridge stopping" });
    try {
      this.socket.close();
    } catch {
      // never bound
    }
  }

  private send(cookie: string, p: Pending): void {
    p.tries++;
    if (p.tries === 1) this.stats.sent++;
    else this.stats.retransmitted++;
    this.socket.send(p.data, p.to.port, p.to.address, (error) => {
      if (error === null || error === undefined) return;
      this.finish(cookie, p, { ok: false, error: "send", detail: (error as { code?: string }).code ?? error.message });
    });
    p.timer = setTimeout(() => {
      if (this.pending.get(cookie) !== p) return;
      if (p.tries < this.options.tries) return this.send(cookie, p);
      this.stats.timeouts++;
      this.finish(cookie, p, { ok: false, error: "timeout", detail: `no reply from ${formatAddress(p.to)} after ${p.tries} tries` });
    }, this.options.timeoutMs);
  }

  private finish(cookie: string, p: Pending, result: NgResult): void {
    if (this.pending.get(cookie) !== p) return;
    clearTimeout(p.timer);
    this.pending.delete(cookie);
    p.done(result);
  }

  private onReply(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const space = data.indexOf(SPACE);
    const cookie = space > 0 ? data.toString("latin1", 0, space) : "";
    const p = this.pending.get(cookie);
    // Only the instance asked may answer: anything else on this port is stray.
    if (p === undefined || rinfo.port !== p.to.port || rinfo.address !== p.to.address) {
      this.stats.stray++;
      return;
    }
    const reply = decode(data.subarray(space + 1));
    if (!reply.ok || typeof reply.value !== "object" || Array.isArray(reply.value)) {
      this.stats.unparseable++;
      this.options.log.warn("unparseable rtpengine reply", { from: formatAddress(p.to), reason: reply.ok ? "not a dictionary" : reply.reason });
      return; // the retransmission may get a clean copy; else the timeout reports it
    }
    this.stats.replies++;
    this.finish(cookie, p, { ok: true, reply: reply.value, ms: performance.now() - p.started });
  }
}

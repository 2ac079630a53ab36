// A UDP SIP endpoint for end-to-end tests: a datagram socket bound to its own loopback address
// (DESIGN.md §6), sending hand-written requests to the bridge and collecting what comes back.
import { createSocket, type Socket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { digestResponse, parseMessage, type SipMessage } from "./sip-ua.ts";

export interface UdpTarget {
  host: string;
  port: number;
}

/** The bridge's UDP address from the stack (`stack.bridge.address`, `host:port`). */
export function bridgeTarget(address: string | undefined): UdpTarget {
  const text = String(address);
  const colon = text.lastIndexOf(":");
  return { host: text.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(text.slice(colon + 1)) };
}

export class UdpUa {
  private readonly inbox: SipMessage[] = [];
  private readonly waiters: { match: (m: SipMessage) => boolean; resolve: (m: SipMessage | undefined) => void; timer: ReturnType<typeof setTimeout> }[] = [];

  private constructor(
    private readonly socket: Socket,
    private readonly target: UdpTarget,
  ) {
    socket.on("message", (data) => {
      const msg = parseMessage(data.toString("utf8"));
      const i = this.waiters.findIndex((w) => w.match(msg));
      const waiter = i < 0 ? undefined : this.waiters.splice(i, 1)[0];
      if (waiter === undefined) this.inbox.push(msg);
      else {
        clearTimeout(waiter.timer);
        waiter.resolve(msg);
      }
    });
  }

  static async bind(address: string, target: UdpTarget): Promise<UdpUa> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, address, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    return new UdpUa(socket, target);
  }

  /** `address:port` this socket sends from. */
  get local(): string {
    const a = this.socket.address();
    return `${a.address}:${a.port}`;
  }

  /** Messages received and not claimed by `reply`. */
  get received(): readonly SipMessage[] {
    return this.inbox;
  }

  send(text: string): void {
    this.socket.send(text, this.target.port, this.target.host);
  }

  /** Sends `text` and resolves with the first reply whose Call-ID and CSeq match, or undefined after `timeoutMs`. */
  request(text: string, timeoutMs: number): Promise<SipMessage | undefined> {
    const callId = /\r\nCall-ID: *([^\r\n]+)/i.exec(text)?.[1]?.trim();
    const cseq = /\r\nCSeq: *([^\r\n]+)/i.exec(text)?.[1]?.trim().replace(/\s+/g, " ");
    const match = (m: SipMessage) => m.status > 0 && m.headers.get("call-id")?.[0] === callId && m.headers.get("cseq")?.[0]?.replace(/\s+/g, " ") === cseq;
    const queued = this.inbox.findIndex(match);
    if (queued >= 0) return Promise.resolve(this.inbox.splice(queued, 1)[0]);
    return new Promise((resolve) => {
      const waiter = {
        match,
        resolve,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          resolve(undefined);
        }, timeoutMs),
      };
      this.waiters.push(waiter);
      this.send(text);
    });
  }

  /** A request from this socket to `ruri` (hand-written; the Via names this socket). */
  build(method: string, ruri: string, options: { callId: string; cseq: number; from?: string; to?: string; extra?: string[]; userAgent?: string }): string {
    return [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.local};rport;branch=z9hG4bK${randomBytes(8).toString("hex")}`,
      "Max-Forwards: 70",
      `From: ${options.from ?? `<sip:udp@${this.local}>`};tag=${randomBytes(4).toString("hex")}`,
      `To: ${options.to ?? `<${ruri}>`}`,
      `Call-ID: ${options.callId}`,
      `CSeq: ${options.cseq} ${method}`,
      `Contact: <sip:udp@${this.local}>`,
      ...(options.extra ?? []),
      `User-Agent: ${options.userAgent ?? "sipedge-test-udp"}`,
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n");
  }

  /**
   * A REGISTER for `user@domain`, with digest credentials over `auth.nonce` when given; the
   * answer, or undefined after `timeoutMs`.
   */
  register(user: string, domain: string, cseq: number, auth?: { password: string; nonce: string; realm: string }, timeoutMs = 3000): Promise<SipMessage | undefined> {
    const uri = `sip:${domain}`;
    const extra: string[] = [];
    if (auth !== undefined) {
      const cnonce = randomBytes(8).toString("hex");
      const response = digestResponse({ username: user, realm: auth.realm, password: auth.password, method: "REGISTER", uri, nonce: auth.nonce, nc: "00000001", cnonce });
      extra.push(`Authorization: Digest username="${user}", realm="${auth.realm}", nonce="${auth.nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"`);
    }
    const text = this.build("REGISTER", uri, { callId: `udp-${user}@${this.local}`, cseq, from: `<sip:${user}@${domain}>`, to: `<sip:${user}@${domain}>`, extra });
    return this.request(text, timeoutMs);
  }

  close(): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(undefined);
    }
    this.socket.close();
  }
}

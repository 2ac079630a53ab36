import WebSocket from "ws";

/** A SIP-over-WebSocket test client on the real `ws` library, optionally bound to a source address. */
export class WsSipClient {
  private queue: string[] = [];
  private waiters: ((s: string) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? Buffer.from(data as Buffer).toString("latin1") : data.toString();
      const w = this.waiters.shift();
      if (w) w(text);
      else this.queue.push(text);
    });
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string, options: { protocol?: string | null; localAddress?: string } = {}): Promise<WsSipClient> {
    const protocols = options.protocol === null ? [] : [options.protocol ?? "sip"];
    const ws = new WebSocket(url, protocols, { localAddress: options.localAddress, perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new WsSipClient(ws)));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  send(data: string | Uint8Array): void {
    this.ws.send(data);
  }

  /** The next message, or a rejection after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (s: string) => {
        clearTimeout(timer);
        resolve(s);
      };
      this.waiters.push(waiter);
    });
  }

  /** True when nothing arrives within `ms`. */
  async silent(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.length === 0;
  }

  async close(code = 1000): Promise<{ code: number; reason: string }> {
    this.ws.close(code);
    return this.closed;
  }
}

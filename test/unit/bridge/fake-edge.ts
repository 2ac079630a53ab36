// A stand-in for the edge's side of the bridge link (bridge/README.md "Link protocol"):
// `GET /bridge/shards` and the `/bridge?shard=k&bridge=id` WebSocket, both behind the bearer
// secret. Tests read what the bridge sent and send frames as the edge would.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { decodeBatch, isBatch } from "../../../src/transport/bridge-batch.ts";

export interface Frame {
  shard: number;
  bridge: string;
  data: string;
  binary: boolean;
  /** The WebSocket message that carried the frame (counted per fake edge), and how many frames it carried. */
  message: number;
  records: number;
}

export interface FakeEdge {
  url: string;
  port: number;
  frames: Frame[];
  /** Handshakes and shard requests refused (wrong secret, unknown shard). */
  refused: number[];
  linkCount(): number;
  /** Resolves with the first frame (already received or to come) that matches. */
  next(match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  send(shard: number, data: string | Uint8Array): void;
  /** WebSocket messages received from the bridge. */
  messages(): number;
  /** Drops every link (1006, as a redeploy does) and stops listening. */
  close(): Promise<void>;
}

/**
 * `protocols`: the subprotocols this edge knows, preferred first (default v1 only, an edge from
 * before batching); with v2 chosen, batch frames from the bridge are split into their frames.
 */
export async function startFakeEdge(options: { secret: string; shards: number; port?: number; protocols?: string[] }): Promise<FakeEdge> {
  const frames: Frame[] = [];
  const known = options.protocols ?? ["sipedge-bridge.v1"];
  let messages = 0;
  const refused: number[] = [];
  const sockets = new Map<number, WebSocket>();
  const waiters = new Set<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }>();
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => known.find((p) => protocols.has(p)) ?? false,
  });
  const authorized = (req: IncomingMessage) => req.headers.authorization === `Bearer ${options.secret}`;

  const server: Server = createServer((req, res) => {
    if (req.url !== "/bridge/shards") return void res.writeHead(404).end();
    if (!authorized(req)) {
      refused.push(401);
      return void res.writeHead(401).end();
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ shards: options.shards }));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://edge");
    const shard = Number(url.searchParams.get("shard"));
    const refuse = (status: number) => {
      refused.push(status);
      socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    if (url.pathname !== "/bridge") return refuse(404);
    if (!authorized(req)) return refuse(401);
    if (!(shard >= 0 && shard < options.shards)) return refuse(404);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const bridge = url.searchParams.get("bridge") ?? "";
      sockets.set(shard, ws);
      ws.on("message", (data, binary) => {
        const message = ++messages;
        const bytes = data as Buffer;
        const records = binary && isBatch(bytes) ? decodeBatch(bytes).records : [{ data: bytes, binary }];
        for (const r of records) {
          const frame = { shard, bridge, data: Buffer.from(r.data).toString(), binary: r.binary, message, records: records.length };
          frames.push(frame);
          for (const w of waiters) {
            if (w.match(frame)) {
              waiters.delete(w);
              w.resolve(frame);
            }
          }
        }
      });
      ws.on("close", () => {
        if (sockets.get(shard) === ws) sockets.delete(shard);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    frames,
    refused,
    linkCount: () => sockets.size,
    messages: () => messages,
    next(match, timeoutMs = 5_000) {
      const seen = frames.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve: (f: Frame) => (clearTimeout(timer), resolve(f)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error("fake edge: no matching frame in time"));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    send(shard, data) {
      const ws = sockets.get(shard);
      if (ws === undefined) throw new Error(`fake edge: no link for shard ${shard}`);
      ws.send(data);
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The SIP message of a datagram frame and the address line before it. */
export function splitFrame(frame: Frame): { from: string; message: string } {
  const cut = frame.data.indexOf("\r\n");
  return { from: frame.data.slice(0, cut), message: frame.data.slice(cut + 2) };
}

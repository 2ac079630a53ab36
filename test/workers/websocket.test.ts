import { env, exports } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { readResponse, sipRequest } from "../helpers/sip-text.ts";

interface Client {
  ws: WebSocket;
  next(): Promise<string>;
}

async function connect(headers: Record<string, string> = {}): Promise<Client> {
  const res = await exports.default.fetch("http://edge.test/", {
    headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": "sip", "CF-Connecting-IP": "127.0.0.9", ...headers },
  });
  expect(res.status).toBe(101);
  expect(res.headers.get("Sec-WebSocket-Protocol")).toBe("sip");
  const ws = res.webSocket!;
  const queue: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  ws.accept();
  ws.addEventListener("message", (e: MessageEvent) => {
    const text = typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer);
    const w = waiters.shift();
    if (w) w(text);
    else queue.push(text);
  });
  return {
    ws,
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
  };
}

describe("WebSocket upgrade (RFC 7118 §4)", () => {
  it("refuses an upgrade that does not offer the sip subprotocol, with a clear HTTP error", async () => {
    const res = await exports.default.fetch("http://edge.test/", { headers: { Upgrade: "websocket" } });
    expect(res.status).toBe(400);
    expect(res.webSocket).toBeNull();
    expect(await res.text()).toMatch(/subprotocol 'sip'/);
  });

  it("answers a plain GET / with 426 Upgrade Required", async () => {
    const res = await exports.default.fetch("http://edge.test/");
    expect(res.status).toBe(426);
  });

  it("accepts an upgrade offering sip among other subprotocols and selects sip", async () => {
    const client = await connect({ "Sec-WebSocket-Protocol": "chat, sip" });
    client.ws.close(1000, "done");
  });
});

// wrangler.toml's no_web_socket_compression: without it workerd would agree to permessage-deflate
// with every client that offers it (every browser), in the 101 the Worker answers with.
describe("permessage-deflate (RFC 7692)", () => {
  it("is never agreed: the 101 to a browser's offer names no extension, and SIP flows", async () => {
    const res = await exports.default.fetch("http://edge.test/", {
      headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": "sip", "CF-Connecting-IP": "127.0.0.9", "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" },
    });
    expect(res.status).toBe(101);
    expect(res.headers.get("Sec-WebSocket-Protocol")).toBe("sip");
    expect(res.headers.has("Sec-WebSocket-Extensions")).toBe(false);
    const ws = res.webSocket!;
    ws.accept();
    const answered = new Promise<string>((resolve) => ws.addEventListener("message", (e: MessageEvent) => resolve(String(e.data)), { once: true }));
    ws.send(sipRequest({ method: "OPTIONS", ruri: "sip:127.0.0.1" }));
    expect(readResponse(await answered).status).toBe(200);
    ws.close(1000);
  });
});

describe("SipConnection", () => {
  it("answers an OPTIONS to the proxy itself with 200, stamping received on the top Via", async () => {
    const client = await connect();
    client.ws.send(sipRequest({ method: "OPTIONS", ruri: "sip:127.0.0.1" }));
    const res = readResponse(await client.next());
    expect(res.status).toBe(200);
    expect(res.headers.get("via")?.[0]).toMatch(/;received=127\.0\.0\.9/);
    expect(res.headers.get("to")?.[0]).toMatch(/;tag=/);
    client.ws.close(1000);
  });

  it("answers a CRLFCRLF keep-alive ping with a CRLF pong and ignores a lone CRLF", async () => {
    const client = await connect();
    client.ws.send("\r\n\r\n");
    expect(await client.next()).toBe("\r\n");
    client.ws.send("\r\n");
    // A lone CRLF is a pong (RFC 5626 §4.4.1): nothing answers it, so the next message on the
    // connection is the answer to the OPTIONS sent after it.
    client.ws.send(sipRequest({ callId: "after-pong" }));
    const next = readResponse(await client.next());
    expect([next.status, next.headers.get("call-id")?.[0]]).toEqual([200, "after-pong"]);
    client.ws.close(1000);
  });

  it("answers malformed input with 400 and keeps the connection open", async () => {
    const client = await connect();
    client.ws.send(sipRequest({ extraHeaders: ["This line has no colon"] }));
    expect(readResponse(await client.next()).status).toBe(400);
    client.ws.send(new Uint8Array([0, 1, 2, 255, 254, 13, 10, 13, 10]));
    client.ws.send(sipRequest());
    expect(readResponse(await client.next()).status).toBe(200);
    client.ws.close(1000);
  });

  it("keeps serving a socket after the object is evicted (hibernation)", async () => {
    const client = await connect();
    client.ws.send(sipRequest());
    expect(readResponse(await client.next()).status).toBe(200);
    // The shard that holds the socket, evicted for real (an eviction that failed would let this pass).
    const shards = [...Array(16).keys()].map((k) => env.SIP_CONNECTION.get(env.SIP_CONNECTION.idFromName(`shard-${k}`)));
    const held = await Promise.all(shards.map((stub) => runInDurableObject(stub, (_o, state) => state.getWebSockets().length)));
    const owner = shards[held.findIndex((n) => n > 0)];
    expect(owner).toBeDefined();
    await evictDurableObject(owner!);
    client.ws.send(sipRequest());
    const res = readResponse(await client.next());
    expect(res.status).toBe(200);
    expect(res.headers.get("via")?.[0]).toMatch(/;received=127\.0\.0\.9/);
    client.ws.close(1000);
  });
});

describe("WebSocketTransport", () => {
  it("drops an answer to a peer whose socket closed meanwhile instead of failing the route script, and still sends on an open one", async () => {
    const { WebSocketTransport } = await import("../../src/transport/websocket.ts");
    const open = new WebSocketPair();
    open[1].accept();
    const received: string[] = [];
    open[0].accept();
    open[0].addEventListener("message", (e: MessageEvent) => received.push(String(e.data)));
    expect(open[1].readyState).toBe(WebSocket.OPEN);
    expect(WebSocket.OPEN).toBe(1);
    new WebSocketTransport(open[1]).send("SIP/2.0 200 OK\r\n\r\n");

    const gone = new WebSocketPair();
    gone[1].accept();
    gone[1].close(1000, "client gave up");
    expect(gone[1].readyState).not.toBe(WebSocket.OPEN);
    expect(() => gone[1].send("x")).toThrow(/after close/);
    expect(() => new WebSocketTransport(gone[1]).send("SIP/2.0 200 OK\r\n\r\n")).not.toThrow();

    await new Promise((r) => setTimeout(r, 10));
    expect(received).toEqual(["SIP/2.0 200 OK\r\n\r\n"]);
  });
});

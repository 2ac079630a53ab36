// The call floor (bench only, not the product): the least a gateway call can cost in sipedge's
// architecture, the way worker.js is the least a WebSocket message costs. One Durable Object holds
// every client socket and the bridge's link through the hibernation API, as a sipedge shard does,
// and does only what this flow cannot do without:
//   - answers REGISTER 401 then 200, and an INVITE without credentials 407 (no digest is checked);
//   - absorbs the ACK of the 407;
//   - answers an INVITE with credentials 100 and sends it to a gateway over the link, round robin
//     over the ports of the GATEWAYS binding ("7070,7072,7074");
//   - sends the dialog's ACK and BYE to that gateway, and each gateway response to its caller.
// Messages are matched by their Call-ID alone: nothing is parsed beyond the header lines a reply
// copies, no transaction or dialog is kept, nothing is written. Link frames to the bridge are
// `<gateway port>\n<datagram>`; the bridge (call-bridge.mjs) sends what it receives back as one
// message, datagrams joined by "\0" (it batches once per event-loop turn).
//
// SHARDS (default 1) spreads the clients over that many such objects at random, as sipedge's
// CONNECTION_SHARDS does, and the bridge dials one link per object (`/bridge?shard=k`): the floor
// of the link's batching split over shards.
import { DurableObject } from "cloudflare:workers";

const COPIED = /^(via|from|to|call-id|cseq):/i;
const CHALLENGE = 'realm="localhost", nonce="floor", qop="auth", algorithm=MD5';

/** The header block's lines a response copies from its request (RFC 3261 §8.2.6.2). */
function reply(request, status, extra = "") {
  const head = request.slice(0, request.indexOf("\r\n\r\n"));
  let out = `SIP/2.0 ${status}\r\n`;
  for (const line of head.split("\r\n").slice(1)) {
    if (!COPIED.test(line)) continue;
    out += /^to:/i.test(line) && !line.includes(";tag=") ? `${line};tag=floor\r\n` : `${line}\r\n`;
  }
  return `${out}${extra}Content-Length: 0\r\n\r\n`;
}

function callId(message) {
  const at = message.search(/\r\n(call-id|i)\s*:/i);
  if (at < 0) return "";
  const start = message.indexOf(":", at) + 1;
  return message.slice(start, message.indexOf("\r\n", start)).trim();
}

export class CallFloor extends DurableObject {
  /** Call-ID -> { ws: the caller, port: its gateway } for every call sent to a gateway. */
  calls = new Map();
  challenged = new Set();
  next = 0;
  bridge;
  gateways = String(this.env.GATEWAYS ?? "7070,7072,7074").split(",").map(Number);

  webSocketMessage(ws, message) {
    if (typeof message !== "string") message = new TextDecoder().decode(message);
    this.bridge ??= this.ctx.getWebSockets("bridge")[0]; // after hibernation
    if (ws === this.bridge) {
      for (const datagram of message.split("\0")) this.fromGateway(datagram);
      return;
    }
    const id = callId(message);
    if (message.startsWith("REGISTER ")) {
      ws.send(message.includes("\r\nAuthorization:") ? reply(message, "200 OK") : reply(message, "401 Unauthorized", `WWW-Authenticate: Digest ${CHALLENGE}\r\n`));
    } else if (message.startsWith("INVITE ") && !message.includes("\r\nProxy-Authorization:")) {
      this.challenged.add(id);
      ws.send(reply(message, "407 Proxy Authentication Required", `Proxy-Authenticate: Digest ${CHALLENGE}\r\n`));
    } else if (message.startsWith("ACK ") && this.challenged.delete(id)) {
      // the ACK of the 407: hop by hop, it ends here
    } else if (message.startsWith("INVITE ")) {
      const port = this.gateways[this.next++ % this.gateways.length];
      this.calls.set(id, { ws, port });
      ws.send(reply(message, "100 Trying"));
      this.toGateway(port, message);
    } else {
      const call = this.calls.get(id);
      if (call) this.toGateway(call.port, message);
    }
  }

  toGateway(port, message) {
    this.bridge?.send(`${port}\n${message}`);
  }

  fromGateway(response) {
    const id = callId(response);
    const call = this.calls.get(id);
    if (!call || response.startsWith("SIP/2.0 100 ")) return;
    call.ws.send(response);
    if (/\r\nCSeq:\s*\d+\s+BYE\r\n/i.test(response)) this.calls.delete(id);
  }

  webSocketClose(ws, code) {
    if (ws === this.bridge) this.bridge = undefined;
    ws.close(code === 1005 || code === 1006 ? 1000 : code, "bye");
  }

  fetch(request) {
    const bridge = new URL(request.url).pathname === "/bridge";
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, bridge ? ["bridge"] : []);
    if (bridge) this.bridge = server;
    return new Response(null, { status: 101, webSocket: client, headers: { "Sec-WebSocket-Protocol": "sip" } });
  }
}

export default {
  fetch(request, env) {
    if (request.headers.get("Upgrade") !== "websocket") return new Response("call floor\n");
    const shards = Number(env.SHARDS ?? 1);
    const url = new URL(request.url);
    const shard = url.pathname === "/bridge" ? Number(url.searchParams.get("shard") ?? 0) : Math.floor(Math.random() * shards);
    return env.FLOOR.get(env.FLOOR.idFromName(shard === 0 ? "floor" : `floor-${shard}`)).fetch(request);
  },
};

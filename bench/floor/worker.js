// The runtime floor (bench only, not the product): the least a JavaScript-handled WebSocket
// message can cost in workerd. One Durable Object holds every socket through the hibernation
// API, as a sipedge shard does, and its handler only sends the message back: a round trip here
// is the runtime's frame in, event dispatch into the isolate and `ws.send`, with no SIP work.
import { DurableObject } from "cloudflare:workers";

export class Echo extends DurableObject {
  webSocketMessage(ws, message) {
    ws.send(message);
  }

  webSocketClose(ws, code) {
    // Complete the close handshake (a 1005/1006 close carries no code to echo back).
    ws.close(code === 1005 || code === 1006 ? 1000 : code, "bye");
  }

  fetch() {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client, headers: { "Sec-WebSocket-Protocol": "sip" } });
  }
}

export default {
  fetch(request, env) {
    if (request.headers.get("Upgrade") !== "websocket") return new Response("echo floor\n");
    return env.ECHO.get(env.ECHO.idFromName("floor")).fetch(request);
  },
};

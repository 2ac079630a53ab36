// Object-map prototype worker (bench only, not the product): the same SIP work done under
// three Durable Object maps, chosen per connection by the query string.
//   map=A  one SipConnection object per client socket; the bridge link lives in BridgeHub.
//          Gateway leg: client DO -> RPC -> hub -> bridge; replies hub -> RPC -> client DO.
//   map=B  N shard objects (SipConnection "shard-k") each holding many client sockets and its
//          own bridge link (/bridge?shard=k): a gateway leg never leaves the object.
//   map=C  clients in shards as B, bridge link in the hub as A: B plus the hop, to price it.
// reg=write|cache picks the REGISTER variant (binding written through Location, or a refresh
// answered from the connection object's cache).
import { DurableObject } from "cloudflare:workers";
import { addVia, flowOf, methodOf, popVia } from "./sip-lite.js";
import { RegistrarCache, handleRegister } from "./registrar-lite.js";

const decoder = new TextDecoder();
const text = (data) => (typeof data === "string" ? data : decoder.decode(data));

function upgraded(client) {
  return new Response(null, { status: 101, webSocket: client, headers: { "Sec-WebSocket-Protocol": "sip" } });
}

function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(6));
  let s = "";
  for (const x of b) s += x.toString(36);
  return s;
}

export class SipConnection extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.cache = new RegistrarCache();
    this.socks = new Map(); // connId -> client socket (rebuilt from tags after a wake-up)
    this.atts = new WeakMap(); // socket -> attachment, so a message costs no deserialize
    this.bridgeWs = null;
    this.hub = null;
    this.txn = 0;
    // RFC 5626 §4.4.1 CRLF keep-alive answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("\r\n\r\n", "\r\n"));
  }

  async fetch(request) {
    const url = new URL(request.url);
    const [client, server] = Object.values(new WebSocketPair());
    if (url.pathname === "/bridge") {
      this.ctx.acceptWebSocket(server, ["bridge"]);
      server.serializeAttachment({ bridge: true });
      this.bridgeWs = server;
      return upgraded(client);
    }
    const map = url.searchParams.get("map") ?? "A";
    const connId = randomId();
    // The flow token names the object (map A: its id) or the shard and the socket inside it.
    const flow = map === "A" ? "a" + this.ctx.id.toString() : "s" + url.searchParams.get("shard") + "-" + connId;
    const att = { bridge: false, flow, connId, map, mode: url.searchParams.get("reg") ?? "cache" };
    this.ctx.acceptWebSocket(server, ["conn:" + connId]);
    server.serializeAttachment(att);
    this.atts.set(server, att);
    this.socks.set(connId, server);
    return upgraded(client);
  }

  attOf(ws) {
    let a = this.atts.get(ws);
    if (a === undefined) {
      a = ws.deserializeAttachment();
      this.atts.set(ws, a);
      if (a.bridge) this.bridgeWs = ws;
      else this.socks.set(a.connId, ws);
    }
    return a;
  }

  async webSocketMessage(ws, data) {
    const msg = text(data);
    const att = this.attOf(ws);
    if (att.bridge) return this.fromBridge(msg);
    const method = methodOf(msg);
    if (method === "REGISTER") {
      ws.send(await handleRegister({ cache: this.cache, env: this.env, flow: att.flow, mode: att.mode }, msg));
      return;
    }
    if (method === "") return; // responses from clients do not occur in this workload
    const out = addVia(msg, att.flow + "." + (++this.txn).toString(36), method === "INVITE");
    if (att.map === "B") this.bridgeLink().send(out);
    else await this.hubStub().toBridge(out);
  }

  /** Map B: a reply from this shard's own bridge link. */
  fromBridge(msg) {
    const v = popVia(msg);
    if (v === null) return;
    const flow = flowOf(v.token);
    this.deliver(flow.slice(flow.indexOf("-") + 1), v.rest);
  }

  /** RPC from the hub (maps A and C), or local call (map B). connId "" = the only socket. */
  deliver(connId, msg) {
    const ws = this.socketFor(connId);
    if (ws === undefined) return false; // the real edge answers 430 Flow Failed (RFC 5626)
    ws.send(msg);
    return true;
  }

  socketFor(connId) {
    if (connId === "") {
      for (const ws of this.socks.values()) return ws;
      const all = this.ctx.getWebSockets().filter((w) => !this.attOf(w).bridge);
      return all[0];
    }
    const ws = this.socks.get(connId);
    if (ws !== undefined) return ws;
    const found = this.ctx.getWebSockets("conn:" + connId)[0];
    if (found !== undefined) this.attOf(found);
    return found;
  }

  bridgeLink() {
    this.bridgeWs ??= this.ctx.getWebSockets("bridge")[0] ?? null;
    if (this.bridgeWs === null) throw new Error("no bridge link in this shard");
    return this.bridgeWs;
  }

  hubStub() {
    this.hub ??= this.env.BRIDGE_HUB.get(this.env.BRIDGE_HUB.idFromName("hub"));
    return this.hub;
  }

  webSocketClose(ws, code, reason) {
    const a = this.attOf(ws);
    if (a.bridge) this.bridgeWs = null;
    else this.socks.delete(a.connId);
    try { ws.close(code, reason); } catch { /* already closed */ }
  }
}

export class BridgeHub extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.link = null;
    this.stubs = new Map(); // object name/id -> stub, so a reply does not rebuild one
  }

  async fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, ["bridge"]);
    this.link = server;
    return upgraded(client);
  }

  /** RPC from a connection object: put a request on the bridge link. */
  toBridge(msg) {
    this.link ??= this.ctx.getWebSockets("bridge")[0] ?? null;
    if (this.link === null) throw new Error("no bridge link");
    this.link.send(msg);
  }

  webSocketMessage(_ws, data) {
    const v = popVia(text(data));
    if (v === null) return;
    const flow = flowOf(v.token);
    const ns = this.env.SIP_CONNECTION;
    if (flow.startsWith("a")) {
      let stub = this.stubs.get(flow);
      if (stub === undefined) this.stubs.set(flow, (stub = ns.get(ns.idFromString(flow.slice(1)))));
      return stub.deliver("", v.rest);
    }
    const dash = flow.indexOf("-");
    const shard = flow.slice(1, dash);
    let stub = this.stubs.get(shard);
    if (stub === undefined) this.stubs.set(shard, (stub = ns.get(ns.idFromName("shard-" + shard))));
    return stub.deliver(flow.slice(dash + 1), v.rest);
  }

  webSocketClose(ws, code, reason) {
    this.link = null;
    try { ws.close(code, reason); } catch { /* already closed */ }
  }
}

export class Location extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.version = 0;
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS location (contact TEXT PRIMARY KEY, aor TEXT, expires INTEGER, flow TEXT)");
  }

  /** Write one binding (one SQLite commit) and return the binding-set version. */
  save(aor, contact, expires, flow) {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO location VALUES (?, ?, ?, ?)", contact, aor, expires, flow);
    return ++this.version;
  }
}

let nextShard = 0;

export default {
  async fetch(request, env) {
    if (request.headers.get("Upgrade") !== "websocket") return new Response("sipedge objmap bench\n");
    const url = new URL(request.url);
    const conns = env.SIP_CONNECTION;
    if (url.pathname === "/bridge") {
      const shard = url.searchParams.get("shard");
      if (shard === null) return env.BRIDGE_HUB.get(env.BRIDGE_HUB.idFromName("hub")).fetch(request);
      return conns.get(conns.idFromName("shard-" + shard)).fetch(request);
    }
    if ((url.searchParams.get("map") ?? "A") === "A") return conns.get(conns.newUniqueId()).fetch(request);
    // Round robin per isolate spreads the bench's clients evenly; README discusses the choice.
    const k = nextShard++ % Number(env.SHARDS);
    url.searchParams.set("shard", String(k));
    return conns.get(conns.idFromName("shard-" + k)).fetch(new Request(url, request));
  },
};

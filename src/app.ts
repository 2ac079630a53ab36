import { Hono } from "hono";
import { admin } from "./admin/index.ts";
import { metrics } from "./metrics/route.ts";
import { dashboard } from "./dashboard/route.ts";
import { phone } from "./phone/index.ts";
import { bearerAuth } from "./admin/auth.ts";
import { BRIDGE_SUBPROTOCOL, chooseSubprotocol } from "./transport/bridge.ts";
import { configFor } from "./config.ts";
import type { Env } from "./env.ts";
import { checkUpgrade } from "./transport/websocket.ts";
import { AUTH_WATCH_HEADER, BRIDGE_HEADER, CLIENT_IP_HEADER, SHARD_HEADER } from "../durable-objects/sip-connection.ts";

/**
 * The Worker's HTTP side (hono): SIP over WebSocket, the bridge link, the admin API, metrics,
 * the dashboard and the browser phone.
 */
const app = new Hono<{ Bindings: Env }>();

/**
 * SIP over WebSocket (RFC 7118). The socket lives in one SipConnection shard chosen at random:
 * a client's user is not known at connect time, and hashing its address would pile every client
 * behind one carrier NAT into one object (bench/objmap/README.md). Per-address limits therefore
 * belong to a per-address object, not to the shard.
 */
app.get("/", async (c) => {
  const config = configFor(c.env);
  const check = checkUpgrade(c.req.raw.headers, config);
  if (!check.ok) return c.text(check.message, check.status as 400 | 403 | 426);
  const ip = c.req.header("CF-Connecting-IP") ?? "0.0.0.0";
  const shard = Math.floor(Math.random() * config.connectionShards);
  // The shard admits or refuses the address (banned: 403; at its connection cap: 429) before
  // any socket exists for it (SipConnection.fetch).
  const stub = c.env.SIP_CONNECTION.get(c.env.SIP_CONNECTION.idFromName(`shard-${shard}`));
  const headers = new Headers(c.req.raw.headers);
  headers.delete(BRIDGE_HEADER); // a client can never pose as a bridge link
  headers.set(CLIENT_IP_HEADER, ip);
  headers.delete(AUTH_WATCH_HEADER); // the shards know watched addresses from the Guards
  headers.set(SHARD_HEADER, String(shard));
  return stub.fetch(new Request(c.req.raw.url, { method: "GET", headers }));
});

app.get("/health", (c) => c.text("ok"));

/**
 * The bridge link (bridge/README.md): a bridge asks for the shard count, then dials one link per
 * shard, so a gateway call stays inside the object that holds the caller's socket.
 */
const bridgeAuth = bearerAuth((env) => env.BRIDGE_SECRET, "the bridge link is closed: no BRIDGE_SECRET is configured", 'Bearer realm="sipedge bridge"');

app.get("/bridge/shards", bridgeAuth, (c) => c.json({ shards: configFor(c.env).connectionShards }));

app.get("/bridge", bridgeAuth, async (c) => {
  const config = configFor(c.env);
  if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") return c.text("bridge link: WebSocket upgrade required", 426);
  if (chooseSubprotocol(c.req.header("Sec-WebSocket-Protocol")) === undefined) return c.text(`bridge link: subprotocol ${BRIDGE_SUBPROTOCOL} required`, 400);
  const shard = Number(c.req.query("shard"));
  const bridge = c.req.query("bridge") ?? "";
  if (!Number.isInteger(shard) || shard < 0 || shard >= config.connectionShards) return c.text("no such shard", 404);
  if (!/^[A-Za-z0-9._~-]{1,64}$/.test(bridge)) return c.text("bridge id must match [A-Za-z0-9._~-]{1,64}", 400);
  const stub = c.env.SIP_CONNECTION.get(c.env.SIP_CONNECTION.idFromName(`shard-${shard}`));
  const headers = new Headers(c.req.raw.headers);
  headers.set(SHARD_HEADER, String(shard));
  headers.set(BRIDGE_HEADER, bridge);
  return stub.fetch(new Request(c.req.raw.url, { method: "GET", headers }));
});

app.route("/admin", admin);
app.route("/metrics", metrics);
app.route("/dashboard", dashboard);
// The browser phone: the page and its settings.
app.route("/phone", phone);

export default app;

import { Hono } from "hono";
import { admin } from "./admin/index.ts";
import { configFor } from "./config.ts";
import type { Env } from "./env.ts";
import { checkUpgrade } from "./transport/websocket.ts";
import { CLIENT_IP_HEADER, SHARD_HEADER } from "../durable-objects/sip-connection.ts";

export { Location } from "../durable-objects/location.ts";
export { SipConnection } from "../durable-objects/sip-connection.ts";

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
  const stub = c.env.SIP_CONNECTION.get(c.env.SIP_CONNECTION.idFromName(`shard-${shard}`));
  const headers = new Headers(c.req.raw.headers);
  headers.set(CLIENT_IP_HEADER, ip);
  headers.set(SHARD_HEADER, String(shard));
  return stub.fetch(new Request(c.req.raw.url, { method: "GET", headers }));
});

app.get("/health", (c) => c.text("ok"));

app.route("/admin", admin);

export default app;

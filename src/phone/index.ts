/**
 * The browser phone's server side:
 *
 * - `GET /phone`: the page, one HTML file with its script inlined (phone/phone.html and
 *   phone/app.ts with JsSIP, built by scripts/build-phone.mjs into a text module of the bundle).
 *   Not Workers static assets: locally those put a router worker in front of every request,
 *   WebSocket upgrades included, which doubled workerd's CPU per connect (1.0-1.5 ms → 1.9-3.9 ms,
 *   1,000 connects, three interleaved runs).
 * - `GET /phone/config`: the SIP domain, the STUN servers of PHONE_ICE_SERVERS, and whether TURN
 *   is configured. Public: it holds nothing secret.
 * - `POST /phone/turn` with `Authorization: Basic` (the SIP user and password): TURN servers with
 *   time-limited credentials in coturn's shared-secret scheme (`use-auth-secret`): username
 *   `<expiry>:<user>`, password base64(HMAC-SHA1(TURN_SECRET, username)). Only subscribers get
 *   them (a TURN relay is bandwidth anyone would use), and wrong passwords count towards the same
 *   per-user-and-address block as SIP digest failures.
 */
import { Hono } from "hono";
import { configFor } from "../config.ts";
import type { Env } from "../env.ts";
import { md5Hex } from "../modules/auth/md5.ts";
import { pikeKey } from "../modules/pike/index.ts";
import { subscriberCacheFor } from "../provisioning/subscriber-lookup.ts";
import { guardOf } from "../../durable-objects/guard-client.ts";
import { iceServersOf, turnCredentials } from "./ice.ts";
import PHONE_PAGE from "./generated/phone.html";

export const phone = new Hono<{ Bindings: Env }>();

phone.get("/", (c) =>
  c.body(PHONE_PAGE, 200, {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  }),
);

phone.get("/config", (c) => {
  const config = configFor(c.env);
  const ice = iceServersOf(config.phone.iceServers);
  return c.json({ domain: config.domain, iceServers: ice.stun, turn: ice.turn.length > 0 && !!c.env.TURN_SECRET });
});

phone.post("/turn", async (c) => {
  const config = configFor(c.env);
  const ice = iceServersOf(config.phone.iceServers);
  if (ice.turn.length === 0 || !c.env.TURN_SECRET) return c.json({ error: "no TURN server is configured" }, 404);
  const basic = parseBasic(c.req.header("Authorization"));
  if (basic === undefined) {
    return c.json({ error: "Basic credentials of a SIP subscriber required" }, 401, { "WWW-Authenticate": `Basic realm="${config.domain}"` });
  }
  const ip = c.req.header("CF-Connecting-IP") ?? "0.0.0.0";
  const guard = guardOf(c.env.GUARD, pikeKey(ip));
  const blocked = await guard.authBlockCheck({ user: basic.user, source: ip });
  if (blocked.verdict === "block") return c.json({ error: blocked.reason }, 403);
  const subscribers = subscriberCacheFor(c.env.DB, { ttl: config.subscriberCacheTtl * 1000 });
  const secrets = await subscribers.lookup({ username: basic.user, user: basic.user, realm: config.domain });
  const ha1 = md5Hex(`${basic.user}:${config.domain}:${basic.password}`);
  const valid = secrets !== undefined && (secrets.password !== undefined ? secrets.password === basic.password : secrets.ha1 === ha1);
  if (!valid) {
    await guard.authFailure(basic.user, ip);
    return c.json({ error: "wrong user or password" }, 401, { "WWW-Authenticate": `Basic realm="${config.domain}"` });
  }
  const credential = await turnCredentials(c.env.TURN_SECRET, basic.user, config.phone.turnTtl, Date.now());
  return c.json({ iceServers: [{ urls: ice.turn, ...credential }], ttl: config.phone.turnTtl });
});

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? "");
  if (!m) return undefined;
  let text: string;
  try {
    text = new TextDecoder().decode(Uint8Array.from(atob(m[1] as string), (ch) => ch.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = text.indexOf(":");
  if (colon <= 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * Subscriber routes (Kamailio `kamctl add / rm / passwd`), mounted under /admin/subscribers.
 *
 * | route | does |
 * |---|---|
 * | `GET /admin/subscribers?limit=&after=&domain=` | subscribers, by id (no secrets) |
 * | `POST /admin/subscribers[?create=1]` | adds or replaces one: JSON `{username, domain?, password? , ha1?…}`; with `create=1` an existing one is 409 (`kamctl add`) |
 * | `PUT /admin/subscribers/:username/password?domain=` | JSON `{password}`: new password, HA1s recomputed (`kamctl passwd`); 404 if missing |
 * | `DELETE /admin/subscribers/:username?domain=` | removes it (`kamctl rm`); 404 if missing |
 *
 * Every change drops the cached HA1 of that account in this isolate and in every shard
 * (admin/forget-subscribers.ts), so it applies at once whatever SUBSCRIBER_CACHE_TTL is.
 */
import { Hono, type Context } from "hono";
import { configFor } from "../config.ts";
import type { Env } from "../env.ts";
import type { SqlDatabase } from "../provisioning/db.ts";
import { forgetSubscribers } from "./forget-subscribers.ts";
import { listSubscribers, subscriberRow, upsertSubscribers, type SubscriberInput } from "../provisioning/subscriber.ts";

export const subscribersAdmin = new Hono<{ Bindings: Env }>();

function intParam(value: string | undefined, fallback: number, max: number): number | undefined {
  if (value === undefined || value === "") return fallback;
  if (!/^\d{1,9}$/.test(value)) return undefined;
  return Math.min(Number(value), max);
}

async function jsonBody(c: Context): Promise<Record<string, unknown> | undefined> {
  const body = (await c.req.json().catch(() => undefined)) as unknown;
  return typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
}

/** The account a path names: `:username` and `?domain=` (default: the SIP domain). */
function account(c: Context<{ Bindings: Env }>): { username: string; domain: string } {
  return { username: decodeURIComponent(c.req.param("username") ?? ""), domain: (c.req.query("domain") || configFor(c.env).domain).toLowerCase() };
}

async function exists(db: SqlDatabase, username: string, domain: string): Promise<boolean> {
  return (await db.prepare("SELECT 1 AS x FROM subscriber WHERE username = ? AND domain = ?").bind(username, domain).first()) !== null;
}

subscribersAdmin.get("/", async (c) => {
  const limit = intParam(c.req.query("limit"), 100, 1000);
  const after = intParam(c.req.query("after"), 0, Number.MAX_SAFE_INTEGER);
  if (limit === undefined || after === undefined) return c.json({ error: "limit and after must be non-negative integers" }, 400);
  const domain = c.req.query("domain");
  const subscribers = await listSubscribers(c.env.DB, { limit, after, ...(domain ? { domain: domain.toLowerCase() } : {}) });
  const last = subscribers[subscribers.length - 1];
  return c.json({ subscribers, next: subscribers.length === limit && last ? last.id : null });
});

subscribersAdmin.post("/", async (c) => {
  const body = await jsonBody(c);
  if (body === undefined) return c.json({ error: { field: "body", reason: "not a JSON object" } }, 400);
  const checked = subscriberRow(body as SubscriberInput, configFor(c.env).domain);
  if (!checked.ok) return c.json({ error: { field: checked.field, reason: checked.reason } }, 400);
  const db: SqlDatabase = c.env.DB;
  const { username, domain } = checked.row;
  if (c.req.query("create") === "1" && (await exists(db, username, domain))) {
    return c.json({ error: { field: "username", reason: `${username}@${domain} exists already (use passwd to change its password)` } }, 409);
  }
  await db.batch(upsertSubscribers(db, [checked.row]));
  const caches = await forgetSubscribers(c.env, [{ user: username, domain }]);
  return c.json({ username, domain, caches }, 201);
});

subscribersAdmin.put("/:username/password", async (c) => {
  const { username, domain } = account(c);
  const body = await jsonBody(c);
  if (body === undefined || typeof body.password !== "string" || body.password === "") {
    return c.json({ error: { field: "password", reason: "expected JSON {password: non-empty string}" } }, 400);
  }
  const db: SqlDatabase = c.env.DB;
  if (!(await exists(db, username, domain))) return c.json({ error: { field: "username", reason: `no subscriber ${username}@${domain}` } }, 404);
  const checked = subscriberRow({ username, domain, password: body.password }, domain);
  if (!checked.ok) return c.json({ error: { field: checked.field, reason: checked.reason } }, 400);
  await db.batch(upsertSubscribers(db, [checked.row]));
  const caches = await forgetSubscribers(c.env, [{ user: username, domain }]);
  return c.json({ username, domain, password: "changed", caches });
});

subscribersAdmin.delete("/:username", async (c) => {
  const { username, domain } = account(c);
  const db: SqlDatabase = c.env.DB;
  if (!(await exists(db, username, domain))) return c.json({ error: { field: "username", reason: `no subscriber ${username}@${domain}` } }, 404);
  await db.prepare("DELETE FROM subscriber WHERE username = ? AND domain = ?").bind(username, domain).run();
  const caches = await forgetSubscribers(c.env, [{ user: username, domain }]);
  return c.json({ username, domain, removed: true, caches });
});

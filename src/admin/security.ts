/**
 * Security at the edge (issue 5): the Worker's admission check for new WebSocket connections,
 * and the admin routes over Guards and permissions (mounted under /admin, bearer-protected).
 *
 * | route | does |
 * |---|---|
 * | `GET /admin/guard/:ip` | the address's Guard: ban, connections per shard, pike counters, auth failures (`pike.top`, `htable.dump`) |
 * | `DELETE /admin/ipban/:ip` | lifts a ban and forgets the pike counters (`sht_rm ipban`) |
 * | `DELETE /admin/auth-block/:user/:ip` | forgets one user's failures and block from one address |
 * | `POST /admin/permissions/reload` | recompiles address and trusted from D1 in every shard (`permissions.addressReload`, `trustedReload`); 400 names table, row and column of a bad row |
 * | `GET /admin/permissions/address` / `trusted` | compiled entries (`addressDump`, `trustedDump`) |
 */
import { Hono } from "hono";
import { guardOf } from "../../durable-objects/guard.ts";
import type { SipConnection } from "../../durable-objects/sip-connection.ts";
import { configFor, type Config } from "../config.ts";
import type { Env } from "../env.ts";
import { compilePermissionsFromD1 } from "../modules/permissions/script.ts";
import { parseIp } from "../modules/permissions/ip.ts";
import { pikeKey } from "../modules/pike/index.ts";
import { isMyself } from "../routing/context.ts";

export type Admission = { ok: true; watched: boolean } | { ok: false; status: 403 | 429; message: string };

const OPEN: Admission = Object.freeze({ ok: true, watched: false });

/**
 * One RPC per connect to the address's Guard (DESIGN.md §3 allows it; messages never pay it).
 * The proxy's own addresses are not guarded (the seed's `src_ip != myself`). Fails open: a Guard
 * that cannot be reached must not take the edge down with it.
 */
export async function admitConnection(env: Env, config: Config, ip: string, shard: number): Promise<Admission> {
  if (isMyself(config, ip)) return OPEN;
  try {
    const verdict = await guardOf(env.GUARD, pikeKey(ip)).admit(String(shard));
    if (verdict.ok) return { ok: true, watched: verdict.watched };
    // The same terse answers a scanner gets everywhere else: no reason beyond the status.
    return verdict.reason === "banned" ? { ok: false, status: 403, message: "Forbidden" } : { ok: false, status: 429, message: "Too many connections" };
  } catch {
    return OPEN;
  }
}

export const securityAdmin = new Hono<{ Bindings: Env }>();

/** An address as given in a path (`192.0.2.1`, `2001:db8::1`); undefined when it is not one. */
function addressParam(raw: string): string | undefined {
  const ip = decodeURIComponent(raw).replace(/^\[|\]$/g, "");
  return parseIp(ip) === undefined ? undefined : ip;
}

securityAdmin.get("/guard/:ip", async (c) => {
  const ip = addressParam(c.req.param("ip"));
  if (ip === undefined) return c.json({ error: "not an IP address" }, 400);
  return c.json(await guardOf(c.env.GUARD, pikeKey(ip)).status());
});

securityAdmin.delete("/ipban/:ip", async (c) => {
  const ip = addressParam(c.req.param("ip"));
  if (ip === undefined) return c.json({ error: "not an IP address" }, 400);
  await guardOf(c.env.GUARD, pikeKey(ip)).unban();
  return c.json({ key: pikeKey(ip), banned: false });
});

securityAdmin.delete("/auth-block/:user/:ip", async (c) => {
  const ip = addressParam(c.req.param("ip"));
  if (ip === undefined) return c.json({ error: "not an IP address" }, 400);
  const user = decodeURIComponent(c.req.param("user")).toLowerCase();
  await guardOf(c.env.GUARD, pikeKey(ip)).unblock(user, ip);
  return c.json({ user, key: pikeKey(ip), blocked: false });
});

securityAdmin.post("/permissions/reload", async (c) => {
  const compiled = await compilePermissionsFromD1(c.env.DB);
  if (!compiled.ok) return c.json({ error: compiled.error }, 400);
  const shards = configFor(c.env).connectionShards;
  const ns = c.env.SIP_CONNECTION;
  const results = await Promise.all(
    Array.from({ length: shards }, (_, i) => (ns.get(ns.idFromName(`shard-${i}`)) as DurableObjectStub<SipConnection>).security({ kind: "reload-permissions" })),
  );
  return c.json({
    shards: results.filter((r) => r === 1).length,
    address: compiled.value.addresses.dump().length,
    trusted: compiled.value.trusted.dump().length,
  });
});

securityAdmin.get("/permissions/address", async (c) => {
  const compiled = await compilePermissionsFromD1(c.env.DB);
  if (!compiled.ok) return c.json({ error: compiled.error }, 400);
  return c.json({ address: compiled.value.addresses.dump() });
});

securityAdmin.get("/permissions/trusted", async (c) => {
  const compiled = await compilePermissionsFromD1(c.env.DB);
  if (!compiled.ok) return c.json({ error: compiled.error }, 400);
  return c.json({ trusted: compiled.value.trusted.dump() });
});

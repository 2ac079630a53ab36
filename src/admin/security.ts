/**
 * Security admin routes (issue 5) over Guards and permissions, mounted under /admin and
 * bearer-protected. (Admission of new WebSocket connections happens in the shard:
 * SipConnection.fetch and guard-client.ts.)
 *
 * | route | does |
 * |---|---|
 * | `GET /admin/guard/:ip` | the address's Guard: ban, connections per shard, pike counters, auth failures (`pike.top`, `htable.dump`) |
 * | `DELETE /admin/ipban/:ip` | lifts a ban and forgets the pike counters (`sht_rm ipban`) |
 * | `DELETE /admin/auth-block/:user/:ip` | forgets one user's failures and block from one address |
 * | `POST /admin/permissions/reload` | recompiles address, trusted and the rule files from D1 in every shard (`permissions.addressReload`, `trustedReload`); 400 names table/file, row/line and column/field |
 * | `GET /admin/permissions/address` / `trusted` | compiled entries (`addressDump`, `trustedDump`) |
 * | `GET /admin/permissions/rules` | the stored `.allow` / `.deny` files: name, rule count, last import |
 *
 * Rule files are loaded with `POST /admin/import?file=NAME.allow` (admin/index.ts), which
 * reloads the shards as the reload route does.
 */
import { Hono } from "hono";
import { guardOf } from "../../durable-objects/guard.ts";
import type { SipConnection } from "../../durable-objects/sip-connection.ts";
import { configFor } from "../config.ts";
import type { Env } from "../env.ts";
import type { ConfigError } from "../modules/permissions/config-error.ts";
import { compilePermissionsFromD1 } from "../modules/permissions/script.ts";
import { parseIp } from "../modules/permissions/ip.ts";
import { pikeKey } from "../modules/pike/index.ts";

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

export interface PermissionsReload {
  /** Shards that compiled and swapped in the new rules. */
  shards: number;
  address: number;
  trusted: number;
  rules: string[];
}

/**
 * Compiles address, trusted and the rule files from D1 once here (so an error is reported with
 * its file, line and field before any shard is asked), then has every shard swap them in
 * (`permissions.addressReload`, `trustedReload`, and the rule files with them).
 */
export async function reloadPermissions(env: Env): Promise<{ ok: true; value: PermissionsReload } | { ok: false; error: ConfigError }> {
  const compiled = await compilePermissionsFromD1(env.DB);
  if (!compiled.ok) return compiled;
  const ns = env.SIP_CONNECTION;
  const results = await Promise.all(
    Array.from({ length: configFor(env).connectionShards }, (_, i) =>
      (ns.get(ns.idFromName(`shard-${i}`)) as DurableObjectStub<SipConnection>).security({ kind: "reload-permissions" }),
    ),
  );
  const p = compiled.value;
  return { ok: true, value: { shards: results.filter((r) => r === 1).length, address: p.addresses.dump().length, trusted: p.trusted.dump().length, rules: p.ruleFileNames() } };
}

securityAdmin.post("/permissions/reload", async (c) => {
  const reloaded = await reloadPermissions(c.env);
  return reloaded.ok ? c.json(reloaded.value) : c.json({ error: reloaded.error }, 400);
});

securityAdmin.get("/permissions/rules", async (c) => {
  const { results } = await c.env.DB.prepare("SELECT name, rules, updated_at FROM permissions_rules ORDER BY name").all<{ name: string; rules: number; updated_at: string }>();
  return c.json({ rules: results });
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

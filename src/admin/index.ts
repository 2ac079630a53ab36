/**
 * The admin API, mounted at /admin (DESIGN.md §4): what operators do with `kamcmd` /
 * `kamctl` / `opensips-cli`, over HTTP with a bearer token (auth.ts).
 *
 * | route | does |
 * |---|---|
 * | `POST /admin/import?table=T` or `?file=NAME` | loads a db_text file (subscriber, location (definition), aliases, version (checked), dispatcher, address, trusted), a dispatcher.list, or a permissions `NAME.allow` / `NAME.deny` file (reloaded in every shard); body = the file |
 * | `GET /admin/location/:aor` | the AOR's live bindings (`kamcmd ul.show`) |
 * | `DELETE /admin/location/:aor` | removes them (`kamcmd ul.rm`) |
 * | `/admin/subscribers...` | see subscribers.ts |
 * | `/admin/dispatcher...` | see dispatcher.ts |
 * | `/admin/location`, `/admin/bans`, `/admin/htable/:table`, `/admin/stats`, `/admin/acc` | see ops.ts |
 * | `GET /admin/openapi.json` | the OpenAPI 3.1 document of all of these (openapi.ts) |
 * | `/admin/uac...` | carrier registrations (`uac.reg_dump` ...): see uac.ts |
 */
import { Hono } from "hono";
import { locationOf } from "../../durable-objects/location.ts";
import { configFor } from "../config.ts";
import type { Env } from "../env.ts";
import { IMPORT_FORMATS, importText, type ImportFormat } from "../provisioning/import.ts";
import { aliasCacheFor } from "../provisioning/alias-lookup.ts";
import { adminAuth } from "./auth.ts";
import { dispatcherAdmin } from "./dispatcher.ts";
import { forgetSubscribers } from "./forget-subscribers.ts";
import { reloadPermissions, securityAdmin } from "./security.ts";
import { opsAdmin } from "./ops.ts";
import { openapi } from "./openapi.ts";
import { subscribersAdmin } from "./subscribers.ts";
import { uacAdmin } from "./uac.ts";
import { startRegistrations } from "../../durable-objects/uac-service.ts";
import { uacLookupFor } from "../provisioning/uac-lookup.ts";

export const admin = new Hono<{ Bindings: Env }>();

admin.use("*", adminAuth);
admin.route("/dispatcher", dispatcherAdmin);
admin.route("/subscribers", subscribersAdmin);
admin.route("/uac", uacAdmin);
admin.route("/", securityAdmin);
admin.route("/", opsAdmin);
admin.get("/openapi.json", (c) => c.json(openapi));

admin.post("/import", async (c) => {
  const table = c.req.query("table");
  const file = c.req.query("file") ?? table;
  if (file === undefined || file === "") {
    return c.json({ error: { file: "", line: 0, field: "table", reason: `name the table with ?table= or ?file= (${IMPORT_FORMATS.join(", ")})` } }, 400);
  }
  if (table !== undefined && !(IMPORT_FORMATS as readonly string[]).includes(table)) {
    return c.json({ error: { file, line: 0, field: "table", reason: `unknown table; one of ${IMPORT_FORMATS.join(", ")}` } }, 400);
  }
  const started = Date.now();
  const result = await importText(c.env.DB, await c.req.text(), {
    file,
    domain: configFor(c.env).domain,
    ...(table === undefined ? {} : { format: table as ImportFormat }),
  });
  if (!result.ok) return c.json({ error: result.error }, 400);
  // Imported accounts must not be served from this isolate's stale cache entries.
  const caches = result.value.table === "subscriber" ? await forgetSubscribers(c.env, "all") : undefined;
  if (result.value.table === "aliases") aliasCacheFor(c.env.DB).clear();
  // Carrier trunks: numbers, groups and credentials read afresh; imported accounts register at once (uac.reg_reload).
  if (["subscriber", "uacreg", "dbaliases", "grp"].includes(result.value.table)) uacLookupFor(c.env.DB).clear();
  if (result.value.table === "uacreg") await startRegistrations(c.env, true);
  // New destination sets take effect at once (kamcmd dispatcher.reload).
  if (result.value.table === "dispatcher") await c.env.DISPATCHER.get(c.env.DISPATCHER.idFromName("default")).reload();
  // So do rule files (permissions.allow etc.) and the address / trusted tables, compiled together
  // in every shard.
  if (result.value.table === "permissions_rules" || result.value.table === "address" || result.value.table === "trusted") {
    const reloaded = await reloadPermissions(c.env);
    if (!reloaded.ok) return c.json({ error: reloaded.error }, 400);
  }
  return c.json({ ...result.value, ...(caches ? { caches } : {}), ms: Date.now() - started });
});

/** An AOR as the registrar keys it: `user@domain`, lowercased (`aorOf`, case_sensitive 0). */
function aorParam(raw: string): string {
  return raw.replace(/^sips?:/i, "").toLowerCase();
}

admin.get("/location/:aor", async (c) => {
  const aor = aorParam(c.req.param("aor"));
  return c.json(await locationOf(c.env.LOCATION, aor).bindings());
});

admin.delete("/location/:aor", async (c) => {
  const aor = aorParam(c.req.param("aor"));
  return c.json(await locationOf(c.env.LOCATION, aor).clear());
});

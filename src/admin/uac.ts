/**
 * Admin routes of the uac module (Kamailio's `uac.*` RPC commands), mounted at /admin/uac:
 *
 * | route | does (Kamailio) |
 * |---|---|
 * | `GET /admin/uac/registrations` | every `uacreg` row (passwords shown only as `[set]`) with its registration state (`uac.reg_dump`) |
 * | `GET /admin/uac/registrations/:l_uuid` | one of them (`uac.reg_info l_uuid ...`) |
 * | `POST /admin/uac/reload` | registers every row again at once (`uac.reg_reload`) |
 * | `POST /admin/uac/refresh/:l_uuid` | registers one row again at once (`uac.reg_refresh`) |
 * | `POST /admin/uac/unregister/:l_uuid` | REGISTER with Expires 0, then idle until a reload (`uac.reg_unregister`) |
 * | `DELETE /admin/uac/registrations/:l_uuid` | unregisters and deletes the row (`uac.reg_remove`) |
 * | `GET /admin/uac/stats` | Kamailio's counters `regtotal`, `regactive`, `regdisabled` |
 *
 * `uacRegStats` gives Kamailio's counters (regtotal, regactive, regdisabled) to /metrics too
 * (src/metrics/scrape.ts).
 */
import { Hono } from "hono";
import { startRegistrations } from "../../durable-objects/uac-service.ts";
import { uacRegistrationOf, type RegInfo } from "../../durable-objects/uac-registration.ts";
import type { Env } from "../env.ts";
import { redacted, type UacRegRow } from "../modules/uac/uacreg.ts";
import { uacLookupFor } from "../provisioning/uac-lookup.ts";
import { loadUacRegRow, loadUacRegRows } from "../provisioning/uac-tables.ts";

export const uacAdmin = new Hono<{ Bindings: Env }>();

type DumpEntry = ReturnType<typeof redacted> & { registration: RegInfo };

/** Kamailio `uac.reg_dump`: the rows and their registrations' state. */
export async function uacRegDump(env: Env): Promise<DumpEntry[]> {
  const rows = await loadUacRegRows(env.DB);
  return Promise.all(rows.map(async (row) => ({ ...redacted(row), registration: await uacRegistrationOf(env.UAC_REG, row.l_uuid).info() })));
}

/** Kamailio's uac counters: rows that register, those registered now, those disabled. */
export async function uacRegStats(env: Env): Promise<{ regtotal: number; regactive: number; regdisabled: number }> {
  const dump = await uacRegDump(env);
  return {
    regtotal: dump.length,
    regactive: dump.filter((d) => d.registration.state === "registered").length,
    regdisabled: dump.filter((d) => d.registration.state === "disabled").length,
  };
}

uacAdmin.get("/registrations", async (c) => c.json({ registrations: await uacRegDump(c.env) }));

uacAdmin.get("/stats", async (c) => c.json(await uacRegStats(c.env)));

async function oneRow(env: Env, lUuid: string): Promise<UacRegRow | undefined> {
  return loadUacRegRow(env.DB, lUuid);
}

uacAdmin.get("/registrations/:l_uuid", async (c) => {
  const row = await oneRow(c.env, c.req.param("l_uuid"));
  if (row === undefined) return c.json({ error: "no uacreg row with that l_uuid" }, 404);
  return c.json({ ...redacted(row), registration: await uacRegistrationOf(c.env.UAC_REG, row.l_uuid).info() });
});

uacAdmin.post("/reload", async (c) => {
  uacLookupFor(c.env.DB).clear();
  return c.json({ registrations: await startRegistrations(c.env, true) });
});

uacAdmin.post("/refresh/:l_uuid", async (c) => {
  const row = await oneRow(c.env, c.req.param("l_uuid"));
  if (row === undefined) return c.json({ error: "no uacreg row with that l_uuid" }, 404);
  return c.json(await uacRegistrationOf(c.env.UAC_REG, row.l_uuid).ensure(row.l_uuid, true));
});

uacAdmin.post("/unregister/:l_uuid", async (c) => {
  const row = await oneRow(c.env, c.req.param("l_uuid"));
  if (row === undefined) return c.json({ error: "no uacreg row with that l_uuid" }, 404);
  return c.json(await uacRegistrationOf(c.env.UAC_REG, row.l_uuid).unregister());
});

uacAdmin.delete("/registrations/:l_uuid", async (c) => {
  const lUuid = c.req.param("l_uuid");
  const row = await oneRow(c.env, lUuid);
  if (row === undefined) return c.json({ error: "no uacreg row with that l_uuid" }, 404);
  const registration = await uacRegistrationOf(c.env.UAC_REG, lUuid).unregister();
  await c.env.DB.prepare("DELETE FROM uacreg WHERE l_uuid = ?1").bind(lUuid).run();
  uacLookupFor(c.env.DB).clear();
  return c.json({ removed: lUuid, registration });
});

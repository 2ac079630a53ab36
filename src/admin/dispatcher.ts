/**
 * Dispatcher admin routes (Kamailio `kamcmd dispatcher.list`, `dispatcher.reload`,
 * `dispatcher.set_state`), mounted under /admin by index.ts.
 *
 * | route | does |
 * |---|---|
 * | `GET /admin/dispatcher` | sets, destinations, state letters (AP, IP, TX, DX ...) and latency |
 * | `POST /admin/dispatcher/reload` | reads the `dispatcher` table again |
 * | `POST /admin/dispatcher/state` | JSON `{setid, uri, state}`: `ds_mark_dst` letters (a, i, t, d, +p) |
 */
import { Hono } from "hono";
import type { Env } from "../env.ts";
import { kamailioStateLetters } from "../modules/dispatcher/index.ts";

export const dispatcherAdmin = new Hono<{ Bindings: Env }>();

const dispatcherOf = (env: Env) => env.DISPATCHER.get(env.DISPATCHER.idFromName("default"));

dispatcherAdmin.get("/", async (c) => {
  const { version, list } = await dispatcherOf(c.env).snapshot();
  const sets = [...(list?.sets.values() ?? [])].map((set) => ({
    setid: set.id,
    label: set.label,
    destinations: set.destinations.map((d) => ({
      uri: d.uri,
      flags: kamailioStateLetters(d),
      state: d.state,
      priority: d.priority,
      attrs: d.attrs.body,
      description: d.description,
      latency: d.latency && { avg: d.latency.average, est: d.latency.estimate, max: d.latency.max, timeouts: d.latency.timeouts },
    })),
  }));
  return c.json({ version, sets });
});

dispatcherAdmin.post("/reload", async (c) => {
  const result = await dispatcherOf(c.env).reload();
  return "error" in result ? c.json(result, 400) : c.json(result);
});

dispatcherAdmin.post("/state", async (c) => {
  const body = await c.req.json().catch(() => undefined);
  const { setid, uri, state } = (body ?? {}) as { setid?: unknown; uri?: unknown; state?: unknown };
  if (typeof setid !== "number" || typeof uri !== "string" || typeof state !== "string") {
    return c.json({ error: { field: "body", reason: "expected JSON {setid: number, uri: string, state: string}" } }, 400);
  }
  const ok = await dispatcherOf(c.env).markDst(setid, uri, state);
  return ok ? c.json({ setid, uri, state }) : c.json({ error: { field: "uri", reason: "no such destination, or a bad state" } }, 404);
});

/**
 * The operator's dashboard at /dashboard (issue 13): a login form (the admin token is posted once
 * and never appears in a URL), then one page that shows registrations, dispatcher destinations
 * with their latency, bans and auth blocks, and the traffic counters, refreshed every
 * `REFRESH_MS` over server-sent events. No external assets: the page, its script and its style
 * are served from here, under a strict Content-Security-Policy.
 *
 * | route | does |
 * |---|---|
 * | `GET /dashboard` | the page, or the login form without a session |
 * | `POST /dashboard/login` | form field `token`: sets the session cookie (session.ts), 303 to /dashboard |
 * | `POST /dashboard/logout` | clears it |
 * | `GET /dashboard/events` | `text/event-stream`: one JSON snapshot per `REFRESH_MS` (snapshot.ts) |
 * | `GET /dashboard/app.js`, `/dashboard/app.css` | the page's script and style |
 *
 * Lifting a ban calls the admin API with the session cookie and the `X-Sipedge-Dashboard` header.
 */
import { Hono, type Context } from "hono";
import { parseTokens, tokenMatches } from "../admin/auth.ts";
import type { Env } from "../env.ts";
import { APP_CSS, APP_JS, loginPage, mainPage } from "./assets.ts";
import { createSession, sessionClearCookie, sessionCookie, sessionSetCookie, verifySession } from "./session.ts";
import { dashboardSnapshot } from "./snapshot.ts";

export const dashboard = new Hono<{ Bindings: Env }>();

/** How often the page gets a new snapshot. */
export const REFRESH_MS = 2000;
/** A stream ends after this long; EventSource reconnects by itself (bounds a forgotten tab's cost). */
const STREAM_MS = 10 * 60_000;

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function secure(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:";
}

function html(c: Context, body: string, status: 200 | 401 | 503 = 200): Response {
  return c.html(body, status, { "Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer" });
}

async function loggedIn(c: Context<{ Bindings: Env }>): Promise<boolean> {
  return verifySession(sessionCookie(c.req.header("Cookie")), c.env.ADMIN_TOKEN);
}

dashboard.get("/", async (c) => {
  if (parseTokens(c.env.ADMIN_TOKEN).length === 0) return html(c, loginPage("The dashboard is closed: no ADMIN_TOKEN is configured."), 503);
  return (await loggedIn(c)) ? html(c, mainPage()) : html(c, loginPage());
});

dashboard.post("/login", async (c) => {
  const secret = c.env.ADMIN_TOKEN;
  if (parseTokens(secret).length === 0) return html(c, loginPage("The dashboard is closed: no ADMIN_TOKEN is configured."), 503);
  const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
  const token = typeof form["token"] === "string" ? form["token"].trim() : "";
  if (token === "" || !(await tokenMatches(token, secret as string))) return html(c, loginPage("That token is not valid."), 401);
  c.header("Set-Cookie", sessionSetCookie(await createSession(token), secure(c)));
  return c.redirect("/dashboard", 303);
});

dashboard.post("/logout", (c) => {
  c.header("Set-Cookie", sessionClearCookie(secure(c)));
  return c.redirect("/dashboard", 303);
});

dashboard.get("/app.js", (c) => c.body(APP_JS, 200, { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache" }));
dashboard.get("/app.css", (c) => c.body(APP_CSS, 200, { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "no-cache" }));

dashboard.get("/events", async (c) => {
  if (!(await loggedIn(c))) return c.json({ error: "log in at /dashboard" }, 401);
  const env = c.env;
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const encoder = new TextEncoder();
  const started = Date.now();
  const pump = async (): Promise<void> => {
    try {
      await writer.write(encoder.encode(`retry: ${REFRESH_MS}\n\n`));
      while (Date.now() - started < STREAM_MS) {
        const snapshot = await dashboardSnapshot(env).catch((error: unknown) => ({ error: String(error) }));
        await writer.write(encoder.encode(`data: ${JSON.stringify(snapshot)}\n\n`));
        await new Promise((resolve) => setTimeout(resolve, REFRESH_MS));
      }
      await writer.close();
    } catch {
      // The page went away: the write failed, and the loop ends with it.
    }
  };
  c.executionCtx.waitUntil(pump());
  return new Response(readable, { headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no" } });
});

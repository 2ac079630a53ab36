/**
 * GET /metrics: Prometheus text, collected on request (scrape.ts). Readable with a bearer token
 * (ADMIN_TOKEN, or METRICS_TOKEN for a scraper that should hold nothing more), or without one
 * from an address in METRICS_ALLOW_FROM (the client address Cloudflare reports,
 * CF-Connecting-IP). Closed (503) when neither a token nor an allow-list is configured.
 */
import { Hono } from "hono";
import { parseTokens, tokenMatches } from "../admin/auth.ts";
import { configFor } from "../config.ts";
import type { Env } from "../env.ts";
import { parseIp, subnetContains } from "../modules/permissions/ip.ts";
import { CONTENT_TYPE, renderExposition } from "./exposition.ts";
import { collectEdge, edgeFamilies } from "./scrape.ts";

export const metrics = new Hono<{ Bindings: Env }>();

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const REALM = 'Bearer realm="sipedge metrics"';

type Verdict = "allowed" | "closed" | "unauthorized" | "invalid";

async function verdict(env: Env, authorization: string | undefined, clientIp: string | undefined): Promise<Verdict> {
  const secrets = [env.ADMIN_TOKEN, env.METRICS_TOKEN].filter((s): s is string => parseTokens(s).length > 0);
  const allow = configFor(env).metricsAllowFrom;
  if (authorization !== undefined) {
    const m = BEARER.exec(authorization);
    if (m === null) return "invalid";
    for (const secret of secrets) if (await tokenMatches(m[1] as string, secret)) return "allowed";
    return "invalid";
  }
  const ip = clientIp === undefined ? undefined : parseIp(clientIp);
  if (ip !== undefined && allow.some((subnet) => subnetContains(subnet, ip))) return "allowed";
  return secrets.length === 0 && allow.length === 0 ? "closed" : "unauthorized";
}

metrics.get("/", async (c) => {
  const v = await verdict(c.env, c.req.header("Authorization"), c.req.header("CF-Connecting-IP"));
  if (v === "closed") return c.text("metrics closed: set ADMIN_TOKEN or METRICS_TOKEN, or METRICS_ALLOW_FROM\n", 503);
  if (v !== "allowed") {
    c.header("WWW-Authenticate", v === "invalid" ? `${REALM}, error="invalid_token"` : REALM);
    return c.text(v === "invalid" ? "invalid bearer token\n" : "bearer token required (or an address in METRICS_ALLOW_FROM)\n", 401);
  }
  const status = await collectEdge(c.env);
  return c.body(renderExposition(edgeFamilies(status)), 200, { "Content-Type": CONTENT_TYPE, "Cache-Control": "no-store" });
});

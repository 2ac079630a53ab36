/**
 * Bearer-token authentication of the admin API (RFC 6750). The token is the `ADMIN_TOKEN`
 * secret; several comma-separated tokens are all valid, so a rotation puts the new one next to
 * the old, moves the clients, then drops the old. With no token configured the API is closed,
 * never open. Tokens use RFC 6750's b64token characters (letters, digits, `-._~+/`, trailing
 * `=`), so `openssl rand -hex 24` or base64 output works; other characters never match.
 */
import type { MiddlewareHandler } from "hono";
import type { Env } from "../env.ts";
import { CSRF_HEADER, sessionCookie, verifySession } from "../dashboard/session.ts";

const encoder = new TextEncoder();

export function parseTokens(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

// The configured tokens' digests, per secret value (env is the same object within an isolate).
const digests = new Map<string, Promise<Uint8Array[]>>();

function configuredDigests(secret: string): Promise<Uint8Array[]> {
  let d = digests.get(secret);
  if (!d) {
    if (digests.size > 4) digests.clear();
    d = Promise.all(parseTokens(secret).map(digest));
    digests.set(secret, d);
  }
  return d;
}

/**
 * Whether `presented` is one of the tokens, in time that does not depend on where a guess
 * differs or which token matched: both sides are hashed to 32 bytes (so lengths leak nothing)
 * and every configured token is compared in full.
 */
export async function tokenMatches(presented: string, secret: string): Promise<boolean> {
  const [mine, theirs] = await Promise.all([configuredDigests(secret), digest(presented)]);
  let matched = 0;
  for (const d of mine) {
    let diff = 0;
    for (let i = 0; i < d.length; i++) diff |= (d[i] as number) ^ (theirs[i] as number);
    matched |= diff === 0 ? 1 : 0;
  }
  return matched === 1;
}

const CHALLENGE = 'Bearer realm="sipedge admin"';
// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token. Linear: the classes do not overlap.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Hono middleware over one secret: 503 when no token is configured (closed, never open), 401
 * without a valid token.
 */
export function bearerAuth(secretOf: (env: Env) => string | undefined, closedMessage: string, realm = CHALLENGE): MiddlewareHandler<{ Bindings: Env }> {
  return async (c, next) => {
    const secret = secretOf(c.env) ?? "";
    if (parseTokens(secret).length === 0) return c.json({ error: closedMessage }, 503);
    const header = c.req.header("Authorization");
    if (header === undefined) {
      c.header("WWW-Authenticate", realm);
      return c.json({ error: "bearer token required" }, 401);
    }
    const m = BEARER.exec(header);
    if (!m || !(await tokenMatches(m[1] as string, secret))) {
      // RFC 6750 §3.1: error="invalid_token" when the token is wrong.
      c.header("WWW-Authenticate", `${realm}, error="invalid_token"`);
      return c.json({ error: "invalid bearer token" }, 401);
    }
    await next();
  };
}

const adminBearer = bearerAuth(
  (env) => env.ADMIN_TOKEN,
  "the admin API is closed: no ADMIN_TOKEN is configured (npm start: set SIPEDGE_ADMIN_TOKEN)",
);

/**
 * The admin API's guard: the bearer token, or (for the dashboard) a session cookie from its login
 * form; a cookie-authenticated request that changes anything must carry the dashboard's header
 * (src/dashboard/session.ts says why).
 */
export const adminAuth: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  if (c.req.header("Authorization") === undefined && (await verifySession(sessionCookie(c.req.header("Cookie")), c.env.ADMIN_TOKEN))) {
    const reads = c.req.method === "GET" || c.req.method === "HEAD";
    if (!reads && c.req.header(CSRF_HEADER) !== "1") return c.json({ error: `dashboard requests that change state need the ${CSRF_HEADER}: 1 header` }, 403);
    await next();
    return;
  }
  return adminBearer(c, next);
};

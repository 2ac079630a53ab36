/**
 * Dashboard sessions: after the login form, the browser holds a cookie instead of the admin
 * token. The cookie is `v1.<expiry ms>.<HMAC-SHA256 of the expiry keyed with the admin token>`,
 * so it proves the token was known without carrying it, lapses by itself, and dies with the
 * token (rotating ADMIN_TOKEN logs every dashboard out). HttpOnly, SameSite=Strict, Secure
 * over https; state-changing requests must also carry `X-Sipedge-Dashboard: 1`, which a
 * cross-site page cannot send without a CORS preflight that the edge never grants.
 */
import { parseTokens } from "../admin/auth.ts";

export const SESSION_COOKIE = "sipedge_session";
export const CSRF_HEADER = "X-Sipedge-Dashboard";
/** How long a dashboard login lasts. */
export const SESSION_MS = 12 * 60 * 60 * 1000;

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function keyFor(token: string): Promise<CryptoKey> {
  let key = keys.get(token);
  if (key === undefined) {
    if (keys.size > 8) keys.clear();
    key = crypto.subtle.importKey("raw", encoder.encode("sipedge-dashboard\n" + token), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    keys.set(token, key);
  }
  return key;
}

function base64url(bytes: ArrayBuffer): string {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(text)) return undefined;
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** A session value for the token that logged in. */
export async function createSession(token: string, now = Date.now()): Promise<string> {
  const expires = String(now + SESSION_MS);
  const mac = await crypto.subtle.sign("HMAC", await keyFor(token), encoder.encode(expires));
  return `v1.${expires}.${base64url(mac)}`;
}

/** Whether `value` is a live session made with one of the configured tokens. */
export async function verifySession(value: string | undefined, secret: string | undefined, now = Date.now()): Promise<boolean> {
  const m = value === undefined ? null : /^v1\.(\d{13,15})\.([A-Za-z0-9_-]+)$/.exec(value);
  if (m === null) return false;
  const expires = m[1] as string;
  if (Number(expires) <= now || Number(expires) > now + SESSION_MS) return false;
  const mac = fromBase64url(m[2] as string);
  if (mac === undefined) return false;
  let ok = false;
  for (const token of parseTokens(secret)) {
    // subtle.verify compares in constant time.
    if (await crypto.subtle.verify("HMAC", await keyFor(token), mac, encoder.encode(expires))) ok = true;
  }
  return ok;
}

/** The session cookie's value from a Cookie header. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionSetCookie(value: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MS / 1000}${secure ? "; Secure" : ""}`;
}

export function sessionClearCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? "; Secure" : ""}`;
}

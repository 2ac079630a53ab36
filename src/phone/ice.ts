/**
 * ICE servers for the browser phone (RFC 7064 stun:, RFC 7065 turn:/turns: URIs) and TURN's
 * time-limited credentials in the shared-secret scheme coturn implements (`use-auth-secret`,
 * draft-uberti-behave-turn-rest): the username is `<unix expiry>:<user>`, the password
 * base64(HMAC-SHA1(secret, username)), so the TURN server checks it with no call to the edge.
 */
import { fail, ok, type Parsed } from "../sip/result.ts";

export interface IceServers {
  stun: { urls: string[] }[];
  /** turn:/turns: URIs, handed out only with credentials. */
  turn: string[];
}

const ICE_URI = /^(stun|stuns|turn|turns):[A-Za-z0-9.\-[\]:]+(\?transport=(udp|tcp))?$/;

/** Checks PHONE_ICE_SERVERS (comma-separated URIs); the error names the bad entry. */
export function parseIceServers(text: string): Parsed<string[]> {
  const urls = text.split(",").map((u) => u.trim()).filter((u) => u !== "");
  for (const url of urls) if (!ICE_URI.test(url)) return fail(`not a stun:, stuns:, turn: or turns: URI: ${JSON.stringify(url)}`);
  return ok(urls);
}

export function iceServersOf(urls: readonly string[]): IceServers {
  const stun = urls.filter((u) => u.startsWith("stun"));
  return { stun: stun.length > 0 ? [{ urls: stun }] : [], turn: urls.filter((u) => u.startsWith("turn")) };
}

/** Credentials valid until now + ttl seconds. */
export async function turnCredentials(secret: string, user: string, ttlSeconds: number, now: number): Promise<{ username: string; credential: string }> {
  const username = `${Math.floor(now / 1000) + ttlSeconds}:${user}`;
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(username)));
  let binary = "";
  for (const byte of mac) binary += String.fromCharCode(byte);
  return { username, credential: btoa(binary) };
}

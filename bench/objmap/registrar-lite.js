// Digest REGISTER for the object-map prototype: 401 with an HMAC-signed nonce, then verify the
// nonce and the MD5 response (RFC 2617 §3.2.2.1, qop=auth) and save the binding, either
// through the AOR's Location object (write) or from the caller's cache (refresh).
import { REALM, checkNonce, digestParam, header, makeNonce, md5Hex, reply, uriOf } from "./sip-lite.js";

const PASSWORD = "pw"; // every bench subscriber; stands in for a D1 `subscriber` row

/**
 * Per-object registrar cache: HA1 per user and the binding per AOR (what the connection
 * object knows without a hop). One instance per Durable Object.
 */
export class RegistrarCache {
  ha1 = new Map();
  bindings = new Map();
}

async function ha1For(cache, user) {
  let h = cache.ha1.get(user);
  if (h === undefined) {
    h = await md5Hex(user + ":" + REALM + ":" + PASSWORD);
    cache.ha1.set(user, h);
  }
  return h;
}

async function challenge(msg, stale) {
  const nonce = await makeNonce();
  return reply(msg, 401, "Unauthorized",
    'WWW-Authenticate: Digest realm="' + REALM + '", nonce="' + nonce + '", qop="auth", algorithm=MD5' +
    (stale ? ", stale=true" : "") + "\r\n");
}

async function authorized(cache, msg, auth) {
  const user = digestParam(auth, "username");
  const nonce = digestParam(auth, "nonce");
  const verdict = await checkNonce(nonce);
  if (verdict !== "ok") return verdict;
  const ha1 = await ha1For(cache, user);
  const ha2 = await md5Hex("REGISTER:" + digestParam(auth, "uri"));
  const expect = await md5Hex(ha1 + ":" + nonce + ":" + digestParam(auth, "nc") + ":" +
    digestParam(auth, "cnonce") + ":auth:" + ha2);
  return expect === digestParam(auth, "response") ? "ok" : "bad";
}

/**
 * Handle one REGISTER; returns the reply text.
 * @param {{cache: RegistrarCache, env: any, flow: string, mode: "write" | "cache"}} o
 */
export async function handleRegister(o, msg) {
  const auth = header(msg, "Authorization");
  if (auth === "") return challenge(msg, false);
  const verdict = await authorized(o.cache, msg, auth);
  if (verdict === "stale") return challenge(msg, true);
  if (verdict !== "ok") return reply(msg, 403, "Forbidden", "");
  const aor = uriOf(header(msg, "To"));
  const contact = uriOf(header(msg, "Contact"));
  const expires = Number(header(msg, "Expires")) || 600;
  const now = Date.now();
  const known = o.cache.bindings.get(aor);
  // Refresh from the cache when nothing changes and the stored expiry is still far enough
  // ahead; "write" mode stands for a first registration or a changed binding set.
  const fresh = o.mode === "cache" && known !== undefined && known.contact === contact &&
    known.flow === o.flow && known.storedUntil - now > (expires * 1000) / 2;
  if (!fresh) {
    const stub = o.env.LOCATION.get(o.env.LOCATION.idFromName(aor));
    const version = await stub.save(aor, contact, now + expires * 1000, o.flow);
    o.cache.bindings.set(aor, { contact, flow: o.flow, storedUntil: now + expires * 1000, version });
  }
  return reply(msg, 200, "OK", "Contact: <" + contact + ">;expires=" + expires + "\r\n");
}

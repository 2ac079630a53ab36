// Minimal SIP string handling for the object-map prototype. The real parser lives in src/sip;
// this bench measures the cost of the Durable Object map, so it only finds header values by
// plain string search (no regexes, no header arrays) and does the same work in every map.

const enc = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export const REALM = "localhost";
const NONCE_SECRET = "objmap-bench-nonce-secret";
/** Nonces older than this are stale (Kamailio auth `nonce_expire` default is 30 s). */
const NONCE_EXPIRE_MS = 30_000;

/** The value of the first header `name` (canonical spelling, as our peers send it), or "". */
export function header(msg, name) {
  const needle = "\r\n" + name + ":";
  const head = msg.indexOf("\r\n\r\n");
  const at = msg.indexOf(needle);
  if (at < 0 || (head >= 0 && at > head)) return "";
  const end = msg.indexOf("\r\n", at + needle.length);
  return msg.slice(at + needle.length, end < 0 ? undefined : end).trim();
}

/** The method of a request, or "" for a response. */
export function methodOf(msg) {
  if (msg.startsWith("SIP/2.0 ")) return "";
  return msg.slice(0, msg.indexOf(" "));
}

/** A parameter of a digest credential or challenge (`name="v"` or `name=v`). */
export function digestParam(value, name) {
  let at = 0;
  for (;;) {
    at = value.indexOf(name + "=", at);
    if (at < 0) return "";
    const prev = value.charCodeAt(at - 1);
    // Must start a parameter: preceded by a space or a comma, not part of "cnonce".
    if (prev === 32 || prev === 44) break;
    at += name.length;
  }
  let start = at + name.length + 1;
  if (value.charCodeAt(start) === 34) {
    start++;
    return value.slice(start, value.indexOf('"', start));
  }
  let end = value.indexOf(",", start);
  if (end < 0) end = value.length;
  return value.slice(start, end).trim();
}

/**
 * Insert our Via (and for a dialog-forming INVITE a Record-Route) right after the start line.
 * The branch carries the flow token, so the replies name the object and socket that own it
 * (RFC 3261 §16.6 step 8: the proxy inserts its Via with a branch it chooses).
 */
export function addVia(msg, token, recordRoute) {
  const i = msg.indexOf("\r\n") + 2;
  let mine = "Via: SIP/2.0/WSS edge.invalid;branch=z9hG4bK" + token + "\r\n";
  if (recordRoute) mine += "Record-Route: <sip:" + token + "@edge.invalid;transport=ws;lr>\r\n";
  return msg.slice(0, i) + mine + msg.slice(i);
}

/**
 * Remove the top Via of a response (RFC 3261 §16.7 step 3) and return the flow token in its
 * branch, or null when the top Via is not ours.
 */
export function popVia(msg) {
  const at = msg.indexOf("\r\nVia: ");
  if (at < 0) return null;
  const end = msg.indexOf("\r\n", at + 2);
  const b = msg.indexOf(";branch=z9hG4bK", at);
  if (b < 0 || b > end) return null;
  let tEnd = msg.indexOf(";", b + 15);
  if (tEnd < 0 || tEnd > end) tEnd = end;
  return { token: msg.slice(b + 15, tEnd), rest: msg.slice(0, at) + msg.slice(end) };
}

/** The flow part of a token "<flow>.<txn>". */
export function flowOf(token) {
  const dot = token.lastIndexOf(".");
  return dot < 0 ? token : token.slice(0, dot);
}

function hex(buf) {
  const b = new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i]];
  return s;
}

export async function md5Hex(s) {
  return hex(await crypto.subtle.digest("MD5", enc.encode(s)));
}

let hmacKey = null;
function nonceKey() {
  hmacKey ??= crypto.subtle.importKey("raw", enc.encode(NONCE_SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  return hmacKey;
}

/** A stateless nonce: "<time36>.<hex HMAC-SHA256(time36)>" (no per-nonce storage). */
export async function makeNonce() {
  const ts = Date.now().toString(36);
  const sig = await crypto.subtle.sign("HMAC", await nonceKey(), enc.encode(ts));
  return ts + "." + hex(sig);
}

/** @returns "ok" | "stale" | "bad" */
export async function checkNonce(nonce) {
  const dot = nonce.indexOf(".");
  const sigHex = nonce.slice(dot + 1);
  if (dot < 0 || sigHex.length !== 64) return "bad";
  const sig = new Uint8Array(32);
  for (let i = 0; i < 32; i++) sig[i] = parseInt(sigHex.slice(2 * i, 2 * i + 2), 16);
  const ts = nonce.slice(0, dot);
  const good = await crypto.subtle.verify("HMAC", await nonceKey(), sig, enc.encode(ts));
  if (!good) return "bad";
  return Date.now() - parseInt(ts, 36) > NONCE_EXPIRE_MS ? "stale" : "ok";
}

/** Build a response to `req` (copies Via, From, Call-ID, CSeq; adds a To tag). */
export function reply(req, code, reason, extra) {
  let vias = "";
  let at = req.indexOf("\r\nVia: ");
  const head = req.indexOf("\r\n\r\n");
  while (at >= 0 && at < head) {
    const end = req.indexOf("\r\n", at + 2);
    vias += req.slice(at + 2, end) + "\r\n";
    at = req.indexOf("\r\nVia: ", end);
  }
  const to = header(req, "To");
  return "SIP/2.0 " + code + " " + reason + "\r\n" + vias +
    "From: " + header(req, "From") + "\r\n" +
    "To: " + (to.includes(";tag=") ? to : to + ";tag=edge1a2b3c") + "\r\n" +
    "Call-ID: " + header(req, "Call-ID") + "\r\n" +
    "CSeq: " + header(req, "CSeq") + "\r\n" + extra +
    "Server: sipedge-objmap\r\nContent-Length: 0\r\n\r\n";
}

/** The URI inside `<...>` of a name-addr, or the value up to ';'. */
export function uriOf(v) {
  const lt = v.indexOf("<");
  if (lt >= 0) return v.slice(lt + 1, v.indexOf(">", lt));
  const semi = v.indexOf(";");
  return semi < 0 ? v : v.slice(0, semi);
}

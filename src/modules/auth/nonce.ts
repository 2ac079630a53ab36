import { BASE64URL_ALPHABET, encodeBase64url } from "../../util/base64url.ts";
import { HmacSha256 } from "../../util/sha256.ts";

/**
 * Stateless nonces: everything needed to check a nonce is inside it, signed, so any object of
 * the edge can verify one without storage (the job Kamailio's auth module does with its
 * `secret` and `nonce_expire`).
 *
 *   nonce = base64url( expires (4 bytes, Unix seconds, big-endian)
 *                      ‖ issuer (4 bytes: random, drawn once per signer)
 *                      ‖ serial (6 bytes: 1, 2, 3 … in the order this signer issued them)
 *                      ‖ HMAC-SHA256(secret, 0x00 ‖ expires ‖ issuer ‖ serial ‖ realm ‖ 0x00 ‖ bind)[0..16) )
 *
 * 30 bytes, 40 characters. The realm is signed so a nonce from one realm is worthless in
 * another; `bind` (optional) ties it to whatever the caller names, for instance the connection
 * that received the challenge, so that the nonce-count memory of that connection's object sees
 * every use of it (see nonce-count.ts). 128 bits of HMAC are plenty for a value that lives
 * minutes (RFC 2104 §5 allows truncation to half the output).
 *
 * Issuer and serial are for the nonce-count table of the object that issued the nonce: the serial
 * orders its nonces exactly (a clock second holds thousands), and a nonce of any other issuer (an
 * earlier incarnation of the object, another isolate or shard with the same secret) is not one
 * whose uses that table has seen. They need not be secret: the MAC makes them unforgeable.
 *
 * The leading 0x00 of the signed text separates this format from the 28-byte one before it
 * (expires ‖ 8 random bytes ‖ MAC, signed without the tag), whose signed text starts with the
 * expiry's high byte (0 only before July 1970): no MAC of one format is valid for the other. A
 * nonce of the old format does not decode (38 characters), which a correct digest over it turns
 * into stale=true, so clients challenged before an upgrade re-authenticate once.
 *
 * Secrets rotate: the signer holds the current secret and optionally the previous one; nonces
 * are signed with the current one and accepted under either, so a rotation does not turn every
 * in-flight challenge into a failure.
 */

export interface NonceSecrets {
  current: string;
  previous?: string;
}

export type NonceCheck =
  | {
      ok: true;
      expiresAt: number;
      expired: boolean;
      /** Its place in this signer's issue order; undefined when another signer issued it. */
      serial: number | undefined;
    }
  | { ok: false; reason: "malformed" | "bad-signature" };

const RAW_LENGTH = 30;
const SIGNED_LENGTH = 14;
const MAC_LENGTH = 16;
const ENCODED_LENGTH = 40;
/** Signed before the nonce's fields: the format's tag (see above). */
const FORMAT_TAG = 0x00;
const TAG_LENGTH = 1;

const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64URL_ALPHABET.length; i++) DECODE[BASE64URL_ALPHABET.charCodeAt(i)] = i;

// Scratch for the nonce being issued or checked: both are synchronous, so no two uses interleave,
// and a typed array allocated per nonce is an ArrayBuffer and a view for the collector.
const raw = new Uint8Array(RAW_LENGTH);

/** Decodes exactly ENCODED_LENGTH characters into `raw`; false when it is no canonical nonce. */
function decodeNonce(text: string): boolean {
  if (text.length !== ENCODED_LENGTH) return false;
  const out = raw;
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < ENCODED_LENGTH; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? DECODE[c]! : -1;
    if (v < 0) return false;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  // 40 characters carry 240 bits, all data: nothing is left over to be non-canonical.
  return bits === 0;
}

const encoder = new TextEncoder();
const mac = new Uint8Array(32);

let scratch = new Uint8Array(256);

/** Writes 0x00 ‖ expires ‖ issuer ‖ serial ‖ realm ‖ 0x00 ‖ bind into the scratch buffer; returns its length. */
function signedInput(head: Uint8Array, realm: string, bind: string): number {
  const fields = TAG_LENGTH + SIGNED_LENGTH;
  const size = fields + (realm.length + 1 + bind.length) * 3;
  if (scratch.length < size) scratch = new Uint8Array(size);
  scratch[0] = FORMAT_TAG;
  for (let i = 0; i < SIGNED_LENGTH; i++) scratch[TAG_LENGTH + i] = head[i]!;
  // Realms and flow tokens are ASCII: copied here in JavaScript, since TextEncoder.encodeInto is a
  // call into the runtime that profiled at µs per nonce. Anything else takes the encoder.
  let n = copyAscii(realm, fields);
  if (n >= 0) {
    scratch[n] = 0;
    n = copyAscii(bind, n + 1);
  }
  if (n >= 0) return n;
  return fields + encoder.encodeInto(`${realm}\u0000${bind}`, scratch.subarray(fields)).written;
}

/** Copies an all-ASCII string into the scratch buffer at `at`; the end offset, or -1 when it is not ASCII. */
function copyAscii(text: string, at: number): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return -1;
    scratch[at + i] = c;
  }
  return at + text.length;
}

/** Constant-time comparison of the MAC carried in the nonce with the one just computed. */
function macMatches(raw: Uint8Array): boolean {
  let diff = 0;
  for (let i = 0; i < MAC_LENGTH; i++) diff |= raw[SIGNED_LENGTH + i]! ^ mac[i]!;
  return diff === 0;
}

export interface NonceScope {
  realm: string;
  /** Extra context the nonce is valid in only (e.g. the flow/connection id). */
  bind?: string;
}

/**
 * A serial's 6 bytes are a 16-bit high part and a 32-bit low part (JavaScript's bit operators are
 * 32-bit). 2^48 serials are 89 years of one signer issuing 100,000 nonces a second.
 */
const SERIAL_SPAN = 2 ** 32;

export class NonceSigner {
  readonly #current: HmacSha256;
  readonly #previous?: HmacSha256;
  /** Lifetime of a nonce in seconds (Kamailio auth `nonce_expire`). */
  readonly nonceExpire: number;
  /** Names this signer in its nonces: another object (or this one restarted) draws another. */
  readonly #issuer = crypto.getRandomValues(new Uint32Array(1))[0]!;
  /** Nonces issued so far; the next one's serial is this plus one. */
  #issued = 0;

  /**
   * @param secrets signing secrets (Kamailio auth `secret`); keep them in `wrangler secret`.
   * @param nonceExpire lifetime of a nonce in seconds (Kamailio auth `nonce_expire`, 300).
   */
  constructor(secrets: NonceSecrets, nonceExpire = 300) {
    if (!secrets.current) throw new Error("auth: the nonce secret must not be empty");
    this.nonceExpire = nonceExpire;
    this.#current = new HmacSha256(encoder.encode(secrets.current));
    if (secrets.previous) this.#previous = new HmacSha256(encoder.encode(secrets.previous));
  }

  /**
   * A fresh nonce that expires `nonceExpire` seconds after `now` (ms). The stamp is whole
   * seconds, rounded up, so a nonce lives at least `nonceExpire` seconds and at most one more
   * (rounded down, one issued at x.999 s with `nonce_expire` 1 would expire a millisecond later).
   */
  issue(now: number, scope: NonceScope): string {
    writeUint32(Math.ceil(now / 1000) + this.nonceExpire, 0);
    writeUint32(this.#issuer, 4);
    const serial = ++this.#issued;
    const high = Math.floor(serial / SERIAL_SPAN);
    raw[8] = high >>> 8;
    raw[9] = high & 0xff;
    writeUint32(serial % SERIAL_SPAN, 10);
    this.#current.mac(scratch, signedInput(raw, scope.realm, scope.bind ?? ""), mac);
    for (let i = 0; i < MAC_LENGTH; i++) raw[SIGNED_LENGTH + i] = mac[i]!;
    return encodeBase64url(raw);
  }

  /**
   * Checks that `nonce` is one of ours, for this realm and binding, and says whether it has
   * expired at `now` (ms). An expired but genuine nonce is a stale one (RFC 7616 §3.3).
   */
  verify(nonce: string, now: number, scope: NonceScope): NonceCheck {
    if (!decodeNonce(nonce)) return { ok: false, reason: "malformed" };
    const length = signedInput(raw, scope.realm, scope.bind ?? "");
    this.#current.mac(scratch, length, mac);
    let genuine = macMatches(raw);
    if (!genuine && this.#previous) {
      this.#previous.mac(scratch, length, mac);
      genuine = macMatches(raw);
    }
    if (!genuine) return { ok: false, reason: "bad-signature" };
    const expiresAt = readUint32(0) * 1000;
    const serial = readUint32(4) === this.#issuer ? ((raw[8]! << 8) | raw[9]!) * SERIAL_SPAN + readUint32(10) : undefined;
    return { ok: true, expiresAt, expired: now >= expiresAt, serial };
  }
}

function writeUint32(value: number, at: number): void {
  raw[at] = value >>> 24;
  raw[at + 1] = (value >>> 16) & 0xff;
  raw[at + 2] = (value >>> 8) & 0xff;
  raw[at + 3] = value & 0xff;
}

function readUint32(at: number): number {
  return ((raw[at]! << 24) | (raw[at + 1]! << 16) | (raw[at + 2]! << 8) | raw[at + 3]!) >>> 0;
}

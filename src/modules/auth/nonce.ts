import { BASE64URL_ALPHABET, encodeBase64url } from "../../util/base64url.ts";
import { HmacSha256 } from "../../util/sha256.ts";

/**
 * Stateless nonces: everything needed to check a nonce is inside it, signed, so any object of
 * the edge can verify one without storage (the job Kamailio's auth module does with its
 * `secret` and `nonce_expire`).
 *
 *   nonce = base64url( expires (4 bytes, Unix seconds, big-endian)
 *                      ‖ random (8 bytes)
 *                      ‖ HMAC-SHA256(secret, expires ‖ random ‖ realm ‖ 0x00 ‖ bind)[0..16) )
 *
 * 28 bytes, 38 characters. The realm is signed so a nonce from one realm is worthless in
 * another; `bind` (optional) ties it to whatever the caller names, for instance the connection
 * that received the challenge, so that the nonce-count memory of that connection's object sees
 * every use of it (see nonce-count.ts). 128 bits of HMAC are plenty for a value that lives
 * minutes (RFC 2104 §5 allows truncation to half the output).
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
  | { ok: true; expiresAt: number; expired: boolean }
  | { ok: false; reason: "malformed" | "bad-signature" };

const RAW_LENGTH = 28;
const SIGNED_LENGTH = 12;
const MAC_LENGTH = 16;
const ENCODED_LENGTH = 38;

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
  // 38 characters carry 228 bits: 224 of data and 4 that must be zero in a canonical encoding.
  return (acc & ((1 << bits) - 1)) === 0;
}

const encoder = new TextEncoder();
const mac = new Uint8Array(32);

// crypto.getRandomValues costs microseconds per call whatever the size; draw in batches.
const randomPool = new Uint8Array(1024);
let randomUsed = randomPool.length;

/** Writes `count` random bytes into `target` at `at`. */
function fillRandom(target: Uint8Array, at: number, count: number): void {
  if (randomUsed + count > randomPool.length) {
    crypto.getRandomValues(randomPool);
    randomUsed = 0;
  }
  for (let i = 0; i < count; i++) target[at + i] = randomPool[randomUsed + i]!;
  randomUsed += count;
}
let scratch = new Uint8Array(256);

/** Writes expires ‖ random ‖ realm ‖ 0x00 ‖ bind into the scratch buffer; returns its length. */
function signedInput(head: Uint8Array, realm: string, bind: string): number {
  const size = SIGNED_LENGTH + (realm.length + 1 + bind.length) * 3;
  if (scratch.length < size) scratch = new Uint8Array(size);
  for (let i = 0; i < SIGNED_LENGTH; i++) scratch[i] = head[i]!;
  // Realms and flow tokens are ASCII: copied here in JavaScript, since TextEncoder.encodeInto is a
  // call into the runtime that profiled at µs per nonce. Anything else takes the encoder.
  let n = copyAscii(realm, SIGNED_LENGTH);
  if (n >= 0) {
    scratch[n] = 0;
    n = copyAscii(bind, n + 1);
  }
  if (n >= 0) return n;
  return SIGNED_LENGTH + encoder.encodeInto(`${realm}\u0000${bind}`, scratch.subarray(SIGNED_LENGTH)).written;
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

export class NonceSigner {
  readonly #current: HmacSha256;
  readonly #previous?: HmacSha256;
  /** Lifetime of a nonce in seconds (Kamailio auth `nonce_expire`). */
  readonly nonceExpire: number;

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

  /** A fresh nonce that expires `nonceExpire` seconds after `now` (ms). */
  issue(now: number, scope: NonceScope): string {
    const expires = Math.floor(now / 1000) + this.nonceExpire;
    raw[0] = expires >>> 24;
    raw[1] = (expires >>> 16) & 0xff;
    raw[2] = (expires >>> 8) & 0xff;
    raw[3] = expires & 0xff;
    fillRandom(raw, 4, SIGNED_LENGTH - 4);
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
    const expiresAt = (((raw[0]! << 24) | (raw[1]! << 16) | (raw[2]! << 8) | raw[3]!) >>> 0) * 1000;
    return { ok: true, expiresAt, expired: now >= expiresAt };
  }
}

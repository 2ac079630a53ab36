/**
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in plain TypeScript.
 *
 * Why not Web Crypto: `crypto.subtle` is asynchronous, and for the short inputs here its call
 * overhead dominates (DESIGN.md §7: HMAC ~7 µs in workerd; Node's is ~10× slower still). A
 * nonce costs one HMAC to issue and one to verify; with the key schedule precomputed an HMAC
 * of a 30-byte message is two compressions, about 1 µs. Being synchronous also keeps the
 * challenge path free of awaits.
 */

// FIPS 180-4 §4.2.2 / §5.3.3: the first 32 bits of the fractional parts of the cube roots
// (K) and square roots (H0) of the first primes.
const PRIMES: number[] = [];
for (let n = 2; PRIMES.length < 64; n++) if (PRIMES.every((p) => n % p !== 0)) PRIMES.push(n);
const frac32 = (x: number): number => Math.floor((x - Math.floor(x)) * 0x100000000) | 0;
const K = Int32Array.from(PRIMES, (p) => frac32(Math.cbrt(p)));
const H0 = Int32Array.from(PRIMES.slice(0, 8), (p) => frac32(Math.sqrt(p)));

const W = new Int32Array(64);

/** One 64-byte block of `bytes` at `offset` folded into `h` (FIPS 180-4 §6.2.2). */
function compress(h: Int32Array, bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const o = offset + i * 4;
    W[i] = (bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15]!;
    const y = W[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!, f = h[5]!, g = h[6]!, k = h[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (k + S1 + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
  h[5] = (h[5]! + f) | 0;
  h[6] = (h[6]! + g) | 0;
  h[7] = (h[7]! + k) | 0;
}

const tail = new Uint8Array(128);

/**
 * Finishes a hash whose state `h` has already absorbed `prefixLength` bytes (a multiple of 64):
 * absorbs `data[0..length)`, pads (§5.1.1) and leaves the digest in `h`.
 */
function finish(h: Int32Array, prefixLength: number, data: Uint8Array, length: number): void {
  const whole = length & ~63;
  for (let offset = 0; offset < whole; offset += 64) compress(h, data, offset);
  const rest = length - whole;
  const padded = rest < 56 ? 64 : 128;
  // A copy loop, not tail.set(data.subarray(...)): no view object allocated per hash.
  for (let i = 0; i < rest; i++) tail[i] = data[whole + i]!;
  tail[rest] = 0x80;
  tail.fill(0, rest + 1, padded);
  // The length in bits as a 64-bit big-endian integer; inputs here stay far below 2^29 bytes.
  const bits = (prefixLength + length) * 8;
  tail[padded - 5] = (bits / 0x100000000) & 0xff;
  tail[padded - 4] = (bits >>> 24) & 0xff;
  tail[padded - 3] = (bits >>> 16) & 0xff;
  tail[padded - 2] = (bits >>> 8) & 0xff;
  tail[padded - 1] = bits & 0xff;
  for (let offset = 0; offset < padded; offset += 64) compress(h, tail, offset);
}

function writeDigest(h: Int32Array, out: Uint8Array): void {
  for (let i = 0; i < 8; i++) {
    const v = h[i]!;
    out[i * 4] = v >>> 24;
    out[i * 4 + 1] = (v >>> 16) & 0xff;
    out[i * 4 + 2] = (v >>> 8) & 0xff;
    out[i * 4 + 3] = v & 0xff;
  }
}

const state = new Int32Array(8);

/** SHA-256 of `data[0..length)`. */
export function sha256(data: Uint8Array, length = data.length): Uint8Array<ArrayBuffer> {
  state.set(H0);
  finish(state, 0, data, length);
  const out = new Uint8Array(32);
  writeDigest(state, out);
  return out;
}

/**
 * HMAC-SHA256 with a fixed key (RFC 2104): the states after the ipad and opad blocks are
 * computed once, so each MAC costs the message blocks plus two.
 */
export class HmacSha256 {
  readonly #inner = new Int32Array(8);
  readonly #outer = new Int32Array(8);
  readonly #scratch = new Int32Array(8);
  readonly #innerDigest = new Uint8Array(32);

  constructor(key: Uint8Array) {
    const k = key.length > 64 ? sha256(key) : key;
    const pad = new Uint8Array(64);
    pad.set(k);
    for (let i = 0; i < 64; i++) pad[i] = pad[i]! ^ 0x36;
    this.#inner.set(H0);
    compress(this.#inner, pad, 0);
    for (let i = 0; i < 64; i++) pad[i] = pad[i]! ^ 0x36 ^ 0x5c;
    this.#outer.set(H0);
    compress(this.#outer, pad, 0);
  }

  /** HMAC of `data[0..length)`, written to `out` (32 bytes). */
  mac(data: Uint8Array, length: number, out: Uint8Array): void {
    const s = this.#scratch;
    s.set(this.#inner);
    finish(s, 64, data, length);
    writeDigest(s, this.#innerDigest);
    s.set(this.#outer);
    finish(s, 64, this.#innerDigest, 32);
    writeDigest(s, out);
  }
}

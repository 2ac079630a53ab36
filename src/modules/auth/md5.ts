/**
 * MD5 (RFC 1321) in plain TypeScript, returning lowercase hex.
 *
 * Why not `crypto.subtle.digest("MD5")`: it works in workerd, but it is asynchronous and costs
 * about twice as much CPU as this for the 20–130 byte inputs digest authentication hashes
 * (DESIGN.md §7: ~9 µs vs ~4 µs in workerd); Node's Web Crypto has no MD5 at all, and this
 * runs in both. A REGISTER with qop=auth hashes two or three such strings (README: numbers).
 *
 * Scratch buffers are module-level and reused: the function is synchronous, so no two calls
 * can interleave.
 */

const HEX_CODES = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
/** The digest's 32 hex digits as char codes, made into one string (no chain of small strings). */
const hexOut = new Uint8Array(32);

let buffer = new Uint8Array(256);
const words = new Int32Array(16);
const encoder = new TextEncoder();

// RFC 1321 §3.4: T[i] = floor(2^32 * abs(sin(i))), i = 1..64, and the per-step shift amounts.
const K = new Int32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0;
const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/** Writes `input` as UTF-8 at the start of the scratch buffer (grown when needed); returns its length. */
function encode(input: string): number {
  const n = input.length;
  // Room for the worst case (3 bytes per UTF-16 unit) plus padding and the 8-byte length.
  if (buffer.length < n * 3 + 72) buffer = new Uint8Array(n * 3 + 72);
  for (let i = 0; i < n; i++) {
    const c = input.charCodeAt(i);
    if (c >= 0x80) return encoder.encodeInto(input, buffer).written;
    buffer[i] = c;
  }
  return n;
}

/** One 64-byte block at `offset` folded into the state `h` (RFC 1321 §3.4). */
function block(h: Int32Array, bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const o = offset + i * 4;
    words[i] = bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24);
  }
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    const s = S[((i >> 4) << 2) | (i & 3)]!;
    const x = (a + f + K[i]! + words[g]!) | 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((x << s) | (x >>> (32 - s)))) | 0;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
}

const state = new Int32Array(4);

/** MD5 of the UTF-8 encoding of `input`, as 32 lowercase hex digits. */
export function md5Hex(input: string): string {
  const length = encode(input);
  // RFC 1321 §3.1–3.2: append 0x80, zero-pad to 56 mod 64, then the bit length, little-endian.
  const padded = (((length + 8) >>> 6) + 1) << 6;
  buffer[length] = 0x80;
  buffer.fill(0, length + 1, padded);
  const bits = length * 8;
  buffer[padded - 8] = bits & 0xff;
  buffer[padded - 7] = (bits >>> 8) & 0xff;
  buffer[padded - 6] = (bits >>> 16) & 0xff;
  buffer[padded - 5] = (bits >>> 24) & 0xff;
  // Inputs here stay far below 512 MB, so the high length word is always 0 (already zero-filled).
  state[0] = 0x67452301;
  state[1] = 0xefcdab89 | 0;
  state[2] = 0x98badcfe | 0;
  state[3] = 0x10325476;
  for (let offset = 0; offset < padded; offset += 64) block(state, buffer, offset);
  // Little-endian bytes of each word, high nibble first.
  for (let i = 0; i < 16; i++) {
    const byte = (state[i >> 2]! >>> ((i & 3) * 8)) & 0xff;
    hexOut[i * 2] = HEX_CODES[byte >>> 4]!;
    hexOut[i * 2 + 1] = HEX_CODES[byte & 15]!;
  }
  return String.fromCharCode.apply(null, hexOut as unknown as number[]);
}

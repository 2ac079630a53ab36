/** RFC 4648 §5 base64url alphabet (no padding is ever written). */
export const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const CODES = Uint8Array.from(BASE64URL_ALPHABET, (c) => c.charCodeAt(0));

/**
 * Output buffers by encoded length, reused (encoding is synchronous). The characters are written
 * as codes and made into one string by one String.fromCharCode: concatenating them a few at a
 * time built a chain of small strings per value for the collector (nonces and signatures are
 * encoded per message).
 */
const buffers: Uint8Array[] = [];

/** base64url without padding: every character is a SIP token character, so it needs no quoting. */
export function encodeBase64url(bytes: Uint8Array, length = bytes.length): string {
  const size = Math.ceil((length * 4) / 3);
  const out = (buffers[size] ??= new Uint8Array(size));
  let o = 0;
  let i = 0;
  for (; i + 3 <= length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = CODES[n >>> 18]!;
    out[o++] = CODES[(n >>> 12) & 63]!;
    out[o++] = CODES[(n >>> 6) & 63]!;
    out[o++] = CODES[n & 63]!;
  }
  const rest = length - i;
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out[o++] = CODES[n >>> 18]!;
    out[o++] = CODES[(n >>> 12) & 63]!;
    if (rest === 2) out[o++] = CODES[(n >>> 6) & 63]!;
  }
  return String.fromCharCode.apply(null, out as unknown as number[]);
}

/** RFC 4648 §5 base64url alphabet (no padding is ever written). */
export const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const A = BASE64URL_ALPHABET;

/** base64url without padding: every character is a SIP token character, so it needs no quoting. */
export function encodeBase64url(bytes: Uint8Array, length = bytes.length): string {
  let out = "";
  let i = 0;
  for (; i + 3 <= length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += A[n >>> 18]! + A[(n >>> 12) & 63]! + A[(n >>> 6) & 63]! + A[n & 63]!;
  }
  const rest = length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += A[n >>> 18]! + A[(n >>> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += A[n >>> 18]! + A[(n >>> 12) & 63]! + A[(n >>> 6) & 63]!;
  }
  return out;
}

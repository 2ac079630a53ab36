import { md5Hex } from "./md5.ts";
import { sha256 } from "../../util/sha256.ts";

/**
 * The digest algorithms sipedge verifies. RFC 7616 §3.2 / RFC 8760 §2.1 also name SHA-512-256;
 * no SIP client in our test set sends it, and Web Crypto has no SHA-512/256, so it is left out.
 * The `-sess` variants (RFC 7616 §3.4.2) are accepted in credentials but never offered.
 */
export type DigestAlgorithm = "MD5" | "MD5-sess" | "SHA-256" | "SHA-256-sess";

/** The hash function underneath an algorithm name. */
export type HashName = "MD5" | "SHA-256";

/**
 * Maps an `algorithm` value to its canonical name. RFC 7616 §3.4 matches the token without
 * regard to case; an absent algorithm means MD5 (RFC 2617 §3.2.1).
 */
export function parseAlgorithm(value: string | undefined): DigestAlgorithm | undefined {
  if (value === undefined || value === "") return "MD5";
  switch (value.toUpperCase()) {
    case "MD5":
      return "MD5";
    case "MD5-SESS":
      return "MD5-sess";
    case "SHA-256":
      return "SHA-256";
    case "SHA-256-SESS":
      return "SHA-256-sess";
    default:
      return undefined;
  }
}

export function hashOf(algorithm: DigestAlgorithm): HashName {
  return algorithm === "MD5" || algorithm === "MD5-sess" ? "MD5" : "SHA-256";
}

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push((i < 16 ? "0" : "") + i.toString(16));

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!]!;
  return out;
}

const encoder = new TextEncoder();

/** SHA-256 of the UTF-8 encoding of `input`, as 64 lowercase hex digits. */
export function sha256Hex(input: string): string {
  return toHex(sha256(encoder.encode(input)));
}

/** H(data) of RFC 7616 §3.4.1 as lowercase hex. */
export function hashHex(hash: HashName, input: string): string {
  return hash === "MD5" ? md5Hex(input) : sha256Hex(input);
}

/**
 * Compares our lowercase hex `expected` with a client's `actual` without an early exit, so the
 * time taken does not reveal how much of a guessed response was right. RFC 7616 §3.4.1 defines
 * the response as lowercase hex; some clients send uppercase, so A-F (and only A-F) fold.
 */
export function hexEquals(expected: string, actual: string): boolean {
  if (expected.length !== actual.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    let c = actual.charCodeAt(i);
    if (c >= 0x41 && c <= 0x46) c |= 0x20;
    diff |= expected.charCodeAt(i) ^ c;
  }
  return diff === 0;
}

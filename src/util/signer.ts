/**
 * Short signatures for routing state the proxy hands out and later trusts (RFC 5626 §5.2: a flow
 * token "MUST" be protected so that a forged one is detected): its Record-Route parameters and
 * its Via branches. HMAC-SHA256 over `label ‖ 0x00 ‖ text`, truncated to 96 bits and written as
 * 16 base64url characters — token characters, so they sit in a URI parameter or a branch as they
 * are. The label separates the uses of one secret (a branch signature is never a valid route
 * signature). Secrets rotate like the nonce secret: sign with the current one, accept the
 * previous one too.
 */
import { encodeBase64url } from "./base64url.ts";
import { HmacSha256 } from "./sha256.ts";

export interface SignerSecrets {
  current: string;
  previous?: string;
}

/** Bytes of MAC kept: 96 bits, 16 characters. */
const MAC_BYTES = 12;
const encoder = new TextEncoder();

export class Signer {
  readonly #current: HmacSha256;
  readonly #previous: HmacSha256 | undefined;
  readonly #label: string;
  #scratch = new Uint8Array(256);
  readonly #mac = new Uint8Array(32);

  constructor(secrets: SignerSecrets, label: string) {
    if (!secrets.current) throw new Error("signer: the secret must not be empty");
    this.#current = new HmacSha256(encoder.encode(secrets.current));
    this.#previous = secrets.previous ? new HmacSha256(encoder.encode(secrets.previous)) : undefined;
    this.#label = label + "\u0000";
  }

  sign(text: string): string {
    return this.#signWith(this.#current, text);
  }

  /** Whether `signature` is this text's under the current or the previous secret. */
  verify(text: string, signature: string): boolean {
    if (signature.length !== 16) return false;
    if (equal(this.#signWith(this.#current, text), signature)) return true;
    return this.#previous !== undefined && equal(this.#signWith(this.#previous, text), signature);
  }

  #signWith(hmac: HmacSha256, text: string): string {
    const input = this.#label + text;
    if (this.#scratch.length < input.length * 3) this.#scratch = new Uint8Array(input.length * 3);
    const length = encoder.encodeInto(input, this.#scratch).written;
    hmac.mac(this.#scratch, length, this.#mac);
    return encodeBase64url(this.#mac, MAC_BYTES);
  }
}

/** Compares in time independent of where the first difference is. */
function equal(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

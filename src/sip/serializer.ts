/**
 * Writing a message back out. Header lines nobody changed are written exactly as received (their
 * `raw` text, folding included); changed and new lines as `Name: value`. Content-Length is always
 * the byte length of the current body (RFC 3261 §20.14), whatever the header said before.
 *
 * Also the byte arithmetic both directions share: UTF-8 lengths, byte-strings (a binary frame
 * as one char per byte), and cutting a body at Content-Length bytes.
 */
import type { Encoding, SipMessage } from "./message.ts";

const encoder = new TextEncoder();

/**
 * The message as a string in its own encoding: UTF-16 text for a text message, a byte-string
 * (one char per byte) for a binary one. Send text messages in text frames.
 */
export function serialize(msg: SipMessage): string {
  const bodyBytes = msg.bodyByteLength();
  let out = msg.startLine() + "\r\n";
  let wroteLength = false;
  for (const line of msg.headers.lines()) {
    if (line.key === "content-length") {
      // One Content-Length only, stating the current body; identical duplicates collapse.
      if (wroteLength) continue;
      wroteLength = true;
      out += line.raw !== undefined && statesLength(line.value, bodyBytes) ? line.raw : `${line.name}: ${bodyBytes}`;
      out += "\r\n";
      continue;
    }
    out += (line.raw ?? `${line.name}: ${line.value}`) + "\r\n";
  }
  if (!wroteLength) out += `Content-Length: ${bodyBytes}\r\n`;
  return out + "\r\n" + msg.body;
}

/**
 * What goes on the wire for a message, in its own kind of WebSocket frame (RFC 7118 §5): a
 * string for a text message, the bytes for a binary one. A binary message's `serialize` is a
 * byte-string, which sent as text would have every byte above 0x7F re-encoded as UTF-8.
 */
export function wireOf(msg: SipMessage): string | Uint8Array {
  return msg.encoding === "binary" ? serializeBytes(msg) : serialize(msg);
}

/** The exact bytes to send (a binary message gives back the bytes it was parsed from). */
export function serializeBytes(msg: SipMessage): Uint8Array {
  const text = serialize(msg);
  return msg.encoding === "binary" ? byteStringToBytes(text) : encoder.encode(text);
}

/** Whether a received Content-Length value ("0", "0150") already states `bytes`. */
function statesLength(value: string, bytes: number): boolean {
  let n = 0;
  for (let i = 0; i < value.length; i++) n = n * 10 + (value.charCodeAt(i) - 0x30);
  return n === bytes;
}

// ---------------------------------------------------------------------------------------------
// Bytes: UTF-8 lengths, byte-strings, and cutting a body at Content-Length

/** UTF-8 byte length of a JS string (lone surrogates count as U+FFFD, 3 bytes, as TextEncoder does). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 2; // the pair is 2 UTF-16 units and 4 bytes
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * Bytes `text` occupies on the wire. In a binary (byte-string) message, chars 0-255 are one
 * byte each; a char above 255 can only come from code that stored text there, and is written as
 * UTF-8 (see serializer.ts), so it is counted that way.
 */
export function byteLength(text: string, encoding: Encoding): number {
  if (encoding === "text") return utf8Length(text);
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0xff) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 2;
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/**
 * A binary frame as a byte-string: one char per byte (char codes 0-255), so that every byte,
 * including a binary body, comes back out unchanged. (TextDecoder("latin1") is not an option:
 * the Encoding Standard maps it to windows-1252, which rewrites 0x80-0x9F.)
 */
export function bytesToByteString(bytes: Uint8Array): string {
  const CHUNK = 0x2000; // stays far below any engine's argument-count limit
  if (bytes.length <= CHUNK) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let out = "";
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK) as unknown as number[]);
  }
  return out;
}

/** The bytes of a byte-string; chars above 255 (text stored by code) are written as UTF-8. */
export function byteStringToBytes(text: string): Uint8Array {
  const out = new Uint8Array(byteLength(text, "binary"));
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c <= 0xff) {
      out[o++] = c;
      continue;
    }
    if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1))) {
      c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      out[o++] = 0xf0 | (c >> 18);
      out[o++] = 0x80 | ((c >> 12) & 0x3f);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate, as TextEncoder writes it
      out[o++] = 0xe0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
    }
    out[o++] = 0x80 | (c & 0x3f);
  }
  return out;
}

/** UTF-8 text as a byte-string, for putting text into a binary message. */
export function textToByteString(text: string): string {
  return bytesToByteString(new TextEncoder().encode(text));
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The body as Content-Length bytes of what followed the headers; undefined when fewer bytes
 * arrived (RFC 4475 §3.1.2.2) or the count ends inside a UTF-8 character.
 */
export function cutBody(body: string, contentLength: number, encoding: Encoding): string | undefined {
  if (encoding === "binary") {
    if (contentLength > body.length) return undefined;
    return contentLength === body.length ? body : body.slice(0, contentLength);
  }
  // Fast path: an ASCII body counts one byte per char (the regex scan runs as native code).
  if (!NON_ASCII.test(body)) {
    if (contentLength > body.length) return undefined;
    return contentLength === body.length ? body : body.slice(0, contentLength);
  }
  let bytes = 0;
  let i = 0;
  for (; i < body.length && bytes < contentLength; i++) {
    const c = body.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (body.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  if (bytes !== contentLength) return undefined;
  return i === body.length ? body : body.slice(0, i);
}

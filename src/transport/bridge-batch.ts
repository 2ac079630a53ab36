/**
 * The batch frame of the bridge link, `sipedge-bridge.v2` (bridge/README.md, "Batch frames"): one
 * binary WebSocket frame that carries several v1 frames, so that a busy link pays the runtime's
 * per-message price once for many datagrams. Both ends use this file (the bridge imports it), so
 * it works on `Uint8Array` only: a Node `Buffer` is one, and `subarray` keeps it one.
 *
 * Layout: the byte 0x00 (no v1 frame starts with it: a v1 frame starts with an address or `{`),
 * then records, each `flags (1 byte) | length (4 bytes, big endian) | v1 frame (length bytes)`.
 * Flag 0x01 marks a record whose bytes are not UTF-8 (a v1 binary frame); the other bits are 0.
 */

export const BRIDGE_SUBPROTOCOL_V1 = "sipedge-bridge.v1";
/** v1 plus batch frames; a link speaks it when both ends offered it in the handshake. */
export const BRIDGE_SUBPROTOCOL_V2 = "sipedge-bridge.v2";

export const BATCH_MARK = 0x00;
/**
 * A batch frame is at most this long (the bridge's `maxPayload` is 64 KiB plus 512): a sender
 * sends what it holds before a record that would make the batch longer.
 */
export const MAX_BATCH = 65_536;
/** Bytes a record adds to a batch frame besides its frame. */
export const RECORD_OVERHEAD = 5;
const FLAG_BINARY = 0x01;
const RECORD_HEAD = RECORD_OVERHEAD;

/** One v1 frame inside a batch: `head` (ASCII: the address line, or "" for a control frame), then `body`. */
export interface OutRecord {
  head: string;
  body: Uint8Array;
  /** The bytes are not UTF-8: the receiver must not decode them as text. */
  binary: boolean;
}

export interface InRecord {
  /** The whole v1 frame; shares the batch frame's memory. */
  data: Uint8Array;
  binary: boolean;
}

/** Records read before any damage, and the reason the rest (if any) was refused. */
export interface DecodedBatch {
  records: InRecord[];
  error: string | undefined;
}

export function isBatch(frame: Uint8Array): boolean {
  return frame.length > 0 && frame[0] === BATCH_MARK;
}

/** Size of the batch frame that `encodeBatch` builds for these records. */
export function batchSize(records: readonly OutRecord[]): number {
  let size = 1;
  for (const r of records) size += RECORD_HEAD + r.head.length + r.body.length;
  return size;
}

/**
 * One batch frame; `into` (e.g. `Buffer.allocUnsafe`) lets the bridge get a `Buffer` back without
 * a second copy.
 */
export function encodeBatch(records: readonly OutRecord[], into: (size: number) => Uint8Array = (n) => new Uint8Array(n)): Uint8Array {
  const out = into(batchSize(records));
  out[0] = BATCH_MARK;
  let at = 1;
  for (const r of records) {
    const length = r.head.length + r.body.length;
    out[at] = r.binary ? FLAG_BINARY : 0;
    out[at + 1] = length >>> 24;
    out[at + 2] = (length >>> 16) & 0xff;
    out[at + 3] = (length >>> 8) & 0xff;
    out[at + 4] = length & 0xff;
    at += RECORD_HEAD;
    // The head is an address line: ASCII (a host name, an IP literal, a port).
    for (let i = 0; i < r.head.length; i++) out[at++] = r.head.charCodeAt(i);
    out.set(r.body, at);
    at += r.body.length;
  }
  return out;
}

/**
 * Splits a batch frame into its v1 frames without copying. A malformed record ends the walk: the
 * records before it are whole and are returned; the rest is refused with a reason, since past a
 * bad length no boundary can be trusted.
 */
export function decodeBatch(frame: Uint8Array): DecodedBatch {
  const records: InRecord[] = [];
  if (!isBatch(frame)) return { records, error: "not a batch frame" };
  let at = 1;
  if (frame.length === 1) return { records, error: "empty batch" };
  while (at < frame.length) {
    if (frame.length - at < RECORD_HEAD) return { records, error: `record ${records.length + 1}: truncated header` };
    const flags = frame[at] as number;
    if ((flags & ~FLAG_BINARY) !== 0) return { records, error: `record ${records.length + 1}: unknown flags 0x${flags.toString(16)}` };
    const length = (((frame[at + 1] as number) << 24) >>> 0) + ((frame[at + 2] as number) << 16) + ((frame[at + 3] as number) << 8) + (frame[at + 4] as number);
    at += RECORD_HEAD;
    if (length === 0) return { records, error: `record ${records.length + 1}: empty` };
    if (length > frame.length - at) return { records, error: `record ${records.length + 1}: length ${length} beyond the frame` };
    records.push({ data: frame.subarray(at, at + length), binary: (flags & FLAG_BINARY) !== 0 });
    at += length;
  }
  return { records, error: undefined };
}

/**
 * The header values the scanner keeps as byte ranges and decodes only when asked: Route for a
 * gateway's request (the shard), From and To for the ACK of a non-2xx, RSeq for a provisional.
 */
import { splitList } from "../src/sip/headers.ts";
import type { BridgeHeader, BridgeHeaders } from "./scan.ts";

/** A header line's value: the bytes after the colon up to the line end, and whether it was folded. */
export interface Line {
  readonly start: number;
  readonly end: number;
  readonly folded: boolean;
}

const CR = 0x0d;
const LF = 0x0a;

function isWsp(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09;
}

/** The value as header-scan.ts gives it: surrounding whitespace trimmed, each fold one SP (§7.3.1). */
export function readValue(data: Uint8Array, line: Line, binary: boolean): string {
  if (!line.folded) return trimmed(data, line.start, line.end, binary);
  let out = "";
  let segment = line.start;
  for (;;) {
    let nl = segment;
    while (nl < line.end && data[nl] !== LF) nl++;
    const last = nl >= line.end;
    const segmentEnd = last ? line.end : data[nl - 1] === CR ? nl - 1 : nl;
    const piece = trimmed(data, segment, segmentEnd, binary);
    if (piece.length > 0) out = out.length === 0 ? piece : out + " " + piece;
    if (last) return out;
    segment = nl + 1;
  }
}

function trimmed(data: Uint8Array, from: number, to: number, binary: boolean): string {
  while (from < to && isWsp(data[from])) from++;
  while (to > from && isWsp(data[to - 1])) to--;
  return text(data, from, to, binary);
}

export function latin1(data: Uint8Array, from: number, end: number): string {
  let out = "";
  for (let i = from; i < end; i++) out += String.fromCharCode(data[i] ?? 0);
  return out;
}

/** A field's text: byte for byte when ASCII or from a binary frame, else decoded as UTF-8 (as a text frame is). */
export function text(data: Uint8Array, from: number, end: number, binary: boolean): string {
  if (binary) return latin1(data, from, end);
  for (let i = from; i < end; i++) {
    if ((data[i] ?? 0) >= 0x80) return Buffer.from(data.buffer, data.byteOffset + from, end - from).toString("utf8");
  }
  return latin1(data, from, end);
}

/** HeaderList's get/getAll, for the headers the bridge reads. */
export class LeanHeaders implements BridgeHeaders {
  private readonly data: Uint8Array;
  private readonly binary: boolean;
  private readonly topVia: string | undefined;
  private readonly routes: readonly Line[];
  private readonly single: { readonly from: Line; readonly to: Line; readonly rseq: Line | undefined };

  constructor(data: Uint8Array, binary: boolean, topVia: string | undefined, routes: readonly Line[], single: LeanHeaders["single"]) {
    this.data = data;
    this.binary = binary;
    this.topVia = topVia;
    this.routes = routes;
    this.single = single;
  }

  get(name: BridgeHeader): string | undefined {
    if (name === "via") return this.topVia;
    if (name === "route") {
      for (const line of this.routes) {
        const first = splitList(readValue(this.data, line, this.binary))[0];
        if (first !== undefined) return first;
      }
      return undefined;
    }
    const line = this.single[name];
    return line === undefined ? undefined : readValue(this.data, line, this.binary);
  }

  getAll(name: "route"): string[] {
    const out: string[] = [];
    if (name === "route") for (const line of this.routes) out.push(...splitList(readValue(this.data, line, this.binary)));
    return out;
  }
}

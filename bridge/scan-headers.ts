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
export function readValue(data: Buffer, line: Line, binary: boolean): string {
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

function trimmed(data: Buffer, from: number, to: number, binary: boolean): string {
  while (from < to && isWsp(data[from])) from++;
  while (to > from && isWsp(data[to - 1])) to--;
  return text(data, from, to, binary);
}

/** A field's text: byte for byte when ASCII or from a binary frame, else decoded as UTF-8 (as a text frame is). */
export function text(data: Buffer, from: number, end: number, binary: boolean): string {
  if (!binary) {
    for (let i = from; i < end; i++) if ((data[i] ?? 0) >= 0x80) return data.toString("utf8", from, end);
  }
  return data.toString("latin1", from, end);
}

/** HeaderList's get/getAll, for the headers the bridge reads. */
export class LeanHeaders implements BridgeHeaders {
  private readonly data: Buffer;
  private readonly binary: boolean;
  private readonly via: Line | undefined;
  private readonly routes: readonly Line[];
  private readonly single: { readonly from: Line; readonly to: Line; readonly rseq: Line | undefined };

  constructor(data: Buffer, binary: boolean, via: Line | undefined, routes: readonly Line[], single: LeanHeaders["single"]) {
    this.data = data;
    this.binary = binary;
    this.via = via;
    this.routes = routes;
    this.single = single;
  }

  get(name: BridgeHeader): string | undefined {
    if (name === "via") return this.via === undefined ? undefined : splitList(readValue(this.data, this.via, this.binary))[0];
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

/**
 * The header section of a SIP message (RFC 3261 §7.3): one pass over the lines that splits names
 * from values, unfolds continuation lines, expands compact forms, and notes the first line of
 * each header the proxy needs once (parser.ts validates them).
 */
import { HeaderLine, headerKey, isWsp, knownName } from "./headers.ts";

const CR = 0x0d;
const LF = 0x0a;

export class HeaderScan {
  readonly lines: HeaderLine[] = [];
  /** Offset of the body; -1 when the empty line ending the headers never came. */
  bodyStart = -1;
  /** The first framing error. */
  error: string | undefined = undefined;
  /** The first line of each header that must appear once. */
  from: HeaderLine | undefined = undefined;
  to: HeaderLine | undefined = undefined;
  callId: HeaderLine | undefined = undefined;
  cseq: HeaderLine | undefined = undefined;
  maxForwards: HeaderLine | undefined = undefined;
  contentLength: HeaderLine | undefined = undefined;
  hasVia = false;
  /** The first singleton header seen twice with different values. */
  duplicate: string | undefined = undefined;
  private nextCr = -1;

  run(text: string, from: number): void {
    const len = text.length;
    if (from > len) return; // the start line itself was not terminated
    let p = from;
    while (p < len) {
      let nl = text.indexOf("\n", p);
      if (nl === -1) return; // the header section never ended: truncated
      let end = nl > p && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      if (end === p) {
        this.bodyStart = nl + 1;
        return;
      }
      // RFC 3261 §7.3.1 folding: a line starting with SP or HTAB continues the previous line.
      let folded = false;
      while (nl + 1 < len && isWsp(text.charCodeAt(nl + 1))) {
        const next = text.indexOf("\n", nl + 1);
        if (next === -1) return;
        folded = true;
        nl = next;
        end = text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      }
      if (!this.checkCarriageReturns(text, p, end) || isWsp(text.charCodeAt(p))) {
        this.error ??= "Malformed header line";
      } else {
        this.addLine(text, p, end, folded);
      }
      p = nl + 1;
    }
    // The data ended right after a complete header line: the WebSocket message boundary ends
    // the message, so read the missing empty line as there (RFC 4475 baddn.dat ends this way).
    this.bodyStart = len;
  }

  /** Every CR inside a line must start a CRLF fold; a lone CR could split the header downstream. */
  private checkCarriageReturns(text: string, from: number, end: number): boolean {
    if (this.nextCr < from) {
      this.nextCr = text.indexOf("\r", from);
      if (this.nextCr === -1) this.nextCr = text.length;
    }
    while (this.nextCr < end) {
      if (text.charCodeAt(this.nextCr + 1) !== LF) return false;
      this.nextCr = text.indexOf("\r", this.nextCr + 1);
      if (this.nextCr === -1) this.nextCr = text.length;
    }
    return true;
  }

  private addLine(text: string, start: number, end: number, folded: boolean): void {
    const colon = text.indexOf(":", start);
    if (colon === -1 || colon >= end) {
      this.error ??= "Malformed header line";
      return;
    }
    let nameEnd = colon;
    while (nameEnd > start && isWsp(text.charCodeAt(nameEnd - 1))) nameEnd--;
    const known = knownName(text, start, nameEnd);
    const name = known?.name ?? text.slice(start, nameEnd);
    const key = known?.key ?? headerKey(name);
    if (key === undefined) {
      this.error ??= "Malformed header line";
      return;
    }
    const value = folded ? unfold(text, colon + 1, end) : trimmed(text, colon + 1, end);
    const line = new HeaderLine(name, key, value, text.slice(start, end));
    this.lines.push(line);
    switch (key) {
      case "via":
        this.hasVia = true;
        break;
      case "from":
        this.from = this.single(this.from, line);
        break;
      case "to":
        this.to = this.single(this.to, line);
        break;
      case "call-id":
        this.callId = this.single(this.callId, line);
        break;
      case "cseq":
        this.cseq = this.single(this.cseq, line);
        break;
      case "max-forwards":
        this.maxForwards = this.single(this.maxForwards, line);
        break;
      case "content-length":
        this.contentLength = this.single(this.contentLength, line);
        break;
    }
  }

  /** RFC 3261 §7.3.1: only list headers may appear more than once; identical repeats are harmless. */
  private single(earlier: HeaderLine | undefined, line: HeaderLine): HeaderLine {
    if (earlier === undefined) return line;
    if (earlier.value !== line.value) this.duplicate ??= line.key;
    return earlier;
  }
}

function trimmed(text: string, from: number, to: number): string {
  while (from < to && isWsp(text.charCodeAt(from))) from++;
  while (to > from && isWsp(text.charCodeAt(to - 1))) to--;
  return text.slice(from, to);
}

/** LWS = [*WSP CRLF] 1*WSP is equivalent to one SP (RFC 3261 §7.3.1). */
function unfold(text: string, from: number, end: number): string {
  let out = "";
  let segment = from;
  for (;;) {
    const nl = text.indexOf("\n", segment);
    const last = nl === -1 || nl >= end;
    const segmentEnd = last ? end : text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
    const piece = trimmed(text, segment, segmentEnd);
    if (piece.length > 0) out = out.length === 0 ? piece : `${out} ${piece}`;
    if (last) return out;
    segment = nl + 1;
  }
}

/**
 * SIP requests and responses (RFC 3261 §7). The parser validates the headers every hop needs and
 * hands the parsed values in, so nothing is parsed twice; everything else is read from the header
 * lines on demand. Changing a header through `headers` drops what was parsed from it.
 *
 * Encoding: a message that arrived as a WebSocket text frame is a JS string ("text"); one that
 * arrived as a binary frame is a byte-string, one char per byte, char codes 0-255 ("binary"), so
 * binary bodies survive exactly (RFC 4475 §3.1.1.11). Content-Length always counts bytes.
 */
import { parseCSeq } from "./cseq.ts";
import { HeaderList, type HeaderOwner } from "./headers.ts";
import { parseNameAddr, type NameAddr } from "./name-addr.ts";
import { byteLength, utf8Length } from "./serializer.ts";
import { parseUri, type Uri } from "./uri.ts";
import { formatVia, parseVia, type Via } from "./via.ts";

// The byte helpers live in serializer.ts; re-exported for code that reads them as message helpers.
export { byteLength, byteStringToBytes, bytesToByteString, textToByteString, utf8Length } from "./serializer.ts";

export type Encoding = "text" | "binary";

export interface CSeq {
  seq: number;
  method: string;
}

/**
 * Thrown only when code stored a malformed value in a header the message itself must read (a
 * received message is validated before it exists, so this never happens for wire input).
 */
export class HeaderError extends Error {
  override readonly name = "HeaderError";
}

/** What the parser (or a response builder) already knows, handed over so nothing is redone. */
export interface MessageInit {
  headers: HeaderList;
  body: string;
  encoding: Encoding;
  /** The start line as received; undefined for messages sipedge builds. */
  startLine?: string;
  /** The whole received message (for `size`), or its byte count. */
  source?: string | number;
  /** Byte length of `body` as received. */
  bodyBytes?: number;
  callId?: string;
  cseq?: CSeq;
  from?: NameAddr;
  to?: NameAddr;
  vias?: Via[];
}

abstract class MessageBase implements HeaderOwner {
  readonly headers: HeaderList;
  /** Assign to replace the body; Content-Length is recomputed when the message is serialized. */
  body: string;
  readonly encoding: Encoding;
  protected readonly receivedStartLine: string | undefined;
  private readonly receivedBody: string | undefined;
  private readonly receivedBodyBytes: number;
  private sizeSource: string | number;
  private cachedCallId: string | undefined;
  private cachedCSeq: CSeq | undefined;
  private cachedFrom: NameAddr | undefined;
  private cachedTo: NameAddr | undefined;
  private cachedVias: Via[] | undefined;
  /** The top Via element as it arrived, kept by the first rewrite (undefined: unchanged). */
  protected sentTopVia: string | undefined;

  constructor(init: MessageInit) {
    this.headers = init.headers;
    this.body = init.body;
    this.encoding = init.encoding;
    this.receivedStartLine = init.startLine;
    this.receivedBody = init.bodyBytes === undefined ? undefined : init.body;
    this.receivedBodyBytes = init.bodyBytes ?? 0;
    this.sizeSource = init.source ?? 0;
    this.cachedCallId = init.callId;
    this.cachedCSeq = init.cseq;
    this.cachedFrom = init.from;
    this.cachedTo = init.to;
    this.cachedVias = init.vias;
    init.headers.owner = this;
  }

  get callId(): string {
    if (this.cachedCallId === undefined) this.cachedCallId = this.required("call-id");
    return this.cachedCallId;
  }

  get cseq(): CSeq {
    if (this.cachedCSeq === undefined) {
      const parsed = parseCSeq(this.required("cseq"));
      if (!parsed.ok) throw new HeaderError(`CSeq: ${parsed.reason}`);
      this.cachedCSeq = parsed.value;
    }
    return this.cachedCSeq;
  }

  from(): NameAddr {
    if (this.cachedFrom === undefined) this.cachedFrom = this.nameAddr("from");
    return this.cachedFrom;
  }

  to(): NameAddr {
    if (this.cachedTo === undefined) this.cachedTo = this.nameAddr("to");
    return this.cachedTo;
  }

  /** Every Via element, top first. */
  vias(): Via[] {
    if (this.cachedVias === undefined) {
      this.cachedVias = this.headers.getAll("via").map((text) => {
        const parsed = parseVia(text);
        if (!parsed.ok) throw new HeaderError(`Via: ${parsed.reason}`);
        return parsed.value;
      });
    }
    return this.cachedVias;
  }

  /**
   * Writes the top Via back after `via` (this message's parsed top Via) was edited in place, as
   * the received/rport stamp does, keeping the parsed Vias: otherwise every later reader of the
   * Vias (tm, the loop check) would parse them all again.
   */
  rewriteTopVia(via: Via): void {
    const vias = this.cachedVias;
    this.sentTopVia ??= this.headers.get("via");
    this.headers.replaceFirstValue("Via", formatVia(via));
    if (vias !== undefined && vias[0] === via) this.cachedVias = vias;
  }

  /**
   * The top Via element's text as the previous hop sent it, before the received/rport stamp
   * (`rewriteTopVia`): what RFC 2543 transaction matching compares. `restoreAsReceived` sets it on a
   * message read back from a snapshot.
   */
  topViaAsSent(): string | undefined {
    return this.sentTopVia ?? this.headers.get("via");
  }

  topVia(): Via {
    const top = this.vias()[0];
    if (top === undefined) throw new HeaderError("Via: missing");
    return top;
  }

  /** Bytes received (for the 513 Message Too Large check); 0 for messages sipedge built. */
  get size(): number {
    if (typeof this.sizeSource === "string") {
      this.sizeSource = this.encoding === "binary" ? this.sizeSource.length : utf8Length(this.sizeSource);
    }
    return this.sizeSource;
  }

  /** Byte length of the current body, as Content-Length must state it. */
  bodyByteLength(): number {
    if (this.body === this.receivedBody) return this.receivedBodyBytes;
    return byteLength(this.body, this.encoding);
  }

  /** The start line to send: the received one while nothing in it changed. */
  abstract startLine(): string;

  /**
   * What a copy of this message starts from: the same header lines (a HeaderLine is never
   * changed in place, so sharing them is safe; the list itself is new) and body. Parsed Vias,
   * From and To are left out because code may change their params in place.
   */
  protected cloneInit(): MessageInit {
    const init: MessageInit = { headers: new HeaderList([...this.headers.lines()]), body: this.body, encoding: this.encoding };
    if (this.body === this.receivedBody) init.bodyBytes = this.receivedBodyBytes;
    if (this.cachedCallId !== undefined) init.callId = this.cachedCallId;
    if (this.cachedCSeq !== undefined) init.cseq = { seq: this.cachedCSeq.seq, method: this.cachedCSeq.method };
    return init;
  }

  /** @internal HeaderOwner: forget what was parsed from a header that changed. */
  headerChanged(key: string): void {
    switch (key) {
      case "call-id":
        this.cachedCallId = undefined;
        break;
      case "cseq":
        this.cachedCSeq = undefined;
        break;
      case "from":
        this.cachedFrom = undefined;
        break;
      case "to":
        this.cachedTo = undefined;
        break;
      case "via":
        this.cachedVias = undefined;
        break;
    }
  }

  private required(key: string): string {
    const value = this.headers.get(key);
    if (value === undefined) throw new HeaderError(`${key}: missing`);
    return value;
  }

  private nameAddr(key: string): NameAddr {
    const parsed = parseNameAddr(this.required(key));
    if (!parsed.ok) throw new HeaderError(`${key}: ${parsed.reason}`);
    return parsed.value;
  }
}

export interface RequestInit extends MessageInit {
  method: string;
  uri: string;
  ruri?: Uri;
  /** Max-Forwards as validated by the parser; undefined when absent. */
  maxForwards?: number;
}

export class SipRequest extends MessageBase {
  readonly kind = "request";
  readonly method: string;
  private currentUri: string;
  private receivedUri: string;
  private cachedRuri: Uri | undefined;
  private cachedMaxForwards: number | undefined | null;

  constructor(init: RequestInit) {
    super(init);
    this.method = init.method;
    this.currentUri = init.uri;
    this.receivedUri = init.uri;
    this.cachedRuri = init.ruri;
    // null: not read yet; undefined: read, header absent
    this.cachedMaxForwards = init.startLine === undefined ? null : init.maxForwards;
  }

  /** The Request-URI as it arrived, whatever the script assigned to `uri` since. */
  get uriAsReceived(): string {
    return this.receivedUri;
  }

  /**
   * A request read back from a snapshot (tm/stored.ts) is given the Request-URI and top Via it
   * arrived with, which its serialized form no longer shows, so it keeps its transaction key.
   */
  restoreAsReceived(uri: string | undefined, topVia: string | undefined): void {
    if (uri !== undefined) this.receivedUri = uri;
    if (topVia !== undefined) this.sentTopVia = topVia;
  }

  /** The Request-URI as text; assign to rewrite it (the parsed form is re-read on next use). */
  get uri(): string {
    return this.currentUri;
  }

  set uri(value: string) {
    this.currentUri = value;
    this.cachedRuri = undefined;
  }

  /** The parsed Request-URI; throws HeaderError if code assigned an unparseable one. */
  ruri(): Uri {
    if (this.cachedRuri === undefined) {
      const parsed = parseUri(this.currentUri);
      if (!parsed.ok) throw new HeaderError(`Request-URI: ${parsed.reason}`);
      this.cachedRuri = parsed.value;
    }
    return this.cachedRuri;
  }

  /** Max-Forwards as a number; undefined when the header is absent. Assigning sets the header. */
  get maxForwards(): number | undefined {
    if (this.cachedMaxForwards === null) {
      const text = this.headers.get("max-forwards");
      this.cachedMaxForwards = text === undefined ? undefined : parseMaxForwards(text);
    }
    return this.cachedMaxForwards;
  }

  set maxForwards(value: number | undefined) {
    if (value === undefined) this.headers.remove("max-forwards");
    else this.headers.set("max-forwards", String(value));
    this.cachedMaxForwards = value;
  }

  /** A deep copy (a proxy's per-branch copy, RFC 3261 §16.6 item 1): header lines, not a reparse. */
  clone(): SipRequest {
    // A start line tells the constructor that maxForwards is known (see the constructor).
    const init: RequestInit = { ...this.cloneInit(), method: this.method, uri: this.currentUri, startLine: this.startLine() };
    const maxForwards = this.maxForwards;
    if (maxForwards !== undefined) init.maxForwards = maxForwards;
    return new SipRequest(init);
  }

  startLine(): string {
    if (this.receivedStartLine !== undefined && this.currentUri === this.receivedUri) {
      return this.receivedStartLine;
    }
    return `${this.method} ${this.currentUri} SIP/2.0`;
  }

  override headerChanged(key: string): void {
    if (key === "max-forwards") this.cachedMaxForwards = null;
    else super.headerChanged(key);
  }
}

export interface ResponseInit extends MessageInit {
  status: number;
  reason: string;
}

export class SipResponse extends MessageBase {
  readonly kind = "response";
  status: number;
  reason: string;
  private readonly receivedStatus: number;
  private readonly receivedReason: string;

  constructor(init: ResponseInit) {
    super(init);
    this.status = init.status;
    this.reason = init.reason;
    this.receivedStatus = init.status;
    this.receivedReason = init.reason;
  }

  /** A deep copy: header lines, not a reparse. */
  clone(): SipResponse {
    const init: ResponseInit = { ...this.cloneInit(), status: this.status, reason: this.reason };
    const line = this.startLine();
    if (this.receivedStartLine !== undefined) init.startLine = line;
    return new SipResponse(init);
  }

  startLine(): string {
    if (
      this.receivedStartLine !== undefined &&
      this.status === this.receivedStatus &&
      this.reason === this.receivedReason
    ) {
      return this.receivedStartLine;
    }
    return `SIP/2.0 ${this.status} ${this.reason}`;
  }
}

export type SipMessage = SipRequest | SipResponse;

/**
 * Max-Forwards = 1*DIGIT (RFC 3261 §20.22), 0-255 in practice (Kamailio rejects above 255).
 * Leading zeros are legal (RFC 4475 §3.1.1.1: "0068"). Returns undefined when malformed.
 */
export function parseMaxForwards(text: string): number | undefined {
  if (text.length === 0) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
    if (n > 255) return undefined;
  }
  return n;
}

/** Content-Length = 1*DIGIT. Values beyond any message size are capped: they fail the length check. */
export function parseContentLength(text: string): number | undefined {
  if (text.length === 0) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (!(d >= 0 && d <= 9)) return undefined;
    n = Math.min(n * 10 + d, 0x7fffffff);
  }
  return n;
}

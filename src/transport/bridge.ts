import type { Transport } from "../routing/context.ts";
import type { SipMessage } from "../sip/message.ts";
import { serialize, serializeBytes } from "../sip/serializer.ts";
import { BRIDGE_SUBPROTOCOL_V1, BRIDGE_SUBPROTOCOL_V2, MAX_BATCH, RECORD_OVERHEAD, decodeBatch, encodeBatch, isBatch, type OutRecord } from "./bridge-batch.ts";

/**
 * The edge side of the bridge link (protocols `sipedge-bridge.v1` and `.v2`, bridge/README.md):
 * one WebSocket per (shard, bridge); a datagram frame is `<address>\r\n<SIP message>`, a control
 * frame a JSON object, and on v2 a batch frame carries several of them (bridge-batch.ts).
 */
export const BRIDGE_SUBPROTOCOL = BRIDGE_SUBPROTOCOL_V1;

/** The link's protocol from the bridge's offer: v2 (batches) when offered, else v1, else none. */
export function chooseSubprotocol(offer: string | null | undefined): string | undefined {
  const offered = (offer ?? "").split(",").map((p) => p.trim());
  if (offered.includes(BRIDGE_SUBPROTOCOL_V2)) return BRIDGE_SUBPROTOCOL_V2;
  return offered.includes(BRIDGE_SUBPROTOCOL_V1) ? BRIDGE_SUBPROTOCOL_V1 : undefined;
}

export interface HostPort {
  host: string;
  port?: number;
}

export type BridgeFrame =
  | { kind: "datagram"; address: string; ip: string; port: number; message: string | Uint8Array }
  /**
   * `rtpengine`: the bridge runs media commands (it was started with `--rtpengine`); `pong`: it
   * answers `ping` control frames (durable-objects/bridge-probes.ts).
   */
  | { kind: "hello"; bridge: string; advertise: HostPort; rtpengine: boolean; pong: boolean }
  | { kind: "control"; type: string; body: Record<string, unknown> }
  | { kind: "invalid"; reason: string };

/** `ip:port` or `[v6]:port` (what the bridge reports as a datagram's source). */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]+)):([0-9]{1,5})$/.exec(text);
  if (m) {
    const port = Number(m[3]);
    return port >= 1 && port <= 65535 ? { host: m[1] ?? (m[2] as string), port } : undefined;
  }
  return /^[^:\s]+$/.test(text) ? { host: text } : undefined;
}

export function formatHostPort(hp: HostPort): string {
  const host = hp.host.includes(":") && !hp.host.startsWith("[") ? `[${hp.host}]` : hp.host;
  return hp.port === undefined ? host : `${host}:${hp.port}`;
}

function controlFrame(text: string): BridgeFrame {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { kind: "invalid", reason: "control frame is not JSON" };
  }
  if (body.type === "hello") {
    const advertise = typeof body.advertise === "string" ? parseHostPort(body.advertise) : undefined;
    if (!advertise || typeof body.bridge !== "string") return { kind: "invalid", reason: "hello without bridge or advertise" };
    return { kind: "hello", bridge: body.bridge, advertise, rtpengine: body.rtpengine === true, pong: body.pong === true };
  }
  return { kind: "control", type: String(body.type), body };
}

/** Reads one frame from the bridge. Binary frames carry datagrams that are not UTF-8. */
export function parseBridgeFrame(data: string | ArrayBuffer): BridgeFrame {
  if (typeof data === "string") return parseTextFrame(data);
  return parseBinaryFrame(new Uint8Array(data));
}

const decoder = new TextDecoder();

/**
 * Every frame a link message carries: one, or each record of a v2 batch in order. A batch that
 * breaks off yields its whole records and then an `invalid` frame with the reason.
 */
export function parseBridgeFrames(data: string | ArrayBuffer): BridgeFrame[] {
  if (typeof data === "string") return [parseTextFrame(data)];
  const bytes = new Uint8Array(data);
  if (!isBatch(bytes)) return [parseBinaryFrame(bytes)];
  const batch = decodeBatch(bytes);
  const frames = batch.records.map((r) => (r.binary ? parseBinaryFrame(r.data) : parseTextFrame(decoder.decode(r.data))));
  if (batch.error !== undefined) frames.push({ kind: "invalid", reason: "batch frame: " + batch.error });
  return frames;
}

function parseTextFrame(data: string): BridgeFrame {
  if (data.startsWith("{")) return controlFrame(data);
  const nl = data.indexOf("\r\n");
  const hp = nl < 0 ? undefined : parseHostPort(data.slice(0, nl));
  if (!hp || hp.port === undefined) return { kind: "invalid", reason: "datagram frame without a source address" };
  return { kind: "datagram", address: data.slice(0, nl), ip: hp.host, port: hp.port, message: data.slice(nl + 2) };
}

function parseBinaryFrame(bytes: Uint8Array): BridgeFrame {
  let nl = -1;
  for (let i = 0; i + 1 < bytes.length && i < 80; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) {
      nl = i;
      break;
    }
  }
  const address = nl < 0 ? "" : String.fromCharCode(...bytes.subarray(0, nl));
  const hp = parseHostPort(address);
  if (!hp || hp.port === undefined) return { kind: "invalid", reason: "datagram frame without a source address" };
  return { kind: "datagram", address, ip: hp.host, port: hp.port, message: bytes.subarray(nl + 2) };
}

/** Sends SIP messages to one UDP address through a bridge link. */
export class BridgeTransport implements Transport {
  constructor(
    private readonly link: LinkSender,
    private readonly address: string,
  ) {}

  send(message: SipMessage | string): void {
    this.link.datagram(this.address, message);
  }
}

/** What a link needs of a WebSocket (a fake in tests). */
export interface LinkSocket {
  send(data: string | Uint8Array): void;
}

interface Queued {
  head: string;
  body: string | Uint8Array;
  binary: boolean;
}

const encoder = new TextEncoder();

/**
 * The edge's way onto one bridge link. On a v1 link every datagram is a frame of its own. On a v2
 * link, a frame on an idle link leaves at once, as a plain v1 frame, and opens a window: what the
 * object sends until `schedule` runs the flush (a zero-delay timer, so the events already queued
 * for the object run first) leaves as one batch frame, and the window stays open while each
 * flush finds something to send. In one event the object sends at most one datagram to the
 * bridge (a call's INVITE, ACK, BYE come in separate client messages), so a microtask flush
 * batches nothing here; the timer batches across events (bench/README, "Batching the bridge link").
 * On a busy shard the timer fires late (the object's queued events run first) and collects other
 * calls' frames: sending a lone frame without opening the window (no timer) measured 5.9-6.0
 * WebSocket messages per gateway call against 3.6-3.9 with it, and cost both ends more
 * (bench/README, "Gateway call, round 7").
 */
export class LinkSender {
  /** WebSocket messages sent, and the datagram/control frames they carried. */
  messages = 0;
  frames = 0;
  private queue: Queued[] = [];
  /** A flush is scheduled: frames wait for it. */
  private window = false;

  constructor(
    private readonly ws: LinkSocket,
    readonly batching: boolean,
    // Called through a closure: workerd's timer functions refuse any other `this` (Illegal invocation).
    private readonly schedule: (flush: () => void) => void = (flush) => void setTimeout(flush, 0),
  ) {}

  /** A SIP datagram for `address`; a message read from bytes goes on as those bytes. */
  datagram(address: string, message: SipMessage | string): void {
    const head = address + "\r\n";
    if (typeof message !== "string" && message.encoding === "binary") return this.push(head, serializeBytes(message), true);
    this.push(head, typeof message === "string" ? message : serialize(message), false);
  }

  /** A control frame (a JSON object as text). */
  control(json: string): void {
    this.push("", json, false);
  }

  private push(head: string, body: string | Uint8Array, binary: boolean): void {
    this.frames++;
    if (!this.batching) return this.sendOne({ head, body, binary });
    if (this.window) return void this.queue.push({ head, body, binary });
    this.window = true;
    this.schedule(this.flush);
    this.sendOne({ head, body, binary });
  }

  readonly flush = (): void => {
    const queue = this.queue;
    // Nothing came during the window: the link is idle again, and the next frame leaves at once.
    if (queue.length === 0) return void (this.window = false);
    this.queue = [];
    this.schedule(this.flush);
    if (queue.length === 1) return this.sendOne(queue[0] as Queued);
    // Consecutive records up to MAX_BATCH bytes share a frame; one that fills a frame alone goes as v1.
    let batch: OutRecord[] = [];
    let size = 1;
    let first = 0;
    const send = (end: number): void => {
      if (batch.length === 1) this.sendOne(queue[first] as Queued);
      else if (batch.length > 1) {
        this.messages++;
        this.ws.send(encodeBatch(batch));
      }
      batch = [];
      size = 1;
      first = end;
    };
    queue.forEach((q, i) => {
      const record = { head: q.head, body: typeof q.body === "string" ? encoder.encode(q.body) : q.body, binary: q.binary };
      const bytes = RECORD_OVERHEAD + record.head.length + record.body.length;
      if (batch.length > 0 && size + bytes > MAX_BATCH) send(i);
      batch.push(record);
      size += bytes;
    });
    send(queue.length);
  };

  private sendOne(q: Queued): void {
    this.messages++;
    if (typeof q.body === "string") return this.ws.send(q.head + q.body);
    const head = encoder.encode(q.head);
    const frame = new Uint8Array(head.length + q.body.length);
    frame.set(head);
    frame.set(q.body, head.length);
    this.ws.send(frame);
  }
}

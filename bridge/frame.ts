/**
 * The link protocol's framing (bridge/README.md, "Link protocol"). A datagram frame is
 * `<address>\r\n<SIP message>`: from the bridge, the UDP source `ip:port`; from the edge, the
 * destination, `ip:port`, `[v6]:port`, `host:port` or a bare `host` (RFC 3263 SRV lookup). Text
 * frames carry UTF-8 messages; a datagram that is not valid UTF-8 travels in a binary frame of the
 * same layout. A frame whose first byte is `{` is a JSON control frame.
 */
import { isIP } from "node:net";
import { isUtf8 } from "node:buffer";
import { fail, ok, type Parsed } from "../src/sip/result.ts";
import { decodeBatch, isBatch } from "../src/transport/bridge-batch.ts";

/** A transport address: an IP literal (IPv6 without brackets) and a port. */
export interface Address {
  address: string;
  port: number;
}

/** Where the edge asked a datagram to go, before resolution. */
export interface Target {
  host: string;
  /** Absent: RFC 3263 §4.2 SRV lookup of `_sip._udp.<host>`, then A with 5060. */
  port: number | undefined;
  /** 4 or 6 for an IP literal, 0 for a host name. */
  ip: 0 | 4 | 6;
}

export type EdgeFrame =
  | { kind: "datagram"; target: string; payload: Buffer; binary: boolean }
  | { kind: "control"; control: Record<string, unknown> }
  | { kind: "invalid"; reason: string };

/** Longest address line accepted (a DNS name is at most 253 octets, plus ":65535"). */
const MAX_ADDRESS = 300;

/**
 * Every frame one WebSocket message from the edge carries: itself, or each record of a v2 batch.
 * A batch that breaks off yields its whole records, then an `invalid` frame with the reason.
 */
export function parseEdgeFrames(data: Buffer, binary: boolean): EdgeFrame[] {
  if (!binary || !isBatch(data)) return [parseEdgeFrame(data, binary)];
  const batch = decodeBatch(data);
  const frames = batch.records.map((r) => parseEdgeFrame(r.data as Buffer, r.binary));
  if (batch.error !== undefined) frames.push({ kind: "invalid", reason: "batch frame: " + batch.error });
  return frames;
}

/** Splits one frame from the edge. The payload shares the frame's memory (no copy). */
export function parseEdgeFrame(data: Buffer, binary: boolean): EdgeFrame {
  if (data.length > 0 && data[0] === 0x7b /* { */) {
    try {
      const control: unknown = JSON.parse(data.toString("utf8"));
      if (typeof control === "object" && control !== null && !Array.isArray(control)) {
        return { kind: "control", control: control as Record<string, unknown> };
      }
      return { kind: "invalid", reason: "control frame is not a JSON object" };
    } catch {
      return { kind: "invalid", reason: "control frame is not valid JSON" };
    }
  }
  const end = Math.min(data.length, MAX_ADDRESS);
  for (let i = 0; i + 1 < end; i++) {
    if (data[i] === 0x0d && data[i + 1] === 0x0a) {
      if (i === 0) return { kind: "invalid", reason: "empty address line" };
      return { kind: "datagram", target: data.toString("latin1", 0, i), payload: data.subarray(i + 2), binary };
    }
  }
  return { kind: "invalid", reason: "no address line" };
}

/** A datagram frame for the edge, as `EdgeLink.sendFrame` takes it: the source address line, then the datagram's bytes as they came. */
export function datagramFrame(from: string, datagram: Buffer, utf8 = isUtf8(datagram)): { head: string; body: Buffer; binary: boolean } {
  return { head: from + "\r\n", body: datagram, binary: !utf8 };
}

/** `ip:port` for IPv4, `[ip]:port` for IPv6: the form frames and Via use. */
export function formatAddress(a: Address): string {
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** Parses a destination line: `ip:port`, `[v6]:port`, `[v6]`, `host:port` or `host`. */
export function parseTarget(text: string): Parsed<Target> {
  let host: string;
  let portText: string | undefined;
  if (text.charCodeAt(0) === 91 /* [ */) {
    const close = text.indexOf("]");
    if (close < 0) return fail("unclosed IPv6 bracket");
    host = text.slice(1, close);
    if (close + 1 < text.length) {
      if (text.charCodeAt(close + 1) !== 58 /* : */) return fail("junk after IPv6 address");
      portText = text.slice(close + 2);
    }
    if (isIP(host) !== 6) return fail("invalid IPv6 address");
  } else {
    const colon = text.indexOf(":");
    host = colon < 0 ? text : text.slice(0, colon);
    if (colon >= 0) portText = text.slice(colon + 1);
  }
  if (host.length === 0) return fail("missing host");
  let port: number | undefined;
  if (portText !== undefined) {
    port = parsePort(portText);
    if (port === undefined || port === 0) return fail("invalid port");
  }
  const family = isIP(host);
  if (family === 0 && !isHostName(host)) return fail("invalid host name");
  return ok({ host: host.toLowerCase(), port, ip: family === 0 ? 0 : (family as 4 | 6) });
}

/** 0-65535 in plain digits; undefined otherwise. */
export function parsePort(text: string): number | undefined {
  if (text.length === 0 || text.length > 5) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n <= 65535 ? n : undefined;
}

/** RFC 1123 host name: dot-separated labels of letters, digits and hyphens. */
function isHostName(host: string): boolean {
  if (host.length > 253) return false;
  let label = 0;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c === 0x2e /* . */) {
      if (label === 0) return false;
      label = 0;
      continue;
    }
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!alnum && c !== 0x2d && c !== 0x5f /* _ for SRV-style names */) return false;
    if (++label > 63) return false;
  }
  return label > 0 || host.endsWith(".");
}

import {
  DIGIT,
  TOKEN,
  describeChar,
  isIPv4,
  isIPv6,
  lower,
  parseDigits,
  scanClass,
  scanHost,
  skipWs,
  trimEnd,
} from "./grammar.ts";
import { formatParams, parseParamsAt } from "./params.ts";
import type { Params } from "./params.ts";
import { fail, ok } from "./result.ts";
import type { Parsed } from "./result.ts";

/**
 * One via-parm. `protocol` is "SIP/2.0" (name upper-cased), `transport` upper-cased ("UDP",
 * "WSS" ...), `host` the sent-by host (lower-cased; IPv6 keeps its brackets). `params` holds
 * every via-param in wire order, branch included; `branch` is a copy for convenience, and when
 * set it is what formatVia writes.
 */
export interface Via {
  protocol: string;
  transport: string;
  host: string;
  port?: number;
  params: Params;
  branch?: string;
}

/** RFC 3261 §8.1.1.7: branches of RFC 3261 elements "MUST always begin with" this cookie. */
export const BRANCH_MAGIC_COOKIE = "z9hG4bK";

/**
 * via-parm = sent-protocol LWS sent-by *( SEMI via-params ), with
 * sent-protocol = protocol-name SLASH protocol-version SLASH transport. SLASH, COLON and SEMI
 * allow LWS around them (RFC 4475 wsinv: "SIP  /   2.0 /UDP"). One via-parm: the caller
 * splits comma-separated lists.
 */
export function parseVia(text: string): Parsed<Via> {
  const end = trimEnd(text, 0);
  let i = skipWs(text, 0, end);
  const nameStart = i;
  i = scanClass(text, i, end, TOKEN);
  const nameEnd = i;
  if (nameEnd === nameStart) return fail("missing protocol name");
  i = slash(text, i, end);
  if (i < 0) return fail("malformed sent-protocol");
  const versionStart = i;
  i = scanClass(text, i, end, TOKEN);
  const versionEnd = i;
  if (versionEnd === versionStart) return fail("missing protocol version");
  i = slash(text, i, end);
  if (i < 0) return fail("malformed sent-protocol");
  const transportStart = i;
  i = scanClass(text, i, end, TOKEN);
  if (i === transportStart) return fail("missing transport");
  const transport = upper(text.slice(transportStart, i));
  const hostStart = skipWs(text, i, end);
  if (hostStart === i) return fail(i < end ? `${describeChar(text, i)} after transport` : "missing sent-by");
  const hostEnd = scanHost(text, hostStart, end);
  if (typeof hostEnd === "string") return fail(hostEnd);
  i = skipWs(text, hostEnd, end);
  let port: number | undefined;
  if (i < end && text.charCodeAt(i) === 58 /* : */) {
    const portStart = skipWs(text, i + 1, end);
    i = scanClass(text, portStart, end, DIGIT);
    port = parseDigits(text, portStart, i, 65535);
    if (port < 0) return fail("invalid sent-by port");
  }
  const params: Params = new Map();
  const stop = parseParamsAt(text, i, end, params);
  if (typeof stop === "string") return fail(stop);
  const invalid = checkViaParams(params);
  if (invalid !== undefined) return fail(invalid);
  const via: Via = {
    protocol: protocolName(text, nameStart, nameEnd, versionStart, versionEnd),
    transport,
    host: lower(text.slice(hostStart, hostEnd)),
    params,
  };
  if (port !== undefined) via.port = port;
  const branch = params.get("branch");
  if (branch !== undefined && branch !== null) via.branch = branch;
  return ok(via);
}

/** SLASH = SWS "/" SWS; returns the index after it, or -1. */
function slash(text: string, i: number, end: number): number {
  i = skipWs(text, i, end);
  if (i >= end || text.charCodeAt(i) !== 47) return -1;
  return skipWs(text, i + 1, end);
}

function protocolName(text: string, ns: number, ne: number, vs: number, ve: number): string {
  if (ne - ns === 3 && ve - vs === 3 && text.startsWith("SIP", ns) && text.startsWith("2.0", vs)) return "SIP/2.0";
  return upper(text.slice(ns, ne)) + "/" + text.slice(vs, ve);
}

function upper(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 97 && c <= 122) return text.toUpperCase();
  }
  return text;
}

/**
 * The via-params with a defined syntax (RFC 3261 §20.42, RFC 3581 rport). `received` may be an
 * IPv6 address with or without brackets: RFC 3261's ABNF says without, deployed stacks send
 * both, and RFC 5118 §4.5 asks parsers to be liberal.
 */
function checkViaParams(params: Params): string | undefined {
  if (params.size === 0) return undefined;
  const branch = params.get("branch");
  if (branch === null) return "branch parameter without value";
  const received = params.get("received");
  if (received !== undefined && (received === null || !isIpAddress(received))) return "invalid received parameter";
  const rport = params.get("rport");
  if (rport !== undefined && rport !== null && parseDigits(rport, 0, rport.length, 65535) < 0) {
    return "invalid rport parameter";
  }
  const ttl = params.get("ttl");
  if (ttl !== undefined && (ttl === null || parseDigits(ttl, 0, ttl.length, 255) < 0)) return "invalid ttl parameter";
  const maddr = params.get("maddr");
  if (maddr !== undefined && (maddr === null || scanHost(maddr, 0, maddr.length) !== maddr.length)) {
    return "invalid maddr parameter";
  }
  return undefined;
}

function isIpAddress(text: string): boolean {
  if (text.charCodeAt(0) === 91) return text.endsWith("]") && isIPv6(text, 1, text.length - 1);
  return isIPv4(text, 0, text.length) || isIPv6(text, 0, text.length);
}

export function formatVia(v: Via): string {
  let out = v.protocol + "/" + v.transport + " " + v.host;
  if (v.port !== undefined) out += ":" + v.port;
  if (v.branch === undefined || v.params.get("branch") === v.branch) return out + formatParams(v.params);
  if (!v.params.has("branch")) return out + ";branch=" + v.branch + formatParams(v.params);
  const params: Params = new Map(v.params);
  params.set("branch", v.branch);
  return out + formatParams(params);
}

/** The received address without brackets, or undefined when the Via has none. */
export function viaReceived(v: Via): string | undefined {
  const received = v.params.get("received");
  if (received === undefined || received === null) return undefined;
  return received.charCodeAt(0) === 91 ? received.slice(1, -1) : received;
}

/**
 * RFC 3581 rport: undefined when absent, null when present without a value (the client asks
 * for it), else the port the server filled in.
 */
export function viaRport(v: Via): number | null | undefined {
  const rport = v.params.get("rport");
  if (rport === undefined || rport === null) return rport;
  return parseDigits(rport, 0, rport.length, 65535);
}

/** True when the branch carries the RFC 3261 magic cookie (transaction ids can rely on it). */
export function isRfc3261Branch(branch: string | undefined): boolean {
  return branch !== undefined && branch.length > BRANCH_MAGIC_COOKIE.length && branch.startsWith(BRANCH_MAGIC_COOKIE);
}

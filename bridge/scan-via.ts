/**
 * The top Via's transaction key, read from the bytes of a Via line: sent-by host (lower case),
 * port and branch (RFC 3261 §20.42, §17.1.3, §17.2.3). It follows the grammar parseVia
 * (src/sip/via.ts) enforces as far as those three fields need: sent-protocol with LWS around the
 * slashes, LWS before sent-by, an IPv6 reference in brackets, a port of at most 65535, params as
 * `;name[=token|"quoted"]`. The other params are skipped, not checked: that is the edge's job.
 */
import type { ViaKey } from "./scan.ts";

const COMMA = 0x2c;
const SEMI = 0x3b;
const COLON = 0x3a;
const SLASH = 0x2f;
const EQUAL = 0x3d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** SP, HTAB, and the CR LF of a fold (a folded line keeps them; each is followed by SP or HTAB). */
function isLws(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** RFC 3261 token characters: alphanum and -.!%*_+`'~ */
const TOKEN = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~") TOKEN[c.charCodeAt(0)] = 1;

function skipLws(data: Buffer, i: number, end: number): number {
  while (i < end && isLws(data[i])) i++;
  return i;
}

function skipToken(data: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const c = data[i] ?? 0;
    if (c >= 128 || TOKEN[c] === 0) break;
  }
  return i;
}

/** Where a Via line's first element starts, or -1 when the line holds none (empty, or commas only). */
export function firstElement(data: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end && (isLws(data[i]) || data[i] === COMMA)) i++;
  return i < end ? i : -1;
}

/** Reads the via-parm at `i` (up to the next top-level comma or `end`); undefined when malformed. */
export function readVia(data: Buffer, i: number, end: number): ViaKey | undefined {
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS
  for (let part = 0; part < 3; part++) {
    const tokenEnd = skipToken(data, i, end);
    if (tokenEnd === i) return undefined;
    i = skipLws(data, tokenEnd, end);
    if (part < 2) {
      if (data[i] !== SLASH) return undefined;
      i = skipLws(data, i + 1, end);
    } else if (i === tokenEnd) {
      return undefined; // LWS before sent-by is required
    }
  }
  const hostStart = i;
  if (data[i] === 0x5b /* [ */) {
    while (i < end && data[i] !== 0x5d /* ] */) i++;
    if (i === end) return undefined;
    i++;
  } else {
    while (i < end && !isLws(data[i]) && data[i] !== COLON && data[i] !== SEMI && data[i] !== COMMA) i++;
  }
  if (i === hostStart) return undefined;
  const host = data.toString("latin1", hostStart, i).toLowerCase();
  i = skipLws(data, i, end);
  let port: number | undefined;
  if (data[i] === COLON) {
    i = skipLws(data, i + 1, end);
    const digits = i;
    port = 0;
    for (; i < end && (data[i] ?? 0) >= 0x30 && (data[i] ?? 0) <= 0x39; i++) {
      port = port * 10 + (data[i] ?? 0) - 0x30;
      if (port > 65535) return undefined;
    }
    if (i === digits) return undefined;
    i = skipLws(data, i, end);
  }
  const branch = readBranch(data, i, end);
  if (branch === false) return undefined;
  const via: { host: string; port?: number; branch?: string } = { host };
  if (port !== undefined) via.port = port;
  if (branch !== undefined) via.branch = branch;
  return via;
}

/** The params after sent-by: the branch value, undefined without one, false when malformed. */
function readBranch(data: Buffer, i: number, end: number): string | undefined | false {
  let branch: string | undefined;
  while (i < end && data[i] !== COMMA) {
    if (data[i] !== SEMI) return false;
    i = skipLws(data, i + 1, end);
    const nameStart = i;
    i = skipToken(data, i, end);
    if (i === nameStart) return false;
    const isBranch = i - nameStart === 6 && isBranchName(data, nameStart);
    i = skipLws(data, i, end);
    if (data[i] !== EQUAL) {
      if (isBranch) return false; // "branch parameter without value" (parseVia)
      continue;
    }
    i = skipLws(data, i + 1, end);
    const valueStart = i;
    if (data[i] === QUOTE) {
      for (i++; i < end && data[i] !== QUOTE; i++) if (data[i] === BACKSLASH) i++;
      if (i >= end) return false;
      i++;
    } else {
      while (i < end && !isLws(data[i]) && data[i] !== SEMI && data[i] !== COMMA) i++;
    }
    if (i === valueStart) return false;
    if (isBranch) branch ??= data.toString("latin1", valueStart, i);
    i = skipLws(data, i, end);
  }
  return branch;
}

/** "branch" in any case (param names are case-insensitive, RFC 3261 §7.3.1). */
function isBranchName(data: Buffer, at: number): boolean {
  for (let k = 0; k < 6; k++) {
    const c = data[at + k] ?? 0;
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== "branch".charCodeAt(k)) return false;
  }
  return true;
}

/**
 * IP addresses and CIDR prefixes as 32-bit words, parsed without regular expressions or
 * allocation beyond the result, so the address checks on the per-message path stay cheap.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, RFC 4291 §2.5.5.2) are returned as the IPv4
 * address they carry: a dual-stack socket reports IPv4 peers that way, and an ACL written for
 * `192.0.2.1` must match them.
 */

/** IPv4 uses `w3` only (`w0..w2` are 0); IPv6 spreads its 128 bits over `w0..w3`, network order. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
}

/** A network: the address with its host bits cleared, and the mask words to compare under. */
export interface Subnet {
  readonly family: 4 | 6;
  readonly prefix: number;
  readonly n0: number;
  readonly n1: number;
  readonly n2: number;
  readonly n3: number;
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
}

const CH_0 = 48;
const CH_9 = 57;
const CH_DOT = 46;
const CH_COLON = 58;

function v4(w3: number): IpAddress {
  return { family: 4, w0: 0, w1: 0, w2: 0, w3 };
}

/**
 * Dotted-quad IPv4 between `start` and `end`, or -1. Leading zeros are refused, as inet_pton
 * does: `010.0.0.1` is octal to some parsers and decimal to others, and an ACL must not guess.
 */
function parseIPv4(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= CH_0 && c <= CH_9) {
      if (digits === 1 && octet === 0) return -1;
      octet = octet * 10 + (c - CH_0);
      if (octet > 255) return -1;
      digits++;
    } else if (c === CH_DOT) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

function hexValue(c: number): number {
  if (c >= CH_0 && c <= CH_9) return c - CH_0;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/**
 * RFC 4291 §2.2 text forms: eight hextets, one `::` for one or more zero hextets, and an
 * optional dotted IPv4 tail standing for the last two. Zone identifiers are refused.
 */
function parseIPv6(text: string, start: number, end: number): IpAddress | undefined {
  const groups: number[] = [];
  let gap = -1;
  let i = start;
  if (end - start >= 2 && text.charCodeAt(i) === CH_COLON) {
    if (text.charCodeAt(i + 1) !== CH_COLON) return undefined;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    let value = 0;
    let j = i;
    while (j < end && j - i < 5) {
      const h = hexValue(text.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      j++;
    }
    if (j < end && text.charCodeAt(j) === CH_DOT) {
      const tail = parseIPv4(text, i, end);
      if (tail < 0 || groups.length > 6) return undefined;
      groups.push(Math.floor(tail / 65536), tail % 65536);
      break;
    }
    if (j === i || j - i > 4) return undefined;
    groups.push(value);
    if (j === end) break;
    if (text.charCodeAt(j) !== CH_COLON) return undefined;
    if (j + 1 < end && text.charCodeAt(j + 1) === CH_COLON) {
      if (gap >= 0) return undefined;
      gap = groups.length;
      i = j + 2;
    } else {
      if (j + 1 === end) return undefined;
      i = j + 1;
    }
  }
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) return undefined;
  const h = new Array<number>(8).fill(0);
  const tailCount = gap < 0 ? 0 : groups.length - gap;
  for (let k = 0; k < groups.length; k++) {
    const at = gap < 0 || k < gap ? k : 8 - tailCount + (k - gap);
    h[at] = groups[k] ?? 0;
  }
  const word = (a: number): number => (h[a] ?? 0) * 65536 + (h[a + 1] ?? 0);
  const w0 = word(0);
  const w1 = word(2);
  const w2 = word(4);
  const w3 = word(6);
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) return v4(w3);
  return { family: 6, w0, w1, w2, w3 };
}

/** Parses an IPv4 or IPv6 address (optionally in `[...]`); undefined when it is neither. */
export function parseIp(text: string): IpAddress | undefined {
  let start = 0;
  let end = text.length;
  if (end > 1 && text.charCodeAt(0) === 91 && text.charCodeAt(end - 1) === 93) {
    start = 1;
    end -= 1;
  }
  if (text.indexOf(":", start) >= 0) return parseIPv6(text, start, end);
  const value = parseIPv4(text, start, end);
  return value < 0 ? undefined : v4(value);
}

function formatIPv4(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
}

/** RFC 5952 §4: lowercase, no leading zeros, the longest run of two or more zero hextets as `::`. */
function formatIPv6(a: IpAddress): string {
  const h = [a.w0 >>> 16, a.w0 & 0xffff, a.w1 >>> 16, a.w1 & 0xffff, a.w2 >>> 16, a.w2 & 0xffff, a.w3 >>> 16, a.w3 & 0xffff];
  let bestAt = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (h[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && h[e] === 0) e++;
    if (e - k > bestLen) {
      bestAt = k;
      bestLen = e - k;
    }
    k = e;
  }
  const hex = (from: number, to: number): string =>
    h.slice(from, to).map((x) => x.toString(16)).join(":");
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

/** The canonical text of an address: dotted quad, or RFC 5952 IPv6. */
export function formatIp(a: IpAddress): string {
  return a.family === 4 ? formatIPv4(a.w3) : formatIPv6(a);
}

function maskWord(prefix: number, wordIndex: number): number {
  const bits = Math.min(32, Math.max(0, prefix - wordIndex * 32));
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** Compiles `address/prefix` into a network with precomputed masks (host bits cleared). */
export function makeSubnet(a: IpAddress, prefix: number): Subnet {
  // IPv4 lives in w3, so its prefix counts from bit 96 of the 128-bit layout.
  const p = a.family === 4 ? prefix + 96 : prefix;
  const m0 = a.family === 4 ? 0 : maskWord(p, 0);
  const m1 = a.family === 4 ? 0 : maskWord(p, 1);
  const m2 = a.family === 4 ? 0 : maskWord(p, 2);
  const m3 = maskWord(p, 3);
  return {
    family: a.family,
    prefix,
    n0: (a.w0 & m0) >>> 0,
    n1: (a.w1 & m1) >>> 0,
    n2: (a.w2 & m2) >>> 0,
    n3: (a.w3 & m3) >>> 0,
    m0,
    m1,
    m2,
    m3,
  };
}

export function subnetContains(s: Subnet, a: IpAddress): boolean {
  return (
    s.family === a.family &&
    ((a.w3 & s.m3) >>> 0) === s.n3 &&
    ((a.w2 & s.m2) >>> 0) === s.n2 &&
    ((a.w1 & s.m1) >>> 0) === s.n1 &&
    ((a.w0 & s.m0) >>> 0) === s.n0
  );
}

export function formatSubnet(s: Subnet): string {
  const a: IpAddress = { family: s.family, w0: s.n0, w1: s.n1, w2: s.n2, w3: s.n3 };
  return `${formatIp(a)}/${s.prefix}`;
}

export type CidrResult =
  | { ok: true; address: IpAddress; prefix: number | undefined }
  | { ok: false; reason: string };

/**
 * Parses `address` or `address/prefix`. A prefix written on an IPv4-mapped IPv6 address is
 * translated to the IPv4 prefix it covers (`::ffff:10.0.0.0/104` is `10.0.0.0/8`).
 */
export function parseCidr(text: string): CidrResult {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const address = parseIp(addrText);
  if (address === undefined) return { ok: false, reason: `"${addrText}" is not an IP address` };
  if (slash < 0) return { ok: true, address, prefix: undefined };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return { ok: false, reason: `prefix "${prefixText}" is not a number` };
  let prefix = Number(prefixText);
  const writtenAsV6 = addrText.includes(":");
  if (writtenAsV6 && address.family === 4) {
    if (prefix < 96 || prefix > 128) {
      return { ok: false, reason: `prefix /${prefix} on an IPv4-mapped address must be 96..128` };
    }
    prefix -= 96;
  }
  const max = address.family === 4 ? 32 : 128;
  if (prefix > max) return { ok: false, reason: `prefix /${prefix} exceeds /${max}` };
  return { ok: true, address, prefix };
}

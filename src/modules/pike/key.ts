import { formatIp, parseIp } from "../permissions/ip.ts";

/**
 * The address pike counts under. IPv4 counts per address. IPv6 counts per /64: one host
 * usually owns a whole /64 (RFC 4291 §2.5.1 interface identifiers, RFC 8981 temporary
 * addresses), so counting per address would let it rotate through 2^64 fresh counters.
 * IPv4-mapped IPv6 counts as the IPv4 address it carries.
 */
export function pikeKey(ip: string): string {
  // Runtime source addresses arrive in canonical form; a dotted quad needs no parsing.
  if (ip.indexOf(":") < 0) return ip;
  const a = parseIp(ip);
  // Unparseable text still gets a counter of its own rather than escaping the limit.
  if (a === undefined) return ip;
  if (a.family === 4) return formatIp(a);
  return `${formatIp({ family: 6, w0: a.w0, w1: a.w1, w2: 0, w3: 0 })}/64`;
}

import { configError, configOk } from "./config-error.ts";
import type { ConfigResult } from "./config-error.ts";
import { formatIp, formatSubnet, makeSubnet, parseCidr, parseIp, subnetContains } from "./ip.ts";
import type { IpAddress, Subnet } from "./ip.ts";

/**
 * Address groups (Kamailio permissions: `allow_address`, `allow_source_address`,
 * `allow_address_group`), loaded from Kamailio's address file format or from rows of the
 * D1 `address` table (grp, ip_addr, mask, port, tag), compiled once into per-group maps of
 * exact addresses, subnets with precomputed masks (longest prefix first) and domain names.
 *
 * Kamailio rules kept: groups are integers ≥ 1; port 0 matches any port; a mask of 0 (or
 * none) means a single host (/32, /128); a name that is not an IP address is a domain name
 * matched literally, without DNS. sipedge additions: `ip_addr` may carry its own `/prefix`
 * (the only way to write /0, "everything"), and where several entries match, a port-specific
 * entry wins over a port-0 one and the longer prefix over the shorter, so the tag returned
 * does not depend on row order.
 */

export interface AddressRow {
  readonly grp: number | string;
  readonly ip_addr: string;
  readonly mask?: number | string | null;
  readonly port?: number | string | null;
  readonly tag?: string | null;
}

export type AddressMatch = { readonly allowed: true; readonly tag: string | undefined } | { readonly allowed: false };

export type AddressGroupMatch = { readonly found: true; readonly group: number } | { readonly found: false };

/** One compiled entry, as `permissions.addressDump` / `subnetDump` list them. */
export interface AddressRecordView {
  readonly grp: number;
  readonly kind: "address" | "subnet" | "domain";
  readonly address: string;
  readonly port: number;
  readonly tag: string | undefined;
}

interface Entry {
  readonly port: number;
  readonly tag: string | undefined;
}

interface SubnetEntry extends Entry {
  readonly subnet: Subnet;
}

interface Group {
  readonly exact: Map<ExactKey, Entry[]>;
  readonly subnets: SubnetEntry[];
  readonly domains: Map<string, Entry[]>;
}

const DENIED: AddressMatch = Object.freeze({ allowed: false });
const NOT_FOUND: AddressGroupMatch = Object.freeze({ found: false });

function integerField(value: number | string | null | undefined, min: number, max: number): number | undefined {
  if (value === null || value === undefined || value === "") return 0;
  const n = typeof value === "number" ? value : /^\d+$/.test(value) ? Number(value) : Number.NaN;
  return Number.isInteger(n) && n >= min && n <= max ? n : undefined;
}

/** Only letters, digits, '-' and '.', with at least one letter: else it was meant as an IP. */
function isDomainName(text: string): boolean {
  if (text.length === 0 || text.length > 253 || text.startsWith(".") || text.startsWith("-")) return false;
  let letter = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) | 0x20;
    if (c >= 97 && c <= 122) letter = true;
    else if (!((c >= 48 && c <= 57) || c === 0x2d || c === 0x2e)) return false;
  }
  return letter;
}

/** Exact-table key: the IPv4 address as a number (no string to build), IPv6 as its text. */
type ExactKey = number | string;

function exactKey(a: IpAddress): ExactKey {
  return a.family === 4 ? a.w3 : formatIp(a);
}

function exactKeyText(k: ExactKey): string {
  return typeof k === "number" ? formatIp({ family: 4, w0: 0, w1: 0, w2: 0, w3: k }) : k;
}

function findEntry(entries: readonly Entry[] | undefined, port: number): Entry | undefined {
  if (entries === undefined) return undefined;
  for (const e of entries) if (e.port === 0 || e.port === port) return e;
  return undefined;
}

export class AddressTable {
  private readonly groups = new Map<number, Group>();
  private readonly groupIds: number[] = [];

  private constructor() {}

  static empty(): AddressTable {
    return new AddressTable();
  }

  /** Kamailio address file: `grp address [mask [port [tag]]]`, `#` comments. */
  static fromFile(file: string, text: string): ConfigResult<AddressTable> {
    const table = new AddressTable();
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i] ?? "";
      const hash = raw.indexOf("#");
      const content = (hash < 0 ? raw : raw.slice(0, hash)).trim();
      if (content === "") continue;
      const tokens = content.split(/[ \t\r]+/);
      if (tokens.length > 5) {
        return configError(file, i + 1, "tag", "the tag must be a single token; unexpected text after it");
      }
      const [grp = "", ip_addr = "", mask, port, tag] = tokens;
      const added = table.add({ grp, ip_addr, mask, port, tag }, file, i + 1);
      if (added !== undefined) return added;
    }
    return table.finish();
  }

  /** Rows of the D1 `address` table; errors name the row (1-based) and column. */
  static fromRows(rows: readonly AddressRow[], table = "address"): ConfigResult<AddressTable> {
    const t = new AddressTable();
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (row === undefined) continue;
      const added = t.add(row, table, i + 1);
      if (added !== undefined) return added;
    }
    return t.finish();
  }

  /** `allow_address(group, addr, port)`: addr is an IP address or a domain name. */
  allowAddress(group: number, addr: string, port: number): AddressMatch {
    const g = this.groups.get(group);
    if (g === undefined) return DENIED;
    const ip = parseIp(addr);
    const e = ip === undefined ? findEntry(g.domains.get(addr.toLowerCase()), port) : matchIp(g, ip, port);
    return e === undefined ? DENIED : { allowed: true, tag: e.tag };
  }

  /** `allow_source_address(group)` with the request's source IP and port (group default 1). */
  allowSourceAddress(group: number, ip: string, port: number): AddressMatch {
    const g = this.groups.get(group);
    const a = g === undefined ? undefined : parseIp(ip);
    if (g === undefined || a === undefined) return DENIED;
    const e = matchIp(g, a, port);
    return e === undefined ? DENIED : { allowed: true, tag: e.tag };
  }

  /** `allow_address_group(addr, port)`: the lowest-numbered group that holds the address. */
  allowAddressGroup(addr: string, port: number): AddressGroupMatch {
    for (const id of this.groupIds) {
      if (this.allowAddress(id, addr, port).allowed) return { found: true, group: id };
    }
    return NOT_FOUND;
  }

  /** Every compiled entry, for admin listing. */
  dump(): AddressRecordView[] {
    const out: AddressRecordView[] = [];
    for (const grp of this.groupIds) {
      const g = this.groups.get(grp);
      if (g === undefined) continue;
      for (const [key, entries] of g.exact) {
        const address = exactKeyText(key);
        for (const e of entries) out.push({ grp, kind: "address", address, port: e.port, tag: e.tag });
      }
      for (const e of g.subnets) {
        out.push({ grp, kind: "subnet", address: formatSubnet(e.subnet), port: e.port, tag: e.tag });
      }
      for (const [address, entries] of g.domains) {
        for (const e of entries) out.push({ grp, kind: "domain", address, port: e.port, tag: e.tag });
      }
    }
    return out;
  }

  private group(id: number): Group {
    let g = this.groups.get(id);
    if (g === undefined) {
      g = { exact: new Map(), subnets: [], domains: new Map() };
      this.groups.set(id, g);
    }
    return g;
  }

  /** Validates and files one record; returns the error, or undefined when added. */
  private add(row: AddressRow, file: string, line: number): ConfigResult<AddressTable> | undefined {
    const grp = integerField(row.grp, 1, 0x7fffffff);
    if (grp === undefined || grp === 0) return configError(file, line, "grp", `"${row.grp}" is not a group number ≥ 1`);
    const port = integerField(row.port, 0, 65535);
    if (port === undefined) return configError(file, line, "port", `"${row.port}" is not a port 0..65535`);
    const tag = row.tag === null || row.tag === undefined || row.tag === "" ? undefined : row.tag;
    const entry: Entry = { port, tag };
    const ipText = String(row.ip_addr ?? "").trim();
    const cidr = parseCidr(ipText);
    if (!cidr.ok) {
      if (ipText.includes("/") || !isDomainName(ipText)) return configError(file, line, "ip_addr", cidr.reason);
      pushEntry(this.group(grp).domains, ipText.toLowerCase(), entry);
      return undefined;
    }
    const prefix = resolvePrefix(cidr.address, ipText, cidr.prefix, row.mask);
    if (typeof prefix === "string") return configError(file, line, "mask", prefix);
    const g = this.group(grp);
    const hostBits = cidr.address.family === 4 ? 32 : 128;
    if (prefix === hostBits) pushEntry(g.exact, exactKey(cidr.address), entry);
    else g.subnets.push({ ...entry, subnet: makeSubnet(cidr.address, prefix) });
    return undefined;
  }

  private finish(): ConfigResult<AddressTable> {
    for (const [id, g] of this.groups) {
      this.groupIds.push(id);
      g.subnets.sort((a, b) => b.subnet.prefix - a.subnet.prefix || portOrder(a, b));
      for (const list of g.exact.values()) list.sort(portOrder);
      for (const list of g.domains.values()) list.sort(portOrder);
    }
    this.groupIds.sort((a, b) => a - b);
    return configOk(this);
  }
}

/** Port-specific entries before port-0 ones (Array.prototype.sort is stable). */
function portOrder(a: Entry, b: Entry): number {
  return (a.port === 0 ? 1 : 0) - (b.port === 0 ? 1 : 0);
}

function pushEntry<K>(map: Map<K, Entry[]>, key: K, entry: Entry): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [entry]);
  else list.push(entry);
}

function matchIp(g: Group, a: IpAddress, port: number): Entry | undefined {
  const exact = g.exact.size === 0 ? undefined : findEntry(g.exact.get(exactKey(a)), port);
  if (exact !== undefined) return exact;
  for (const s of g.subnets) {
    if ((s.port === 0 || s.port === port) && subnetContains(s.subnet, a)) return s;
  }
  return undefined;
}

/**
 * The prefix of an entry from the `/n` in its address and its mask column. A mask of 0 or
 * none is a host (Kamailio); a mask for an IPv4-mapped address counts IPv6 bits.
 */
function resolvePrefix(
  a: IpAddress,
  text: string,
  written: number | undefined,
  mask: number | string | null | undefined,
): number | string {
  const mapped = a.family === 4 && text.includes(":");
  const hostBits = a.family === 4 ? 32 : 128;
  const maxMask = mapped || a.family === 6 ? 128 : 32;
  const m = integerField(mask, 0, maxMask);
  if (m === undefined) return `"${mask}" is not a mask 0..${maxMask}`;
  let fromMask = m === 0 ? hostBits : m;
  if (mapped && m !== 0) {
    if (m < 96) return `mask ${m} on an IPv4-mapped address must be 96..128`;
    fromMask = m - 96;
  }
  if (written === undefined) return fromMask;
  if (m !== 0 && fromMask !== written) return `mask ${m} conflicts with the prefix written in ip_addr`;
  return written;
}

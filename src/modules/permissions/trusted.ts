import { configError, configOk } from "./config-error.ts";
import type { ConfigResult } from "./config-error.ts";
import { formatIp, formatSubnet, makeSubnet, parseCidr, parseIp, subnetContains } from "./ip.ts";
import type { Subnet } from "./ip.ts";
import { compilePermissionRegex } from "./regex.ts";

/**
 * Trusted peers (Kamailio permissions `allow_trusted`): a request is trusted without
 * authentication when a rule's source address equals the request's, its protocol is `any` or
 * the request's, and its From pattern (and R-URI pattern, when set) matches or is empty.
 * Rules are tried by `priority`, highest first; the first match supplies the tag.
 *
 * Kamailio compares `src_ip` as a string and warns that different spellings of one address
 * miss; sipedge compares parsed addresses (IPv4-mapped IPv6 included) and also accepts a
 * CIDR prefix in `src_ip`.
 */

export interface TrustedRow {
  readonly src_ip: string;
  readonly proto: string;
  readonly from_pattern?: string | null;
  readonly ruri_pattern?: string | null;
  readonly tag?: string | null;
  readonly priority?: number | string | null;
}

export type TrustedMatch = { readonly trusted: true; readonly tag: string | undefined } | { readonly trusted: false };

export const TRUSTED_PROTOCOLS = ["any", "udp", "tcp", "tls", "sctp", "ws", "wss", "none"] as const;
export type TrustedProto = (typeof TRUSTED_PROTOCOLS)[number];

interface TrustedRule {
  readonly proto: TrustedProto;
  readonly from: RegExp | undefined;
  readonly ruri: RegExp | undefined;
  readonly tag: string | undefined;
  readonly priority: number;
  readonly source: string;
}

interface SubnetRule extends TrustedRule {
  readonly subnet: Subnet;
}

const UNTRUSTED: TrustedMatch = Object.freeze({ trusted: false });

function byPriority(a: TrustedRule, b: TrustedRule): number {
  return b.priority - a.priority;
}

function ruleMatches(r: TrustedRule, proto: string, fromUri: string, ruri: string | undefined): boolean {
  if (r.proto === "none") return false;
  if (r.proto !== "any" && r.proto !== proto) return false;
  if (r.from !== undefined && !r.from.test(fromUri)) return false;
  if (r.ruri !== undefined && (ruri === undefined || !r.ruri.test(ruri))) return false;
  return true;
}

export class TrustedTable {
  private readonly exact = new Map<string, TrustedRule[]>();
  private readonly subnets: SubnetRule[] = [];

  private constructor() {}

  static empty(): TrustedTable {
    return new TrustedTable();
  }

  /** Rows of the D1 `trusted` table; errors name the row (1-based) and column. */
  static fromRows(rows: readonly TrustedRow[], table = "trusted"): ConfigResult<TrustedTable> {
    const t = new TrustedTable();
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (row === undefined) continue;
      const rule = compileRule(row, table, i + 1);
      if (!rule.ok) return rule;
      const { subnet, ...r } = rule.value;
      if (subnet === undefined) {
        const list = t.exact.get(r.source);
        if (list === undefined) t.exact.set(r.source, [r]);
        else list.push(r);
      } else {
        t.subnets.push({ ...r, subnet });
      }
    }
    for (const list of t.exact.values()) list.sort(byPriority);
    t.subnets.sort((a, b) => byPriority(a, b) || b.subnet.prefix - a.subnet.prefix);
    return configOk(t);
  }

  /**
   * `allow_trusted(src_ip, proto, from_uri)`: proto is the transport the request came over
   * (udp, tcp, tls, sctp, ws, wss; any case); `ruri` is needed only by rules with an R-URI
   * pattern.
   */
  allowTrusted(ip: string, proto: string, fromUri: string, ruri?: string): TrustedMatch {
    const a = parseIp(ip);
    if (a === undefined) return UNTRUSTED;
    const p = proto.toLowerCase();
    let best: TrustedRule | undefined;
    const list = this.exact.get(formatIp(a));
    if (list !== undefined) best = list.find((r) => ruleMatches(r, p, fromUri, ruri));
    for (const r of this.subnets) {
      if (best !== undefined && r.priority <= best.priority) break;
      if (subnetContains(r.subnet, a) && ruleMatches(r, p, fromUri, ruri)) {
        best = r;
        break;
      }
    }
    return best === undefined ? UNTRUSTED : { trusted: true, tag: best.tag };
  }

  /** `permissions.trustedDump`. */
  dump(): { src_ip: string; proto: string; from_pattern: string | undefined; tag: string | undefined; priority: number }[] {
    const all: TrustedRule[] = [...[...this.exact.values()].flat(), ...this.subnets];
    return all.map((r) => ({
      src_ip: r.source,
      proto: r.proto,
      from_pattern: r.from?.source,
      tag: r.tag,
      priority: r.priority,
    }));
  }
}

type CompiledRow = TrustedRule & { readonly subnet: Subnet | undefined };

function compilePattern(
  value: string | null | undefined,
  table: string,
  line: number,
  field: string,
): ConfigResult<RegExp | undefined> {
  if (value === null || value === undefined || value === "") return configOk(undefined);
  const re = compilePermissionRegex(value);
  return re.ok ? configOk(re.regex) : configError(table, line, field, re.reason);
}

function compileRule(row: TrustedRow, table: string, line: number): ConfigResult<CompiledRow> {
  const cidr = parseCidr(String(row.src_ip ?? "").trim());
  if (!cidr.ok) return configError(table, line, "src_ip", cidr.reason);
  const proto = String(row.proto ?? "").toLowerCase();
  if (!(TRUSTED_PROTOCOLS as readonly string[]).includes(proto)) {
    return configError(table, line, "proto", `"${row.proto}" is not one of ${TRUSTED_PROTOCOLS.join(", ")}`);
  }
  const from = compilePattern(row.from_pattern, table, line, "from_pattern");
  if (!from.ok) return from;
  const ruri = compilePattern(row.ruri_pattern, table, line, "ruri_pattern");
  if (!ruri.ok) return ruri;
  const pr = row.priority;
  const priority = pr === null || pr === undefined || pr === "" ? 0 : Number(pr);
  if (!Number.isInteger(priority)) return configError(table, line, "priority", `"${pr}" is not an integer`);
  const hostBits = cidr.address.family === 4 ? 32 : 128;
  const subnet =
    cidr.prefix === undefined || cidr.prefix === hostBits ? undefined : makeSubnet(cidr.address, cidr.prefix);
  const tag = row.tag === null || row.tag === undefined || row.tag === "" ? undefined : row.tag;
  return configOk({
    proto: proto as TrustedProto,
    from: from.value,
    ruri: ruri.value,
    tag,
    priority,
    source: subnet === undefined ? formatIp(cidr.address) : formatSubnet(subnet),
    subnet,
  });
}

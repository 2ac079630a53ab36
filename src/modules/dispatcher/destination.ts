/**
 * Building destinations and sets from loaded fields, shared by every loader.
 */
import type { Attrs, Destination, DestinationSet, DestinationState, DispatcherList } from "./types.ts";
import { DS_DISABLED_DST, DS_INACTIVE_DST, DS_PROBING_DST, DS_TRYING_DST } from "./types.ts";
import { buildWeightSlots } from "./weights.ts";

export interface DestinationFields {
  readonly setId: number;
  readonly uri: string;
  readonly flags: number;
  readonly priority: number;
  readonly attrs: string;
  readonly description?: string;
  readonly label?: string;
  /** overrides the state derived from flags (db_text's OpenSIPS state column) */
  readonly state?: DestinationState;
}

export interface DestinationUri {
  readonly host: string;
  readonly port: number;
  readonly transport?: string;
}

/**
 * Host, port and transport of a destination SIP URI. Returns a reason string on error.
 * Kamailio rejects anything parse_uri() rejects; here: scheme sip/sips, a host, a numeric port.
 */
export function parseDestinationUri(uri: string): DestinationUri | string {
  const colon = uri.indexOf(":");
  const scheme = colon > 0 ? uri.slice(0, colon).toLowerCase() : "";
  if (scheme !== "sip" && scheme !== "sips") return "not a sip: or sips: URI";
  let rest = uri.slice(colon + 1);
  const paramsAt = rest.search(/[;?]/);
  const params = paramsAt >= 0 ? rest.slice(paramsAt) : "";
  if (paramsAt >= 0) rest = rest.slice(0, paramsAt);
  const at = rest.lastIndexOf("@");
  if (at >= 0) rest = rest.slice(at + 1);
  let host: string;
  let portText = "";
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) return "unterminated IPv6 reference";
    host = rest.slice(0, close + 1);
    const after = rest.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) return "bad text after IPv6 reference";
    portText = after.slice(1);
  } else {
    const pc = rest.indexOf(":");
    host = pc >= 0 ? rest.slice(0, pc) : rest;
    portText = pc >= 0 ? rest.slice(pc + 1) : "";
  }
  if (host === "") return "no host";
  let port = scheme === "sips" ? 5061 : 5060;
  if (portText !== "" || rest.endsWith(":")) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return "bad port";
    port = Number(portText);
  }
  const transport = /;transport=([^;?]+)/i.exec(params)?.[1]?.toLowerCase();
  return transport === undefined ? { host, port } : { host, port, transport };
}

function boundedInt(value: string | undefined, min: number, max: number): number {
  if (value === undefined || !/^\d+$/.test(value)) return 0;
  const n = Number(value);
  return n >= min && n <= max ? n : 0;
}

/**
 * `name1=value1;...;nameN=valueN`. Kamailio: weight and rweight must be 1..100, otherwise 0;
 * maxload a positive integer, otherwise 0 (no limit). Tokens without "=" keep an empty value.
 */
export function parseAttrs(body: string): Attrs {
  const all: Record<string, string> = {};
  for (const part of body.split(";")) {
    const item = part.trim();
    if (item === "") continue;
    const eq = item.indexOf("=");
    const name = (eq >= 0 ? item.slice(0, eq) : item).trim();
    all[name] = eq >= 0 ? item.slice(eq + 1).trim() : "";
  }
  const latency = all["latency"] !== undefined && /^\d+$/.test(all["latency"]) ? Number(all["latency"]) : undefined;
  return {
    body,
    ...(all["duid"] ? { duid: all["duid"] } : {}),
    maxload: boundedInt(all["maxload"], 1, Number.MAX_SAFE_INTEGER),
    weight: boundedInt(all["weight"], 1, 100),
    rweight: boundedInt(all["rweight"], 1, 100),
    cc: all["cc"] === "1",
    ...(all["socket"] ? { socket: all["socket"] } : {}),
    ...(all["sockname"] ? { sockname: all["sockname"] } : {}),
    ...(all["ping_from"] ? { pingFrom: all["ping_from"] } : {}),
    ...(all["obproxy"] ? { obproxy: all["obproxy"] } : {}),
    ...(latency !== undefined ? { latency } : {}),
    all,
  };
}

/** Kamailio flags to a state; disabled wins, then inactive (with the probing bit: "probing"). */
export function stateFromFlags(flags: number): DestinationState {
  if (flags & DS_DISABLED_DST) return "disabled";
  if (flags & DS_INACTIVE_DST) return flags & DS_PROBING_DST ? "probing" : "inactive";
  if (flags & DS_TRYING_DST) return "trying";
  return "active";
}

/** The two letters `kamcmd dispatcher.list` prints: A/I/T/D then P (probed) or X. */
export function kamailioStateLetters(dst: Destination): string {
  const first = { active: "A", inactive: "I", probing: "I", trying: "T", disabled: "D" }[dst.state];
  return first + (dst.probe || dst.state === "probing" ? "P" : "X");
}

export function makeDestination(fields: DestinationFields, uri: DestinationUri): Destination {
  const state = fields.state ?? stateFromFlags(fields.flags);
  const attrs = parseAttrs(fields.attrs);
  const dst: Destination = {
    uri: fields.uri,
    ...uri,
    flags: fields.flags,
    priority: fields.priority,
    attrs,
    ...(fields.description ? { description: fields.description } : {}),
    state,
    probe: (fields.flags & DS_PROBING_DST) !== 0 || state === "probing",
    failures: 0,
    successes: 0,
  };
  if (attrs.latency !== undefined) {
    const ms = attrs.latency;
    dst.latency = { count: 1, average: ms, m2: 0, estimate: ms, max: ms, timeouts: 0 };
  }
  return dst;
}

/**
 * Groups destinations into sets in Kamailio's order. Kamailio keeps each set as a list where
 * a new entry goes before the first entry of lower-or-equal priority, so the highest priority
 * comes first and, within one priority, the entry loaded last comes first. Setting priorities
 * makes the order explicit, which is what Kamailio's docs advise for failover order.
 */
export function buildList(
  entries: ReadonlyArray<{ fields: DestinationFields; dst: Destination }>,
  random: () => number = Math.random,
): DispatcherList {
  const grouped = new Map<number, { label?: string; dsts: Destination[] }>();
  for (const { fields, dst } of entries) {
    let group = grouped.get(fields.setId);
    if (!group) {
      group = fields.label === undefined ? { dsts: [] } : { label: fields.label, dsts: [] };
      grouped.set(fields.setId, group);
    }
    let at = group.dsts.findIndex((d) => d.priority <= dst.priority);
    if (at < 0) at = group.dsts.length;
    group.dsts.splice(at, 0, dst);
  }
  const sets = new Map<number, DestinationSet>();
  for (const [id, group] of grouped) {
    sets.set(id, {
      id,
      ...(group.label === undefined ? {} : { label: group.label }),
      destinations: group.dsts,
      weightSlots: buildWeightSlots(group.dsts.map((d) => d.attrs.weight), random),
      version: 0,
    });
  }
  return { sets };
}

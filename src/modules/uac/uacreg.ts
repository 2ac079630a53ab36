/**
 * Kamailio's `uacreg` table: one account at a carrier per row. It serves both halves of the uac
 * module: `uac_reg` registers the rows with `expires` > 0 (Contact `sip:<l_uuid>@<contact_addr>`,
 * so an inbound call's Request-URI names the row), and `uac_auth()` answers a carrier's
 * challenge with the row whose next hop is the carrier the request went to. Passwords stay in
 * D1: nothing here formats a row for a log line or an admin answer without `redacted`.
 */
import type { UacCredentials } from "./digest-client.ts";

export interface UacRegRow {
  l_uuid: string;
  l_username: string;
  l_domain: string;
  r_username: string;
  r_domain: string;
  realm: string;
  auth_username: string;
  auth_password: string;
  auth_ha1: string;
  auth_proxy: string;
  /** Seconds asked for when registering; 0: no registration, credentials for `uac_auth()` only (sipedge). */
  expires: number;
  /** Kamailio's state bits; 1 (disabled) keeps the row from registering and from answering challenges. */
  flags: number;
  /** Seconds to wait before the first registration. */
  reg_delay: number;
  /** host[:port] for the Contact; empty: the address of the bridge the REGISTER leaves through. */
  contact_addr: string;
  socket: string;
}

export const UACREG_COLUMNS = [
  "l_uuid", "l_username", "l_domain", "r_username", "r_domain", "realm", "auth_username", "auth_password",
  "auth_ha1", "auth_proxy", "expires", "flags", "reg_delay", "contact_addr", "socket",
] as const satisfies readonly (keyof UacRegRow)[];

/** Kamailio uac.reg_info: the registration profile is disabled. */
export const UAC_REG_DISABLED = 1;

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Where a row's requests go: `auth_proxy` (Kamailio: "SIP address of authentication proxy"), else
 * `r_domain`; port 5060 when none is given. Undefined when neither is a usable address.
 */
export function nextHopOf(row: Pick<UacRegRow, "auth_proxy" | "r_domain">): HostPort | undefined {
  const text = (row.auth_proxy || row.r_domain).trim().replace(/^sips?:/i, "");
  const m = /^(?:[^@]*@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(?:[;?].*)?$/.exec(text);
  if (m === null) return undefined;
  const port = m[2] === undefined ? 5060 : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] as string).toLowerCase(), port };
}

export function formatHostPort(hp: HostPort): string {
  return `${hp.host}:${hp.port}`;
}

/** The credentials of a row for a challenge (auth_username falls back to r_username, as Kamailio does). */
export function credentialsOf(row: UacRegRow): UacCredentials {
  return { username: row.auth_username || row.r_username, password: row.auth_password, ha1: row.auth_ha1, realm: row.realm };
}

/**
 * The row `uac_auth()` answers a challenge from `dst` (the carrier a branch went to, host:port)
 * with: enabled, its next hop is `dst`; among several, one whose local user is the caller
 * (Kamailio `uac_reg_request_to(user)`), else the first.
 */
export function rowForDestination(rows: readonly UacRegRow[], dst: string, localUser?: string): UacRegRow | undefined {
  const wanted = dst.toLowerCase().replace(/^sips?:/, "");
  const candidates = rows.filter((r) => (r.flags & UAC_REG_DISABLED) === 0 && matchesHop(nextHopOf(r), wanted));
  return candidates.find((r) => localUser !== undefined && (r.l_username === localUser || r.l_uuid === localUser)) ?? candidates[0];
}

/**
 * Without a row for the destination, the row whose `realm` is the challenge's (Kamailio's
 * `credential` parameter and `auth_realm_avp` match by realm): a carrier that calls in from one
 * address and challenges the BYE of that call is known by its realm, not by that address.
 */
export function rowForRealm(rows: readonly UacRegRow[], realms: readonly string[]): UacRegRow | undefined {
  return rows.find((r) => (r.flags & UAC_REG_DISABLED) === 0 && r.realm !== "" && realms.includes(r.realm));
}

function matchesHop(hop: HostPort | undefined, wanted: string): boolean {
  if (hop === undefined) return false;
  return wanted === formatHostPort(hop) || (hop.port === 5060 && wanted === hop.host);
}

/** Kamailio `uac_reg_lookup(uuid, dst)`: the local user a registered contact's user (l_uuid) stands for. */
export function regLookup(rows: readonly UacRegRow[], uuid: string): { user: string; domain: string } | undefined {
  const row = rows.find((r) => r.l_uuid === uuid);
  return row === undefined || row.l_username === "" ? undefined : { user: row.l_username, domain: row.l_domain };
}

/** A row for admin output and logs: no password, no HA1, only whether they are set. */
export function redacted(row: UacRegRow): Omit<UacRegRow, "auth_password" | "auth_ha1"> & { auth_password: string; auth_ha1: string } {
  return { ...row, auth_password: row.auth_password === "" ? "" : "[set]", auth_ha1: row.auth_ha1 === "" ? "" : "[set]" };
}

export type RowCheck<T> = { ok: true; row: T } | { ok: false; field: string; reason: string };

const TOKEN = /^[A-Za-z0-9._~+-]{1,64}$/;

/**
 * A db_text / admin row, checked: `l_uuid` is the registered Contact's user part and the table's
 * unique key; a registering row needs a remote user and a next hop; counts are whole numbers.
 * Missing columns take Kamailio's defaults ('' and 0).
 */
export function uacregRow(values: Readonly<Record<string, unknown>>, defaultDomain: string): RowCheck<UacRegRow> {
  const text = (name: string): string => {
    const v = values[name];
    return v === undefined || v === null ? "" : String(v).trim();
  };
  const int = (name: string): number | string => {
    const v = text(name);
    if (v === "") return 0;
    return /^[0-9]{1,9}$/.test(v) ? Number(v) : `expected a whole number, got ${JSON.stringify(v)}`;
  };
  const row = Object.fromEntries(UACREG_COLUMNS.map((c) => [c, text(c)])) as unknown as UacRegRow;
  if (!TOKEN.test(row.l_uuid)) return { ok: false, field: "l_uuid", reason: "missing, or not 1-64 of [A-Za-z0-9._~+-] (it becomes the Contact's user part)" };
  for (const name of ["expires", "flags", "reg_delay"] as const) {
    const n = int(name);
    if (typeof n === "string") return { ok: false, field: name, reason: n };
    row[name] = n;
  }
  row.l_domain = (row.l_domain || defaultDomain).toLowerCase();
  if (row.auth_ha1 !== "" && !/^[0-9a-fA-F]{32}$/.test(row.auth_ha1)) return { ok: false, field: "auth_ha1", reason: "not 32 hex digits (MD5 HA1)" };
  if (row.r_domain === "" && row.auth_proxy === "") return { ok: false, field: "r_domain", reason: "missing (and no auth_proxy): nowhere to send requests" };
  if (nextHopOf(row) === undefined) return { ok: false, field: row.auth_proxy ? "auth_proxy" : "r_domain", reason: "not a host[:port] or SIP URI" };
  if (row.expires > 0 && row.r_username === "") return { ok: false, field: "r_username", reason: "missing for a registering row (expires > 0)" };
  if (row.contact_addr !== "" && !/^[A-Za-z0-9.\-[\]:]+$/.test(row.contact_addr)) return { ok: false, field: "contact_addr", reason: "not host[:port]" };
  return { ok: true, row };
}

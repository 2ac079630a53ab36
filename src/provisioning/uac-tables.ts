/**
 * The carrier-trunk tables imports write (migrations/0004_uac.sql, Kamailio columns): `uacreg`
 * (uac module), `dbaliases` (alias_db, DIDs), `grp` (group module, toll-fraud classes). Rows are
 * upserted by each table's unique key, so importing a file again updates instead of duplicating.
 */
import { uacregRow, UACREG_COLUMNS, type UacRegRow } from "../modules/uac/uacreg.ts";
import { col, jsonChunks, type SqlDatabase, type SqlStatement } from "./db.ts";
import type { DbTextValue } from "./dbtext.ts";
import type { RowCheck } from "./subscriber.ts";

export const UAC_FORMATS = ["uacreg", "dbaliases", "grp"] as const;
export type UacFormat = (typeof UAC_FORMATS)[number];

type Values = Readonly<Record<string, DbTextValue | undefined>>;

export const UAC_KNOWN_COLUMNS: Record<UacFormat, ReadonlySet<string>> = {
  uacreg: new Set(["id", ...UACREG_COLUMNS]),
  dbaliases: new Set(["id", "alias_username", "alias_domain", "username", "domain"]),
  grp: new Set(["id", "username", "domain", "grp", "last_modified"]),
};

export const UAC_REQUIRED_COLUMNS: Record<UacFormat, readonly string[]> = {
  uacreg: ["l_uuid"],
  dbaliases: ["alias_username", "username"],
  grp: ["username", "grp"],
};

const NAME = /^[^\s@:;]{1,64}$/;

function text(v: DbTextValue | undefined): string {
  return v === undefined || v === null ? "" : String(v).trim();
}

export type DbAliasRow = [alias_username: string, alias_domain: string, username: string, domain: string];

/**
 * A DID row: `alias_username` is the number in E.164 ("+4930123456"), as inbound calls are
 * looked up after normalisation; a name that is not a number (an alias such as "sales") is kept
 * as it is. Domains default to the edge's.
 */
export function dbaliasRow(values: Values, defaultDomain: string): RowCheck<DbAliasRow> {
  const alias = text(values["alias_username"]);
  const username = text(values["username"]);
  if (!NAME.test(alias)) return { ok: false, field: "alias_username", reason: "missing, longer than 64 or containing blanks, '@', ':' or ';'" };
  if (/^\+?[0-9().-]+$/.test(alias) && !/^\+[1-9][0-9]{1,14}$/.test(alias)) return { ok: false, field: "alias_username", reason: "a number must be written in E.164 (+ and up to 15 digits, e.g. +4930123456)" };
  if (!NAME.test(username)) return { ok: false, field: "username", reason: "missing, longer than 64 or containing blanks, '@', ':' or ';'" };
  const domain = (text(values["domain"]) || defaultDomain).toLowerCase();
  const aliasDomain = (text(values["alias_domain"]) || defaultDomain).toLowerCase();
  return { ok: true, row: [alias, aliasDomain, username, domain] };
}

export type GrpRow = [username: string, domain: string, grp: string];

/** A group membership: `international`, `premium`, an E.164 prefix ("+44"), or any group a script tests. */
export function grpRow(values: Values, defaultDomain: string): RowCheck<GrpRow> {
  const username = text(values["username"]);
  const grp = text(values["grp"]);
  if (!NAME.test(username)) return { ok: false, field: "username", reason: "missing, longer than 64 or containing blanks, '@', ':' or ';'" };
  if (!/^[A-Za-z0-9_.+-]{1,64}$/.test(grp)) return { ok: false, field: "grp", reason: "missing, or not 1-64 of [A-Za-z0-9_.+-]" };
  if (grp.startsWith("+") && !/^\+[1-9][0-9]{0,14}$/.test(grp)) return { ok: false, field: "grp", reason: "a prefix group must be + and digits (e.g. +44)" };
  return { ok: true, row: [username, (text(values["domain"]) || defaultDomain).toLowerCase(), grp] };
}

export function checkUacRow(format: UacFormat, values: Values, defaultDomain: string): RowCheck<unknown[]> {
  if (format === "dbaliases") return dbaliasRow(values, defaultDomain);
  if (format === "grp") return grpRow(values, defaultDomain);
  const row = uacregRow(values, defaultDomain);
  return row.ok ? { ok: true, row: UACREG_COLUMNS.map((c) => row.row[c]) } : row;
}

export function upsertUacRows(db: SqlDatabase, format: UacFormat, rows: readonly unknown[][]): SqlStatement[] {
  if (format === "dbaliases") {
    return jsonChunks(db, `INSERT INTO dbaliases (alias_username, alias_domain, username, domain) SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)} FROM json_each(?1) WHERE true
ON CONFLICT (alias_username, alias_domain) DO UPDATE SET username = excluded.username, domain = excluded.domain`, rows);
  }
  if (format === "grp") {
    return jsonChunks(db, `INSERT INTO grp (username, domain, grp, last_modified) SELECT ${col(0)}, ${col(1)}, ${col(2)}, datetime('now') FROM json_each(?1) WHERE true
ON CONFLICT (username, domain, grp) DO UPDATE SET last_modified = excluded.last_modified`, rows);
  }
  const names = UACREG_COLUMNS.join(", ");
  const values = UACREG_COLUMNS.map((_, i) => col(i)).join(", ");
  const updates = UACREG_COLUMNS.slice(1).map((c) => `${c} = excluded.${c}`).join(", ");
  return jsonChunks(db, `INSERT INTO uacreg (${names}) SELECT ${values} FROM json_each(?1) WHERE true ON CONFLICT (l_uuid) DO UPDATE SET ${updates}`, rows);
}

/** Every `uacreg` row (Kamailio loads the table whole; carriers are few). */
export async function loadUacRegRows(db: SqlDatabase): Promise<UacRegRow[]> {
  const { results } = await db.prepare(`SELECT ${UACREG_COLUMNS.join(", ")} FROM uacreg ORDER BY id`).all<UacRegRow>();
  return results;
}

export async function loadUacRegRow(db: SqlDatabase, lUuid: string): Promise<UacRegRow | undefined> {
  return (await db.prepare(`SELECT ${UACREG_COLUMNS.join(", ")} FROM uacreg WHERE l_uuid = ?1`).bind(lUuid).first<UacRegRow>()) ?? undefined;
}

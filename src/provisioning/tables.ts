/**
 * The provisioning tables other than `subscriber` that imports write: `aliases`, `version`
 * and `dispatcher` (Kamailio columns, migrations/0001_init.sql).
 */
import { sha256Hex } from "../modules/auth/hash.ts";
import { DS_DISABLED_DST, DS_INACTIVE_DST, DS_PROBING_DST, DS_TRYING_DST, type DestinationState, type DispatcherList } from "../modules/dispatcher/index.ts";
import { col, jsonChunks, type SqlDatabase, type SqlStatement } from "./db.ts";
import type { DbTextValue } from "./dbtext.ts";
import type { RowCheck } from "./subscriber.ts";
import { checkTableVersion } from "./versions.ts";
import { parseUri } from "../sip/uri.ts";

type Values = Readonly<Record<string, DbTextValue | undefined>>;

/**
 * `aliases` has the columns of Kamailio's `location` table; a NULL for a NOT NULL column takes
 * the column's default, as Kamailio's db_text fills absent values.
 */
const ALIAS_DEFAULTS: Readonly<Record<string, DbTextValue>> = {
  ruid: "",
  username: "",
  domain: null,
  contact: "",
  received: null,
  path: null,
  expires: "2030-05-28 21:32:15",
  q: 1,
  callid: "Default-Call-ID",
  cseq: 1,
  last_modified: "2000-01-01 00:00:01",
  flags: 0,
  cflags: 0,
  user_agent: "",
  socket: null,
  methods: null,
  instance: null,
  reg_id: 0,
  server_id: 0,
  connection_id: 0,
  keepalive: 0,
  partition: 0,
};

export const ALIAS_COLUMNS: readonly string[] = Object.keys(ALIAS_DEFAULTS);

export type AliasRow = DbTextValue[];

/**
 * One `aliases` row in ALIAS_COLUMNS order. Without a `ruid` one is derived from
 * username@domain and the contact, so importing the same file twice updates instead of
 * duplicating (the table's only unique key is ruid).
 */
export function aliasRow(values: Values, defaultDomain: string): RowCheck<AliasRow> {
  const v = (name: string): DbTextValue => values[name] ?? (ALIAS_DEFAULTS[name] as DbTextValue);
  if (typeof values["username"] !== "string" || values["username"] === "") return { ok: false, field: "username", reason: "missing" };
  if (typeof values["contact"] !== "string" || values["contact"] === "") return { ok: false, field: "contact", reason: "missing" };
  // lookup("aliases") makes the contact the Request-URI: it must be one.
  if (!parseUri(values["contact"]).ok) return { ok: false, field: "contact", reason: `not a URI: ${JSON.stringify(values["contact"])}` };
  const row = ALIAS_COLUMNS.map(v);
  const domain = values["domain"] ?? defaultDomain;
  row[ALIAS_COLUMNS.indexOf("domain")] = domain;
  if (v("ruid") === "") {
    row[0] = `alias-${sha256Hex(`${String(values["username"])}@${String(domain)}\n${String(values["contact"])}`).slice(0, 24)}`;
  }
  return { ok: true, row };
}

export function upsertAliases(db: SqlDatabase, rows: readonly AliasRow[]): SqlStatement[] {
  const names = ALIAS_COLUMNS.join(", ");
  const values = ALIAS_COLUMNS.map((_, i) => col(i)).join(", ");
  const updates = ALIAS_COLUMNS.slice(1).map((c) => `${c} = excluded.${c}`).join(", ");
  return jsonChunks(db, `INSERT INTO aliases (${names}) SELECT ${values} FROM json_each(?1) WHERE true ON CONFLICT (ruid) DO UPDATE SET ${updates}`, rows);
}

export type VersionRow = [table_name: string, table_version: number];

/** A `version` row: a table whose layout sipedge maps, at a version it maps (versions.ts). */
export function versionRow(values: Values): RowCheck<VersionRow> {
  const name = values["table_name"];
  if (typeof name !== "string" || name === "") return { ok: false, field: "table_name", reason: "missing" };
  const version = values["table_version"];
  const n = typeof version === "number" ? version : Number(version);
  if (!Number.isInteger(n)) return { ok: false, field: "table_version", reason: "not an integer" };
  const mapped = checkTableVersion(name, n);
  if (!mapped.ok) return mapped;
  return { ok: true, row: [name, n] };
}

export type DispatcherTableRow = [setid: number, destination: string, flags: number, priority: number, attrs: string, description: string];

const STATE_FLAGS: Record<DestinationState, number> = {
  active: 0,
  inactive: DS_INACTIVE_DST,
  // The seed's (OpenSIPS') "probing" is Kamailio's inactive + probing ("IP").
  probing: DS_INACTIVE_DST | DS_PROBING_DST,
  trying: DS_TRYING_DST,
  disabled: DS_DISABLED_DST,
};

/**
 * A loaded destination list as `dispatcher` rows. The loaders order each set the way Kamailio
 * does (priority descending, the last loaded of equal priority first), so writing each set in
 * reverse gives back the load order, and loading the rows in id order (loadDispatcherRows)
 * rebuilds the same sets. A state that came from the seed's `state` column is folded into the
 * Kamailio flags.
 */
export function dispatcherRows(list: DispatcherList): DispatcherTableRow[] {
  const rows: DispatcherTableRow[] = [];
  for (const set of list.sets.values()) {
    for (let i = set.destinations.length - 1; i >= 0; i--) {
      const d = set.destinations[i];
      if (!d) continue;
      rows.push([set.id, d.uri, d.flags | STATE_FLAGS[d.state], d.priority, d.attrs.body, d.description ?? ""]);
    }
  }
  return rows;
}

/** The sets named in `rows` are replaced: a list file describes whole sets, so re-importing it must not duplicate them. */
export function replaceDispatcherSets(db: SqlDatabase, rows: readonly DispatcherTableRow[]): SqlStatement[] {
  const sets = [...new Set(rows.map((r) => r[0]))];
  return [
    db.prepare("DELETE FROM dispatcher WHERE setid IN (SELECT value FROM json_each(?1))").bind(JSON.stringify(sets)),
    ...jsonChunks(
      db,
      `INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description)
SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)} FROM json_each(?1) ORDER BY key`,
      rows,
    ),
  ];
}

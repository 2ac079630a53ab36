/**
 * Import of the seed's text formats into D1 (DESIGN.md §3): db_text table files, named by their
 * file name with the columns in their header line, and Kamailio/OpenSIPS `dispatcher.list`
 * files. Every file is checked completely before anything is written, then written in one D1
 * batch (one transaction): a file with an error changes nothing, and the error names the file,
 * the line and the field.
 */
import { AddressTable, type AddressRow } from "../modules/permissions/address.ts";
import type { ConfigResult } from "../modules/permissions/config-error.ts";
import { parseRuleFile } from "../modules/permissions/rules.ts";
import { TrustedTable, type TrustedRow } from "../modules/permissions/trusted.ts";
import { loadDispatcherDbText, parseDispatcherList, type DispatcherList, type Loaded } from "../modules/dispatcher/index.ts";
import type { SqlDatabase, SqlStatement } from "./db.ts";
import { parseDbText, type DbTextError, type DbTextTable, type DbTextValue } from "./dbtext.ts";
import { subscriberRow, upsertSubscribers, type RowCheck, type SubscriberRow } from "./subscriber.ts";
import { ALIAS_COLUMNS, aliasRow, dispatcherRows, replaceDispatcherSets, upsertAliases, versionRow } from "./tables.ts";
import { checkUacRow, UAC_FORMATS, UAC_KNOWN_COLUMNS, UAC_REQUIRED_COLUMNS, upsertUacRows, type UacFormat } from "./uac-tables.ts";

export const IMPORT_FORMATS = ["subscriber", "location", "aliases", "version", "dispatcher", "dispatcher.list", "permissions", "address", "trusted", ...UAC_FORMATS] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** The columns each db_text table keeps; others in a file's header are reported and skipped. */
type TableFormat = Exclude<ImportFormat, "dispatcher" | "dispatcher.list" | "permissions" | "address" | "trusted" | UacFormat>;

const KNOWN_COLUMNS: Record<TableFormat, ReadonlySet<string>> = {
  subscriber: new Set(["id", "username", "domain", "password", "ha1", "ha1b", "ha1_sha256", "rpid"]),
  aliases: new Set(["id", ...ALIAS_COLUMNS]),
  location: new Set(["id", ...ALIAS_COLUMNS]),
  version: new Set(["id", "table_name", "table_version"]),
};

const REQUIRED_COLUMNS: Record<TableFormat, readonly string[]> = {
  subscriber: ["username"],
  aliases: ["username", "contact"],
  location: ["username", "contact"],
  version: ["table_name", "table_version"],
};

export interface ImportSummary {
  file: string;
  table: "subscriber" | "location" | "aliases" | "version" | "dispatcher" | "permissions_rules" | "address" | "trusted" | UacFormat;
  format: ImportFormat;
  rows: number;
  /** Header columns the table does not have (e.g. OpenSIPS' first_name, email_address). */
  ignoredColumns: string[];
  /** D1 statements the batch ran. */
  statements: number;
}

export type ImportResult = { ok: true; value: ImportSummary } | { ok: false; error: DbTextError };

export interface ImportOptions {
  /** Names the file in errors and, without `format`, names the table (db_text's rule). */
  file: string;
  format?: ImportFormat;
  /** Domain for rows without one (the edge's SIP domain). */
  domain: string;
}

/**
 * The table a file name stands for: db_text names a table by its file (`subscriber`), a name
 * ending in `.list` is a dispatcher list, and one ending in `.allow` or `.deny` a permissions
 * rule file. A directory part or a `.txt` suffix is ignored.
 */
export function formatOfFile(name: string): ImportFormat | undefined {
  let base = baseName(name).toLowerCase();
  if (base.endsWith(".list")) return "dispatcher.list";
  if (base.endsWith(".allow") || base.endsWith(".deny")) return "permissions";
  if (base.endsWith(".txt")) base = base.slice(0, -4);
  return (IMPORT_FORMATS as readonly string[]).includes(base) ? (base as ImportFormat) : undefined;
}

function baseName(name: string): string {
  return name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1);
}

function failure(file: string, line: number, field: string, reason: string): ImportResult {
  return { ok: false, error: { file, line, field, reason } };
}

type Plan = { ok: true; table: ImportSummary["table"]; rows: number; ignored: string[]; statements: SqlStatement[] } | { ok: false; error: DbTextError };

function rowsOf<T>(
  table: DbTextTable,
  file: string,
  check: (values: Readonly<Record<string, DbTextValue>>) => RowCheck<T>,
): { ok: true; rows: T[] } | { ok: false; error: DbTextError } {
  const rows: T[] = [];
  for (const r of table.rows) {
    const c = check(r.values);
    if (!c.ok) return { ok: false, error: { file, line: r.line, field: c.field, reason: c.reason } };
    rows.push(c.row);
  }
  return { ok: true, rows };
}

function planTable(db: SqlDatabase, format: TableFormat, text: string, options: ImportOptions): Plan {
  const parsed = parseDbText(text, options.file);
  if (!parsed.ok) return parsed;
  const table = parsed.value;
  const names = table.columns.map((c) => c.name);
  for (const required of REQUIRED_COLUMNS[format]) {
    if (!names.includes(required)) return { ok: false, error: { file: options.file, line: 1, field: required, reason: `column missing from the ${format} header` } };
  }
  const ignored = names.filter((n) => !KNOWN_COLUMNS[format].has(n));
  if (format === "subscriber") {
    const rows = rowsOf<SubscriberRow>(table, options.file, (v) => subscriberRow(v, options.domain));
    return rows.ok ? { ok: true, table: format, rows: rows.rows.length, ignored, statements: upsertSubscribers(db, rows.rows) } : rows;
  }
  if (format === "aliases") {
    const rows = rowsOf(table, options.file, (v) => aliasRow(v, options.domain));
    return rows.ok ? { ok: true, table: format, rows: rows.rows.length, ignored, statements: upsertAliases(db, rows.rows) } : rows;
  }
  if (format === "location") {
    // Registrations live in the Location objects and are made by REGISTER: a location file is
    // accepted as the table's definition (the seed's are headers only), not as bindings.
    const first = table.rows[0];
    if (first !== undefined) {
      return { ok: false, error: { file: options.file, line: first.line, field: "row", reason: "location rows are not imported: bindings are made by REGISTER (each AOR's Location object); import the definition only" } };
    }
    return { ok: true, table: format, rows: 0, ignored, statements: [] };
  }
  // Checked, not stored: the versions describe the files; D1's version rows are the schema's (versions.ts).
  const rows = rowsOf(table, options.file, versionRow);
  return rows.ok ? { ok: true, table: format, rows: rows.rows.length, ignored, statements: [] } : rows;
}

/** A carrier-trunk table (uac-tables.ts): checked row by row, then upserted by its unique key. */
function planUacTable(db: SqlDatabase, format: UacFormat, text: string, options: ImportOptions): Plan {
  const parsed = parseDbText(text, options.file);
  if (!parsed.ok) return parsed;
  const names = parsed.value.columns.map((c) => c.name);
  for (const required of UAC_REQUIRED_COLUMNS[format]) {
    if (!names.includes(required)) return { ok: false, error: { file: options.file, line: 1, field: required, reason: `column missing from the ${format} header` } };
  }
  const rows = rowsOf(parsed.value, options.file, (v) => checkUacRow(format, v, options.domain));
  if (!rows.ok) return rows;
  const ignored = names.filter((n) => !UAC_KNOWN_COLUMNS[format].has(n));
  return { ok: true, table: format, rows: rows.rows.length, ignored, statements: upsertUacRows(db, format, rows.rows) };
}

function planDispatcher(db: SqlDatabase, loaded: Loaded<DispatcherList>): Plan {
  if (!loaded.ok) return loaded;
  const rows = dispatcherRows(loaded.value);
  return { ok: true, table: "dispatcher", rows: rows.length, ignored: [], statements: replaceDispatcherSets(db, rows) };
}

/**
 * A permissions `.allow` / `.deny` file: compiled completely (a bad line is refused with its
 * line and field), then stored whole under its base name, replacing the file of that name.
 */
function planRuleFile(db: SqlDatabase, text: string, file: string): Plan {
  const name = baseName(file);
  if (!/^[A-Za-z0-9._~-]{1,128}$/.test(name) || !/\.(allow|deny)$/i.test(name)) {
    return { ok: false, error: { file, line: 0, field: "file", reason: "a permissions file is named NAME.allow or NAME.deny ([A-Za-z0-9._~-], at most 128)" } };
  }
  const parsed = parseRuleFile(name, text);
  if (!parsed.ok) return parsed;
  const rules = parsed.value.rules.length;
  const statement = db
    .prepare("INSERT INTO permissions_rules (name, text, rules) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET text = excluded.text, rules = excluded.rules, updated_at = CURRENT_TIMESTAMP")
    .bind(name, text, rules);
  return { ok: true, table: "permissions_rules", rows: rules, ignored: [], statements: [statement] };
}

/** Kamailio's column defaults, for rows that leave them empty (the schema's NOT NULL columns). */
const DEFAULTS: Record<string, number> = { grp: 1, mask: 32, port: 0, priority: 0 };

const PERMISSION_COLUMNS = {
  address: ["grp", "ip_addr", "mask", "port", "tag"],
  trusted: ["src_ip", "proto", "from_pattern", "ruri_pattern", "tag", "priority"],
} as const;

/**
 * A db_text `address` or `trusted` table (Kamailio permissions): compiled with the module's own
 * compiler first, so a bad row is refused with its file line, then written as the whole table.
 */
function planPermissionsTable(db: SqlDatabase, format: "address" | "trusted", text: string, file: string): Plan {
  const parsed = parseDbText(text, file);
  if (!parsed.ok) return parsed;
  const columns = PERMISSION_COLUMNS[format];
  const names = parsed.value.columns.map((c) => c.name);
  const required = format === "address" ? ["ip_addr"] : ["src_ip", "proto"];
  for (const name of required) {
    if (!names.includes(name)) return { ok: false, error: { file, line: 1, field: name, reason: `column missing from the ${format} header` } };
  }
  const rows = parsed.value.rows.map((r) => Object.fromEntries(columns.map((c) => [c, r.values[c] ?? null])));
  const compiled: ConfigResult<unknown> =
    format === "address" ? AddressTable.fromRows(rows as unknown as AddressRow[]) : TrustedTable.fromRows(rows as unknown as TrustedRow[]);
  if (!compiled.ok) {
    const line = parsed.value.rows[compiled.error.line - 1]?.line ?? compiled.error.line;
    return { ok: false, error: { file, line, field: compiled.error.field, reason: compiled.error.reason } };
  }
  const insert = `INSERT INTO ${format} (${columns.join(", ")}) SELECT ${columns.map((c) => (c in DEFAULTS ? `COALESCE(json_extract(value, '$.${c}'), ${DEFAULTS[c]})` : `json_extract(value, '$.${c}')`)).join(", ")} FROM json_each(?)`;
  const statements: SqlStatement[] = [db.prepare(`DELETE FROM ${format}`)];
  for (let i = 0; i < rows.length; i += 500) statements.push(db.prepare(insert).bind(JSON.stringify(rows.slice(i, i + 500))));
  return { ok: true, table: format, rows: rows.length, ignored: names.filter((n) => n !== "id" && !(columns as readonly string[]).includes(n)), statements };
}

/** Checks and writes one file. */
export async function importText(db: SqlDatabase, text: string, options: ImportOptions): Promise<ImportResult> {
  const format = options.format ?? formatOfFile(options.file);
  if (format === undefined) {
    return failure(options.file, 0, "table", `unknown table; the file name (or ?table=) must be one of ${IMPORT_FORMATS.join(", ")}`);
  }
  const plan =
    (UAC_FORMATS as readonly string[]).includes(format)
      ? planUacTable(db, format as UacFormat, text, options)
      : format === "permissions"
      ? planRuleFile(db, text, options.file)
      : format === "address" || format === "trusted"
        ? planPermissionsTable(db, format, text, options.file)
        : format === "dispatcher.list"
          ? planDispatcher(db, parseDispatcherList(text, options.file))
          : format === "dispatcher"
            ? planDispatcher(db, loadDispatcherDbText(text, options.file))
            : planTable(db, format as TableFormat, text, options);
  if (!plan.ok) return plan;
  if (plan.statements.length > 0) await db.batch(plan.statements);
  return {
    ok: true,
    value: { file: options.file, table: plan.table, format, rows: plan.rows, ignoredColumns: plan.ignored, statements: plan.statements.length },
  };
}

/**
 * Import of the seed's text formats into D1 (DESIGN.md §3): db_text table files, named by their
 * file name with the columns in their header line, and Kamailio/OpenSIPS `dispatcher.list`
 * files. Every file is checked completely before anything is written, then written in one D1
 * batch (one transaction): a file with an error changes nothing, and the error names the file,
 * the line and the field.
 */
import { loadDispatcherDbText, parseDispatcherList, type DispatcherList, type Loaded } from "../modules/dispatcher/index.ts";
import type { SqlDatabase, SqlStatement } from "./db.ts";
import { parseDbText, type DbTextError, type DbTextTable, type DbTextValue } from "./dbtext.ts";
import { subscriberRow, upsertSubscribers, type RowCheck, type SubscriberRow } from "./subscriber.ts";
import { ALIAS_COLUMNS, aliasRow, dispatcherRows, replaceDispatcherSets, upsertAliases, upsertVersions, versionRow } from "./tables.ts";

export const IMPORT_FORMATS = ["subscriber", "aliases", "version", "dispatcher", "dispatcher.list"] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** The columns each db_text table keeps; others in a file's header are reported and skipped. */
const KNOWN_COLUMNS: Record<Exclude<ImportFormat, "dispatcher" | "dispatcher.list">, ReadonlySet<string>> = {
  subscriber: new Set(["id", "username", "domain", "password", "ha1", "ha1b", "ha1_sha256"]),
  aliases: new Set(["id", ...ALIAS_COLUMNS]),
  version: new Set(["id", "table_name", "table_version"]),
};

const REQUIRED_COLUMNS: Record<Exclude<ImportFormat, "dispatcher" | "dispatcher.list">, readonly string[]> = {
  subscriber: ["username"],
  aliases: ["username", "contact"],
  version: ["table_name", "table_version"],
};

export interface ImportSummary {
  file: string;
  table: "subscriber" | "aliases" | "version" | "dispatcher";
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
 * The table a file name stands for: db_text names a table by its file (`subscriber`), and a
 * name ending in `.list` is a dispatcher list. A directory part or a `.txt` suffix is ignored.
 */
export function formatOfFile(name: string): ImportFormat | undefined {
  let base = name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1).toLowerCase();
  if (base.endsWith(".list")) return "dispatcher.list";
  if (base.endsWith(".txt")) base = base.slice(0, -4);
  return (IMPORT_FORMATS as readonly string[]).includes(base) ? (base as ImportFormat) : undefined;
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

function planTable(db: SqlDatabase, format: keyof typeof KNOWN_COLUMNS, text: string, options: ImportOptions): Plan {
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
  const rows = rowsOf(table, options.file, versionRow);
  return rows.ok ? { ok: true, table: format, rows: rows.rows.length, ignored, statements: upsertVersions(db, rows.rows) } : rows;
}

function planDispatcher(db: SqlDatabase, loaded: Loaded<DispatcherList>): Plan {
  if (!loaded.ok) return loaded;
  const rows = dispatcherRows(loaded.value);
  return { ok: true, table: "dispatcher", rows: rows.length, ignored: [], statements: replaceDispatcherSets(db, rows) };
}

/** Checks and writes one file. */
export async function importText(db: SqlDatabase, text: string, options: ImportOptions): Promise<ImportResult> {
  const format = options.format ?? formatOfFile(options.file);
  if (format === undefined) {
    return failure(options.file, 0, "table", `unknown table; the file name (or ?table=) must be one of ${IMPORT_FORMATS.join(", ")}`);
  }
  const plan =
    format === "dispatcher.list"
      ? planDispatcher(db, parseDispatcherList(text, options.file))
      : format === "dispatcher"
        ? planDispatcher(db, loadDispatcherDbText(text, options.file))
        : planTable(db, format, text, options);
  if (!plan.ok) return plan;
  if (plan.statements.length > 0) await db.batch(plan.statements);
  return {
    ok: true,
    value: { file: options.file, table: plan.table, format, rows: plan.rows, ignoredColumns: plan.ignored, statements: plan.statements.length },
  };
}

/**
 * A reader for db_text table files (Kamailio/OpenSIPS "text://" databases), generic so the
 * subscriber, location, aliases, version and dispatcher imports share it.
 *
 * Layout: the first line declares the columns, `name(type[,null][,auto])` separated by spaces,
 * type one of int, double, str, string, blob, datetime. Every other non-blank line is a row of
 * `:`-separated values with `\:`, `\\`, `\n`, `\r`, `\t` escapes. An empty value is NULL. Two
 * readings follow the seed's files rather than db_text itself: a value wrapped in single or double
 * quotes is the text inside them, and a bare `null` in a nullable column is NULL.
 */

export type DbTextType = "int" | "double" | "str" | "string" | "blob" | "datetime";
export type DbTextValue = string | number | null;

export interface DbTextColumn {
  readonly name: string;
  readonly type: DbTextType;
  readonly nullable: boolean;
  readonly auto: boolean;
}

export interface DbTextTable {
  readonly columns: readonly DbTextColumn[];
  /** one object per row, keyed by column name, with the 1-based line it came from */
  readonly rows: ReadonlyArray<{ readonly line: number; readonly values: Readonly<Record<string, DbTextValue>> }>;
}

export interface DbTextError {
  readonly file: string;
  readonly line: number;
  readonly field: string;
  readonly reason: string;
}

export type DbTextResult = { ok: true; value: DbTextTable } | { ok: false; error: DbTextError };

const TYPES = new Set<string>(["int", "double", "str", "string", "blob", "datetime"]);
const COLUMN = /^([A-Za-z_][\w]*)\(([a-z]+)((?:,[a-z]+)*)\)$/;

function parseHeader(line: string): DbTextColumn[] | { field: string; reason: string } {
  const columns: DbTextColumn[] = [];
  for (const token of line.trim().split(/\s+/)) {
    const m = COLUMN.exec(token);
    if (!m || !TYPES.has(m[2] as string)) return { field: token, reason: "not a column declaration name(type[,null][,auto])" };
    const opts = (m[3] ?? "").split(",").filter((o) => o !== "");
    if (opts.some((o) => o !== "null" && o !== "auto")) return { field: m[1] as string, reason: "unknown column option" };
    columns.push({ name: m[1] as string, type: m[2] as DbTextType, nullable: opts.includes("null"), auto: opts.includes("auto") });
  }
  return columns;
}

/** Splits a row at unescaped ':' and resolves escapes; `quoted` marks values that were quoted. */
export function splitRow(line: string): { value: string; quoted: boolean }[] {
  const out: { value: string; quoted: boolean }[] = [];
  let cur = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "\\" && i + 1 < line.length) {
      const n = line[++i] as string;
      cur += n === "n" ? "\n" : n === "r" ? "\r" : n === "t" ? "\t" : n;
    } else if (c === ":") {
      out.push(unquote(cur));
      cur = "";
    } else {
      cur += c;
    }
  }
  out.push(unquote(cur));
  return out;
}

function unquote(raw: string): { value: string; quoted: boolean } {
  const q = raw[0];
  if (raw.length >= 2 && (q === "'" || q === '"') && raw[raw.length - 1] === q) return { value: raw.slice(1, -1), quoted: true };
  return { value: raw, quoted: false };
}

function convert(col: DbTextColumn, cell: { value: string; quoted: boolean }): DbTextValue | { reason: string } {
  const { value, quoted } = cell;
  if (!quoted && (value === "" || (col.nullable && value === "null"))) {
    if (col.nullable || col.auto) return null;
    if (col.type === "str" || col.type === "string" || col.type === "blob") return "";
    return { reason: "empty value in a column that is not null" };
  }
  switch (col.type) {
    case "int":
      return /^[+-]?\d+$/.test(value) ? Number(value) : { reason: "not an integer" };
    case "double":
    case "datetime":
      return value.trim() !== "" && Number.isFinite(Number(value)) ? Number(value) : { reason: `not a ${col.type}` };
    default:
      return value;
  }
}

/** Parses a db_text table file; `file` names it in errors (db_text names the table by the file). */
export function parseDbText(text: string, file: string): DbTextResult {
  const lines = text.split(/\r?\n/);
  const headerAt = lines.findIndex((l) => l.trim() !== "");
  if (headerAt < 0) return { ok: false, error: { file, line: 1, field: "header", reason: "no header line" } };
  const header = parseHeader(lines[headerAt] as string);
  if (!Array.isArray(header)) return { ok: false, error: { file, line: headerAt + 1, ...header } };
  const rows: { line: number; values: Record<string, DbTextValue> }[] = [];
  for (let i = headerAt + 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === "") continue;
    const cells = splitRow(line);
    if (cells.length !== header.length) {
      return { ok: false, error: { file, line: i + 1, field: "row", reason: `${cells.length} values for ${header.length} columns` } };
    }
    const values: Record<string, DbTextValue> = {};
    for (let c = 0; c < header.length; c++) {
      const col = header[c] as DbTextColumn;
      const v = convert(col, cells[c] as { value: string; quoted: boolean });
      if (v !== null && typeof v === "object") return { ok: false, error: { file, line: i + 1, field: col.name, reason: v.reason } };
      values[col.name] = v;
    }
    rows.push({ line: i + 1, values });
  }
  return { ok: true, value: { columns: header, rows } };
}

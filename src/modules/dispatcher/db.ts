/**
 * Destination sets from database rows: the D1 `dispatcher` table with Kamailio's columns, and
 * db_text `dispatcher` files, either with Kamailio's columns or in the seed's (OpenSIPS) layout
 * `id setid destination socket state weight priority attrs description`.
 */
import type { DbTextValue } from "../../provisioning/dbtext.ts";
import { parseDbText } from "../../provisioning/dbtext.ts";
import { buildList, makeDestination, parseDestinationUri } from "./destination.ts";
import type { DestinationFields } from "./destination.ts";
import type { Destination, DestinationState, DispatcherList, Loaded } from "./types.ts";

/** A row of Kamailio's `dispatcher` table as D1 returns it. */
export interface DispatcherRow {
  readonly id?: number | null;
  readonly setid: number | string | null;
  readonly destination: string | null;
  readonly flags?: number | string | null;
  readonly priority?: number | string | null;
  readonly attrs?: string | null;
  readonly description?: string | null;
}

type Fail = { ok: false; error: { file: string; line: number; field: string; reason: string } };

function fail(file: string, line: number, field: string, reason: string): Fail {
  return { ok: false, error: { file, line, field, reason } };
}

function intOf(v: DbTextValue | undefined, dflt: number): number | undefined {
  if (v === null || v === undefined || v === "") return dflt;
  if (typeof v === "number") return Number.isInteger(v) ? v : undefined;
  return /^[+-]?\d+$/.test(v.trim()) ? Number(v) : undefined;
}

/** OpenSIPS' state column: 0 active, 1 inactive, 2 probing. */
const OPENSIPS_STATE: Record<number, DestinationState> = { 0: "active", 1: "inactive", 2: "probing" };

interface RowContext {
  readonly file: string;
  readonly line: number;
}

function entryOf(values: Readonly<Record<string, DbTextValue | undefined>>, ctx: RowContext): { fields: DestinationFields; dst: Destination } | Fail {
  const { file, line } = ctx;
  const setId = intOf(values["setid"], -1);
  if (setId === undefined || setId < 0) return fail(file, line, "setid", "not a non-negative integer");
  const uri = values["destination"];
  if (typeof uri !== "string" || uri === "") return fail(file, line, "destination", "missing");
  const parsed = parseDestinationUri(uri);
  if (typeof parsed === "string") return fail(file, line, "destination", parsed);
  const flags = intOf(values["flags"], 0);
  if (flags === undefined || flags < 0) return fail(file, line, "flags", "not a non-negative integer");
  const priority = intOf(values["priority"], 0);
  if (priority === undefined) return fail(file, line, "priority", "not an integer");
  let state: DestinationState | undefined;
  if ("state" in values) {
    const n = intOf(values["state"], 0);
    state = n === undefined ? undefined : OPENSIPS_STATE[n];
    if (state === undefined) return fail(file, line, "state", "not 0 (active), 1 (inactive) or 2 (probing)");
  }
  const attrs = extraAttrs(values);
  if (typeof attrs !== "string") return fail(file, line, attrs.field, attrs.reason);
  const description = values["description"];
  const fields: DestinationFields = {
    setId,
    uri,
    flags,
    priority,
    attrs,
    ...(typeof description === "string" && description !== "" ? { description } : {}),
    ...(state === undefined ? {} : { state }),
  };
  return { fields, dst: makeDestination(fields, parsed) };
}

/**
 * The seed's OpenSIPS columns socket and weight become the attributes Kamailio uses for them
 * (as its ds_db_extra_attrs would), unless attrs already sets them.
 */
function extraAttrs(values: Readonly<Record<string, DbTextValue | undefined>>): string | { field: string; reason: string } {
  let attrs = typeof values["attrs"] === "string" ? values["attrs"] : "";
  const has = (name: string): boolean => new RegExp(`(^|;)\\s*${name}\\s*=`).test(attrs);
  const socket = values["socket"];
  if (typeof socket === "string" && socket !== "" && socket !== "null" && !has("socket")) attrs = join(attrs, `socket=${socket}`);
  const weight = values["weight"];
  if (weight !== undefined && weight !== null) {
    const w = intOf(weight, 0);
    if (w === undefined) return { field: "weight", reason: "not an integer" };
    if (!has("weight")) attrs = join(attrs, `weight=${w}`);
  }
  return attrs;
}

function join(attrs: string, item: string): string {
  return attrs === "" || attrs.endsWith(";") ? attrs + item : `${attrs};${item}`;
}

/**
 * Rows of the D1 `dispatcher` table (id, setid, destination, flags, priority, attrs,
 * description). Errors name row N (1-based, in the order given) as the line. Give the rows in
 * id order: like Kamailio, the last loaded of equal priority comes first in its set.
 */
export function loadDispatcherRows(rows: readonly DispatcherRow[], file = "dispatcher", random: () => number = Math.random): Loaded<DispatcherList> {
  const entries: { fields: DestinationFields; dst: Destination }[] = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as DispatcherRow;
    const values: Record<string, DbTextValue | undefined> = {
      setid: row.setid,
      destination: row.destination,
      flags: row.flags,
      priority: row.priority,
      attrs: row.attrs,
      description: row.description,
    };
    const entry = entryOf(values, { file, line: i + 1 });
    if ("ok" in entry) return entry;
    entries.push(entry);
  }
  return { ok: true, value: buildList(entries, random) };
}

/** A db_text `dispatcher` table file (Kamailio columns or the seed's OpenSIPS layout). */
export function loadDispatcherDbText(text: string, file = "dispatcher", random: () => number = Math.random): Loaded<DispatcherList> {
  const table = parseDbText(text, file);
  if (!table.ok) return table;
  const names = new Set(table.value.columns.map((c) => c.name));
  for (const required of ["setid", "destination"]) {
    if (!names.has(required)) return fail(file, 1, required, "column missing from the header");
  }
  const entries: { fields: DestinationFields; dst: Destination }[] = [];
  for (const row of table.value.rows) {
    const entry = entryOf(row.values, { file, line: row.line });
    if ("ok" in entry) return entry;
    entries.push(entry);
  }
  return { ok: true, value: buildList(entries, random) };
}

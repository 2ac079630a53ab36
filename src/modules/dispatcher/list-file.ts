/**
 * dispatcher.list in both layouts the seed prints:
 * - Kamailio's: `setid destination [flags [priority [attrs]]]`, `#` comments, blank lines;
 * - the seed's OpenSIPS listing, indented, with a set label line ("proxies", "gateways")
 *   before the entries it names.
 */
import { buildList, makeDestination, parseDestinationUri } from "./destination.ts";
import type { DestinationFields } from "./destination.ts";
import type { Destination, DispatcherList, LoadError, Loaded } from "./types.ts";

const FIELDS = ["setid", "destination", "flags", "priority", "attrs"] as const;
const LABEL = /^[A-Za-z_][\w.-]*$/;

function error(file: string, line: number, field: string, reason: string): { ok: false; error: LoadError } {
  return { ok: false, error: { file, line, field, reason } };
}

function parseInt10(text: string): number | undefined {
  return /^-?\d+$/.test(text) ? Number(text) : undefined;
}

type LineResult = { kind: "skip" } | { kind: "label"; label: string } | { kind: "entry"; fields: DestinationFields; dst: Destination } | { kind: "error"; field: string; reason: string };

function parseLine(raw: string, label: string | undefined): LineResult {
  const text = raw.trim();
  if (text === "" || text.startsWith("#")) return { kind: "skip" };
  const tokens = text.split(/\s+/);
  const hash = tokens.findIndex((t) => t.startsWith("#"));
  if (hash >= 0) tokens.length = hash;
  if (tokens.length === 1 && LABEL.test(tokens[0] as string)) return { kind: "label", label: tokens[0] as string };
  if (tokens.length > FIELDS.length) return { kind: "error", field: "attrs", reason: "unexpected text after attrs (attrs contain no spaces)" };
  const setId = parseInt10(tokens[0] as string);
  if (setId === undefined || setId < 0) return { kind: "error", field: "setid", reason: "not a non-negative integer" };
  const uri = tokens[1];
  if (uri === undefined) return { kind: "error", field: "destination", reason: "missing" };
  const parsed = parseDestinationUri(uri);
  if (typeof parsed === "string") return { kind: "error", field: "destination", reason: parsed };
  const flags = tokens[2] === undefined ? 0 : parseInt10(tokens[2]);
  if (flags === undefined || flags < 0) return { kind: "error", field: "flags", reason: "not a non-negative integer" };
  const priority = tokens[3] === undefined ? 0 : parseInt10(tokens[3]);
  if (priority === undefined) return { kind: "error", field: "priority", reason: "not an integer" };
  const fields: DestinationFields = { setId, uri, flags, priority, attrs: tokens[4] ?? "", ...(label === undefined ? {} : { label }) };
  return { kind: "entry", fields, dst: makeDestination(fields, parsed) };
}

/**
 * Parses a dispatcher.list text. `file` names it in errors. A label line applies to the
 * entries after it until the next label; a set takes the label in force at its first entry.
 */
export function parseDispatcherList(text: string, file = "dispatcher.list", random: () => number = Math.random): Loaded<DispatcherList> {
  const entries: { fields: DestinationFields; dst: Destination }[] = [];
  const lines = text.split(/\r?\n/);
  let label: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const result = parseLine(lines[i] as string, label);
    switch (result.kind) {
      case "skip":
        break;
      case "label":
        label = result.label;
        break;
      case "error":
        return error(file, i + 1, result.field, result.reason);
      case "entry":
        entries.push(result);
    }
  }
  return { ok: true, value: buildList(entries, random) };
}

import { fail, ok } from "../../sip/result.ts";
import type { Parsed } from "../../sip/result.ts";
import { Htable } from "./htable.ts";
import type { HtableOptions } from "./htable.ts";

/**
 * Kamailio's table definition string, `name=>size=8;autoexpire=300;initval=0;updateexpire=1;`,
 * so an operator can paste the `modparam("htable", "htable", ...)` value. `size` (2^size hash
 * buckets in Kamailio) is accepted and ignored: a JavaScript Map sizes itself. `maxitems` is
 * sipedge's own item cap. Database loading attributes (`dbtable`, `cols`, `dbmode`) and
 * `dmqreplicate` are refused rather than silently ignored.
 */

export type HtableDefinition = Omit<HtableOptions, "clock">;

/** The table the shipped script bans flooding addresses in (Kamailio's default config). */
export const IPBAN_DEFINITION = "ipban=>size=8;autoexpire=300;";

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Supported numeric attributes and their smallest value. */
const MINIMUM: ReadonlyMap<string, number> = new Map([
  ["size", 0],
  ["autoexpire", 0],
  ["initval", Number.MIN_SAFE_INTEGER],
  ["updateexpire", 0],
  ["maxitems", 1],
]);

function integerAttr(attr: string, text: string, min: number): Parsed<number> {
  if (!/^-?\d+$/.test(text)) return fail(`${attr}: "${text}" is not an integer`);
  const n = Number(text);
  if (n < min) return fail(`${attr}: ${n} is below ${min}`);
  return ok(n);
}

export function parseHtableDefinition(text: string): Parsed<HtableDefinition> {
  const arrow = text.indexOf("=>");
  if (arrow < 0) return fail(`missing "=>" after the table name`);
  const name = text.slice(0, arrow).trim();
  if (!NAME.test(name)) return fail(`name: "${name}" is not a valid table name`);
  const def: { -readonly [K in keyof HtableDefinition]: HtableDefinition[K] } = { name };
  for (const part of text.slice(arrow + 2).split(";")) {
    const attr = part.trim();
    if (attr === "") continue;
    const eq = attr.indexOf("=");
    if (eq < 0) return fail(`"${attr}" is not attribute=value`);
    const key = attr.slice(0, eq).trim().toLowerCase();
    const value = attr.slice(eq + 1).trim();
    const minimum = MINIMUM.get(key);
    if (minimum === undefined) return fail(`${key}: attribute not supported`);
    const n = integerAttr(key, value, minimum);
    if (!n.ok) return n;
    if (key === "autoexpire") def.autoexpire = n.value;
    else if (key === "initval") def.initval = n.value;
    else if (key === "updateexpire") def.updateexpire = n.value !== 0;
    else if (key === "maxitems") def.maxItems = n.value;
  }
  return ok(def);
}

/** The named tables of one object (`$sht(name=>...)` resolves the name here). */
export class HtableSet {
  private readonly tables = new Map<string, Htable>();

  constructor(definitions: readonly HtableDefinition[], clock?: () => number) {
    for (const d of definitions) {
      this.tables.set(d.name, new Htable(clock === undefined ? d : { ...d, clock }));
    }
  }

  /** Compiles Kamailio definition strings; the first bad one is the error. */
  static fromStrings(definitions: readonly string[], clock?: () => number): Parsed<HtableSet> {
    const parsed: HtableDefinition[] = [];
    for (const text of definitions) {
      const d = parseHtableDefinition(text);
      if (!d.ok) return fail(`htable "${text}": ${d.reason}`);
      parsed.push(d.value);
    }
    return ok(new HtableSet(parsed, clock));
  }

  table(name: string): Htable | undefined {
    return this.tables.get(name);
  }

  /** `htable.listTables`. */
  names(): string[] {
    return [...this.tables.keys()];
  }

  /** Runs every table's expiry sweep (call from the owning object's alarm). */
  expire(): number {
    let removed = 0;
    for (const t of this.tables.values()) removed += t.expire();
    return removed;
  }
}

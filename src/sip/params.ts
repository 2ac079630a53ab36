import { GENVALUE, TOKEN, describeChar, lowerName, quote, scanClass, scanQuoted, skipWs } from "./grammar.ts";
import { fail, ok } from "./result.ts";
import type { Parsed } from "./result.ts";

/**
 * Parameters in wire order. Names are lower-cased (RFC 3261 §7.3.1: parameter names are
 * case-insensitive); a flag parameter such as ";lr" has the value null. Values are kept as
 * written: a quoted-string value keeps its quotes (read it with `unquote`), so formatting
 * reproduces what arrived.
 */
export type Params = Map<string, string | null>;

/**
 * Header parameters, `*( SEMI generic-param )` with
 * `generic-param = token [ EQUAL gen-value ]`, `gen-value = token / host / quoted-string`.
 * SEMI and EQUAL allow LWS on both sides (RFC 3261 §25.1), which RFC 4475 wsinv exercises.
 * `text` starts at the first ";" (leading LWS is tolerated) or is empty.
 */
export function parseParams(text: string): Parsed<Params> {
  const params: Params = new Map();
  const stop = parseParamsAt(text, 0, text.length, params);
  return typeof stop === "string" ? fail(stop) : ok(params);
}

/**
 * Parses header parameters of `text[i..end)` into `into`. Returns `end`, or the reason the
 * text is not a parameter list. A repeated name is an error: a Map cannot hold both, and
 * silently keeping one of two tags or branches invites mismatched transactions and dialogs.
 */
export function parseParamsAt(text: string, i: number, end: number, into: Params): number | string {
  i = skipWs(text, i, end);
  while (i < end) {
    if (text.charCodeAt(i) !== 59 /* ; */) return `${describeChar(text, i)} before parameters`;
    i = skipWs(text, i + 1, end);
    const nameStart = i;
    i = scanClass(text, i, end, TOKEN);
    if (i === nameStart) return i < end ? `${describeChar(text, i)} in parameter name` : "empty parameter";
    const name = lowerName(text, nameStart, i);
    let value: string | null = null;
    i = skipWs(text, i, end);
    if (i < end && text.charCodeAt(i) === 61 /* = */) {
      i = skipWs(text, i + 1, end);
      const valueStart = i;
      if (text.charCodeAt(i) === 34 /* " */) {
        i = scanQuoted(text, i, end);
        if (i < 0) return `unterminated quoted value of parameter ${name}`;
      } else {
        i = scanClass(text, i, end, GENVALUE);
      }
      if (i === valueStart) {
        return i < end && text.charCodeAt(i) !== 59
          ? `${describeChar(text, i)} in parameter ${name}`
          : `empty value of parameter ${name}`;
      }
      value = text.slice(valueStart, i);
      i = skipWs(text, i, end);
    }
    if (into.has(name)) return `duplicate parameter ${name}`;
    into.set(name, value);
  }
  return i;
}

/** ";name=value;flag". A value that is neither a token/host nor already quoted is quoted. */
export function formatParams(p: Params): string {
  let out = "";
  for (const [name, value] of p) {
    if (value === null) out += ";" + name;
    else out += ";" + name + "=" + formatValue(value);
  }
  return out;
}

function formatValue(value: string): string {
  if (value.length > 0 && value.charCodeAt(0) === 34) return value;
  return value.length > 0 && scanClass(value, 0, value.length, GENVALUE) === value.length ? value : quote(value);
}

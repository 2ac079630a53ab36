/**
 * Kamailio compiles permission patterns as POSIX extended regular expressions, ignoring case,
 * searched anywhere in the subject (regcomp with REG_EXTENDED | REG_ICASE | REG_NOSUB). The
 * ERE syntax used in permission files is a subset of JavaScript's, except the bracket
 * classes such as `[[:digit:]]`, which are translated here.
 *
 * Patterns come from the operator, not from the network; JavaScript regular expressions
 * backtrack, so a pathological pattern is the operator's to avoid (the SIP message size limit
 * bounds the subject).
 */

const POSIX_CLASSES: ReadonlyArray<readonly [string, string]> = [
  ["[:alnum:]", "A-Za-z0-9"],
  ["[:alpha:]", "A-Za-z"],
  ["[:digit:]", "0-9"],
  ["[:xdigit:]", "0-9A-Fa-f"],
  ["[:lower:]", "a-z"],
  ["[:upper:]", "A-Z"],
  ["[:space:]", " \\t\\r\\n\\v\\f"],
  ["[:blank:]", " \\t"],
  ["[:punct:]", "!-\\/:-@\\[-`{-~"],
];

export type RegexResult = { ok: true; regex: RegExp } | { ok: false; reason: string };

export function compilePermissionRegex(source: string): RegexResult {
  let translated = source;
  for (const [cls, js] of POSIX_CLASSES) {
    if (translated.includes(cls)) translated = translated.split(cls).join(js);
  }
  try {
    // No "g" flag: a global RegExp keeps lastIndex between test() calls.
    return { ok: true, regex: new RegExp(translated, "i") };
  } catch (e) {
    return { ok: false, reason: `invalid regular expression ${JSON.stringify(source)}: ${(e as Error).message}` };
  }
}

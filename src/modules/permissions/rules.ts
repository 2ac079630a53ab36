import { configError, configOk } from "./config-error.ts";
import type { ConfigResult } from "./config-error.ts";
import { compilePermissionRegex } from "./regex.ts";

/**
 * hosts.allow-style permission files, Kamailio syntax (config/permissions.allow):
 *
 *     left_list [EXCEPT left_list] : right_list [EXCEPT right_list]   # comment
 *
 * Lists are comma-separated expressions, each a case-insensitive POSIX extended regular
 * expression, usually double-quoted (commas, colons and '#' inside quotes are literal); the
 * keyword ALL matches anything. A rule matches a (left, right) pair when each side matches
 * one of its expressions (or ALL) and none of its exceptions. The left side is the From URI
 * (allow_routing, allow_uri) or the To URI (allow_register); the right side the Request-URI or
 * branch, the Contact, or the URI given.
 *
 * Kamailio skips a line it cannot parse and logs it; sipedge refuses the file with the line
 * and field. Stricter than Kamailio: more than one unquoted ':' (Kamailio silently splits at
 * the last one) and ALL mixed with expressions (Kamailio reads that ALL as the regex /ALL/i)
 * are errors.
 */

export interface RuleSide {
  /** undefined = ALL. */
  readonly include: readonly RegExp[] | undefined;
  readonly except: readonly RegExp[];
}

export interface PermissionRule {
  readonly line: number;
  readonly left: RuleSide;
  readonly right: RuleSide;
}

export interface RuleFile {
  readonly file: string;
  readonly rules: readonly PermissionRule[];
}

export const EMPTY_RULES: RuleFile = Object.freeze({ file: "", rules: Object.freeze([]) });

const QUOTE = 34;
const COMMA = 44;

/** Splits at unquoted commas; quotes stay on the items. */
function splitList(text: string): string[] {
  const items: string[] = [];
  let quoted = false;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) quoted = !quoted;
    else if (c === COMMA && !quoted) {
      items.push(text.slice(from, i));
      from = i + 1;
    }
  }
  items.push(text.slice(from));
  return items;
}

/** Positions of the unquoted, space-delimited word EXCEPT. */
function exceptPositions(text: string): number[] {
  const at: number[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) quoted = !quoted;
    else if (!quoted && text.startsWith("EXCEPT", i)) {
      const before = i === 0 ? " " : text[i - 1];
      const after = i + 6 >= text.length ? " " : text[i + 6];
      if ((before === " " || before === "\t") && (after === " " || after === "\t")) at.push(i);
    }
  }
  return at;
}

type ListResult = { ok: true; regexes: RegExp[] | undefined } | { ok: false; reason: string };

function parseList(text: string, allowAll: boolean): ListResult {
  const trimmed = text.trim();
  if (trimmed === "ALL") {
    return allowAll ? { ok: true, regexes: undefined } : { ok: false, reason: "ALL cannot be an exception" };
  }
  const regexes: RegExp[] = [];
  for (const raw of splitList(trimmed)) {
    let item = raw.trim();
    if (item === "ALL") return { ok: false, reason: "ALL must stand alone, not in a list" };
    if (item.length >= 2 && item.startsWith('"') && item.endsWith('"')) item = item.slice(1, -1);
    else if (item.includes('"')) return { ok: false, reason: `unbalanced quote in ${raw.trim()}` };
    if (item === "") return { ok: false, reason: "empty expression" };
    const re = compilePermissionRegex(item);
    if (!re.ok) return re;
    regexes.push(re.regex);
  }
  return { ok: true, regexes };
}

type SideResult = { ok: true; side: RuleSide } | { ok: false; reason: string };

function parseSide(text: string): SideResult {
  const excepts = exceptPositions(text);
  if (excepts.length > 1) return { ok: false, reason: "more than one EXCEPT" };
  const at = excepts[0];
  const includeText = at === undefined ? text : text.slice(0, at);
  if (includeText.trim() === "") return { ok: false, reason: "no expression" };
  const include = parseList(includeText, true);
  if (!include.ok) return include;
  if (at === undefined) return { ok: true, side: { include: include.regexes, except: [] } };
  const except = parseList(text.slice(at + 6), false);
  if (!except.ok) return except;
  return { ok: true, side: { include: include.regexes, except: except.regexes ?? [] } };
}

/** Compiles one `.allow` or `.deny` file. */
export function parseRuleFile(file: string, text: string): ConfigResult<RuleFile> {
  const rules: PermissionRule[] = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n] ?? "";
    let quoted = false;
    let end = line.length;
    const colons: number[] = [];
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (c === '"') quoted = !quoted;
      else if (!quoted && c === "#") {
        end = i;
        break;
      } else if (!quoted && c === ":") colons.push(i);
    }
    const content = line.slice(0, end);
    if (content.trim() === "") continue;
    if (quoted) return configError(file, n + 1, "line", "unterminated quote");
    const colon = colons[0];
    if (colon === undefined) return configError(file, n + 1, "separator", "missing ':' between the two expression lists");
    if (colons.length > 1) {
      return configError(file, n + 1, "separator", "more than one ':' outside quotes; quote expressions that contain ':'");
    }
    const left = parseSide(content.slice(0, colon));
    if (!left.ok) return configError(file, n + 1, "left", left.reason);
    const right = parseSide(content.slice(colon + 1));
    if (!right.ok) return configError(file, n + 1, "right", right.reason);
    rules.push({ line: n + 1, left: left.side, right: right.side });
  }
  return configOk({ file, rules });
}

function sideMatches(side: RuleSide, value: string): boolean {
  if (side.include !== undefined && !side.include.some((r) => r.test(value))) return false;
  return !side.except.some((r) => r.test(value));
}

/** The first rule matching the pair (Kamailio search_rule), or undefined. */
export function searchRule(file: RuleFile, left: string, right: string): PermissionRule | undefined {
  for (const rule of file.rules) {
    if (sideMatches(rule.left, left) && sideMatches(rule.right, right)) return rule;
  }
  return undefined;
}

/**
 * Kamailio's decision for a set of pairs sharing one left value: a pair matched by the allow
 * file is allowed; otherwise a pair matched by the deny file denies the whole request;
 * a pair neither file matches is allowed. No rules at all: allowed.
 */
export function decide(allow: RuleFile, deny: RuleFile, left: string, rights: readonly string[]): boolean {
  if (allow.rules.length === 0 && deny.rules.length === 0) return true;
  for (const right of rights) {
    if (searchRule(allow, left, right) !== undefined) continue;
    if (searchRule(deny, left, right) !== undefined) return false;
  }
  return true;
}

/**
 * The form Kamailio matches Request-URIs, branches and Contacts in: `sip:user@host`, or
 * `sip:host` without a user, dropping password, port, parameters and headers (and writing
 * `sip:` whatever the scheme was, as Kamailio does). Non-SIP URIs (tel:, urn:) lose only
 * their parameters.
 */
export function plainUri(uri: string): string {
  const colon = uri.indexOf(":");
  const scheme = colon < 0 ? "" : uri.slice(0, colon).toLowerCase();
  if (scheme !== "sip" && scheme !== "sips") {
    const semi = uri.indexOf(";");
    return semi < 0 ? uri : uri.slice(0, semi);
  }
  const rest = uri.slice(colon + 1);
  const at = rest.indexOf("@");
  let user = "";
  let hostport = rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const pw = userinfo.indexOf(":");
    user = pw < 0 ? userinfo : userinfo.slice(0, pw);
    hostport = rest.slice(at + 1);
  }
  let hostEnd = hostport.length;
  for (let i = 0; i < hostport.length; i++) {
    const c = hostport[i];
    if (c === ";" || c === "?" || (c === ":" && hostport[0] !== "[")) {
      hostEnd = i;
      break;
    }
    if (c === "]") {
      hostEnd = i + 1;
      break;
    }
  }
  const host = hostport.slice(0, hostEnd);
  return user === "" ? `sip:${host}` : `sip:${user}@${host}`;
}

import { fail, ok } from "../../sip/result.ts";
import type { Parsed } from "../../sip/result.ts";

/**
 * Drops requests from known SIP scanners by their User-Agent, as Kamailio's default config
 * does in its REQINIT route (`$ua =~ "friendly-scanner|sipcli|VaxSIPUserAgent"`). A scanner
 * can change its User-Agent, so this only removes the laziest noise cheaply; pike, the ban
 * tables and authentication do the real work.
 */

/** Substrings that identify scanners (sipvicious's svmap/svwar send "friendly-scanner"). */
export const DEFAULT_SCANNER_AGENTS: readonly string[] = Object.freeze([
  "friendly-scanner",
  "sipvicious",
  "sipcli",
  "VaxSIPUserAgent",
  "pplsip",
]);

export interface ScannerOptions {
  /** Case-insensitive substrings; default DEFAULT_SCANNER_AGENTS. */
  readonly agents?: readonly string[];
  /** A regular expression (source or RegExp, searched case-insensitively) used instead. */
  readonly pattern?: string | RegExp;
}

export interface ScannerFilter {
  readonly source: string;
  /** Whether the User-Agent value belongs to a scanner; an absent header does not. */
  isScanner(userAgent: string | undefined): boolean;
}

function escapeRegex(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Compiles the filter once: one alternation of literals, which the regex engine scans linearly. */
export function compileScannerFilter(options: ScannerOptions = {}): Parsed<ScannerFilter> {
  let regex: RegExp;
  if (options.pattern !== undefined) {
    const p = options.pattern;
    try {
      regex = typeof p === "string" ? new RegExp(p, "i") : new RegExp(p.source, p.flags.replace(/[gy]/g, "") + (p.ignoreCase ? "" : "i"));
    } catch (e) {
      return fail(`pattern: ${(e as Error).message}`);
    }
  } else {
    const agents = (options.agents ?? DEFAULT_SCANNER_AGENTS).filter((a) => a !== "");
    if (agents.length === 0) return fail("agents: the list is empty");
    regex = new RegExp(agents.map(escapeRegex).join("|"), "i");
  }
  return ok({
    source: regex.source,
    isScanner: (userAgent) => userAgent !== undefined && userAgent !== "" && regex.test(userAgent),
  });
}

const DEFAULT_FILTER = compileScannerFilter();

/** `isScanner` with the default agent list. */
export function isScanner(userAgent: string | undefined): boolean {
  return DEFAULT_FILTER.ok && DEFAULT_FILTER.value.isScanner(userAgent);
}

/** Findings as short lines a failing test or `npm run fuzz` prints (the data goes to a file). */
import type { Violation } from "./parser-check.ts";

export function describeFindings(findings: readonly (Violation & { seed?: string; ops?: string[]; caseSeed?: number; action?: string })[]): string[] {
  return findings.slice(0, 20).map((f) => {
    const origin = f.action ?? `${f.seed ?? ""}${f.ops?.length ? ` [${f.ops.join(",")}]` : ""}${f.caseSeed ? ` case ${f.caseSeed}` : ""}`;
    return `${f.invariant}: ${f.detail.slice(0, 300)} (${origin})`;
  });
}

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseMessage } from "../../../src/sip/parser.ts";
import * as arb from "../../fuzz/arbitraries.ts";
import { FUZZ_SEED, runs } from "../../fuzz/budget.ts";
import { checkParser } from "../../fuzz/parser-check.ts";
import { runParserCampaign } from "../../fuzz/parser-campaign.ts";
import { allSeeds, rfc4475Seeds } from "../../fuzz/seeds.ts";
import { describeFindings } from "../../fuzz/report.ts";

// Mutation and generation fuzzing of the message parser (src/sip/parser.ts and the header
// grammars under it). The invariants are in test/fuzz/parser-check.ts; `npm run fuzz` runs the
// same campaign for minutes. FUZZ_SEED replays a run, FUZZ_SCALE scales it.

describe("parser fuzzing", () => {
  it("the seed corpus is all there: RFC 4475's 49 messages, JsSIP, SIP.js and sipp shapes", () => {
    const seeds = allSeeds();
    if (process.env.CI === "true" || rfc4475Seeds().length > 0) expect(rfc4475Seeds()).toHaveLength(49);
    for (const family of ["jssip/", "sipjs/", "sipp/"]) expect(seeds.some((s) => s.name.startsWith(family))).toBe(true);
  });

  it("every seed message satisfies the parser invariants", () => {
    for (const seed of allSeeds()) expect(checkParser(seed.data), seed.name).toEqual([]);
  });

  it("mutated messages (byte flips, duplicated/removed/reordered headers, compact forms, folding, huge values, invalid UTF-8, Content-Length lies, CRLF/LF mixes) break no invariant", () => {
    const stats = runParserCampaign({ seed: FUZZ_SEED, seeds: allSeeds(), cases: runs(14_000) });
    expect(describeFindings(stats.findings)).toEqual([]);
    expect(stats.cases).toBe(runs(14_000));
    // The mutations are not all garbage: both the accepting and the refusing paths are exercised.
    expect(stats.parsed).toBeGreaterThan(stats.cases / 10);
    expect(stats.refused).toBeGreaterThan(stats.cases / 10);
  }, 60_000);

  it("requests generated from the grammar parse, keep their headers, and round-trip", () => {
    fc.assert(
      fc.property(arb.request, (text) => {
        const parsed = parseMessage(text);
        if (!parsed.ok) throw new Error(`${parsed.status} ${parsed.reason}`);
        expect(checkParser(text)).toEqual([]);
        expect(checkParser(new TextEncoder().encode(text))).toEqual([]);
      }),
      { numRuns: runs(800), seed: FUZZ_SEED },
    );
  }, 60_000);
});

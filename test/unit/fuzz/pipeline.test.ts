import { describe, expect, it } from "vitest";
import { FUZZ_SEED, runs } from "../../fuzz/budget.ts";
import { runPipelineCampaign } from "../../fuzz/pipeline-campaign.ts";
import { describeFindings } from "../../fuzz/report.ts";
import { allSeeds } from "../../fuzz/seeds.ts";

// The whole pipeline fuzzed: the shipped route script with real modules over fake transports and
// in-memory services (test/fuzz/world.ts), driven by registering and calling softphones,
// gateways calling in, and mutated, generated, retransmitted and garbage messages in between.
// The invariants are in test/fuzz/pipeline-check.ts; `npm run fuzz` runs this for minutes.

describe("pipeline fuzzing", () => {
  it("thousands of messages: nothing escapes, every request is answered, relayed or deliberately dropped, and the tables drain to zero", async () => {
    const stats = await runPipelineCampaign({ seed: FUZZ_SEED, seeds: allSeeds(), messages: runs(6000) });
    expect(describeFindings(stats.findings)).toEqual([]);
    expect(stats.messages).toBeGreaterThanOrEqual(runs(6000));
    expect(stats.hostile).toBeGreaterThan(stats.messages / 10);
    // The load reached the stateful parts: transactions, bindings and pike were in use...
    expect(stats.sizes.peak.tmContexts).toBeGreaterThan(0);
    expect(stats.sizes.peak.locationBindings).toBeGreaterThan(0);
    expect(stats.sizes.peak.guardPikeNodes).toBeGreaterThan(0);
    // ...and once every timer ran and everything that expires expired, nothing is left.
    expect(Object.values(stats.sizes.drained).every((n) => n === 0)).toBe(true);
  }, 120_000);
});

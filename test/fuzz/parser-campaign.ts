/**
 * Mutation fuzzing of the parser: each case takes a seed message (and a second one to splice
 * from), applies 1-4 mutation operators and checks every parser invariant (parser-check.ts). A
 * case is reproduced from its own seed (`caseSeed`), so a finding is replayed without the run.
 */
import { parseMessage } from "../../src/sip/parser.ts";
import { mutate } from "./mutate.ts";
import { checkParser, type Violation } from "./parser-check.ts";
import { Rng } from "./random.ts";
import type { Seed } from "./seeds.ts";

export interface ParserFinding extends Violation {
  data: string | Uint8Array;
  seed: string;
  ops: string[];
  caseSeed: number;
}

export interface ParserStats {
  cases: number;
  /** Cases whose message parsed, and those refused (400/505 or a throw); both are checked. */
  parsed: number;
  refused: number;
  findings: ParserFinding[];
}

export function parserCase(caseSeed: number, seeds: readonly Seed[]) {
  const rng = new Rng(caseSeed);
  const seed = rng.pick(seeds);
  const mutant = mutate(rng, seed.data, rng.pick(seeds).data);
  return { seed, mutant };
}

/** Runs `cases` mutated messages (or until `deadline`, ms since the epoch). */
export function runParserCampaign(options: { seed: number; seeds: readonly Seed[]; cases: number; deadline?: number }): ParserStats {
  const rng = new Rng(options.seed);
  const stats: ParserStats = { cases: 0, parsed: 0, refused: 0, findings: [] };
  for (const s of options.seeds) {
    for (const v of checkParser(s.data)) stats.findings.push({ ...v, data: s.data, seed: s.name, ops: [], caseSeed: 0 });
  }
  while (stats.cases < options.cases && (options.deadline === undefined || (stats.cases % 256 !== 0 || Date.now() < options.deadline))) {
    const caseSeed = rng.fork();
    const { seed, mutant } = parserCase(caseSeed, options.seeds);
    const violations = checkParser(mutant.data);
    stats.cases++;
    if (parses(mutant.data)) stats.parsed++;
    else stats.refused++;
    for (const v of violations) stats.findings.push({ ...v, data: mutant.data, seed: seed.name, ops: mutant.ops, caseSeed });
  }
  return stats;
}

function parses(data: string | Uint8Array): boolean {
  try {
    return parseMessage(data).ok;
  } catch {
    return false;
  }
}

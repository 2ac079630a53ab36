/**
 * Long fuzz runs: the parser's mutation campaign and the pipeline's (test/fuzz), round after
 * round with fresh seeds, for as long as asked. What `npm test` does in seconds, for minutes.
 *
 *   npm run fuzz -- --minutes 30                 half the time each, parser and pipeline
 *   npm run fuzz -- --rounds 2 --seed 1          two rounds of each, the same cases on every
 *                                                machine (what .ci/run does)
 *   npm run fuzz -- --minutes 5 --target parser  only one of them
 *
 * Each target draws its rounds' seeds from a stream of its own (forked from --seed), so the
 * pipeline's rounds do not depend on how many parser cases a machine ran in its half of a timed
 * run: a timed run with a given seed reaches the same first rounds anywhere, only more or fewer.
 *
 * Each finding is written to .fuzz/findings/ (the raw message, and a .json saying which
 * invariant broke, with the seed that replays it); the exit code is 1 when there is any. A
 * finding that is fixed becomes a fixture: copy the raw file to test/fixtures/fuzz/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { runParserCampaign } from "../test/fuzz/parser-campaign.ts";
import { runPipelineCampaign } from "../test/fuzz/pipeline-campaign.ts";
import { Rng } from "../test/fuzz/random.ts";
import { allSeeds, repoRoot } from "../test/fuzz/seeds.ts";

interface Args {
  ms: number;
  /** Rounds per target instead of a time budget (0: timed). */
  rounds: number;
  seed: number;
  target: "all" | "parser" | "pipeline";
  out: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { ms: 60_000, rounds: 0, seed: (Date.now() ^ process.pid) >>> 0, target: "all", out: resolve(repoRoot, ".fuzz/findings") };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const number = Number(value);
    if (flag === "--minutes" && number > 0) args.ms = number * 60_000;
    else if (flag === "--seconds" && number > 0) args.ms = number * 1000;
    else if (flag === "--rounds" && Number.isInteger(number) && number > 0) args.rounds = number;
    else if (flag === "--seed" && Number.isInteger(number)) args.seed = number >>> 0;
    else if (flag === "--target" && (value === "all" || value === "parser" || value === "pipeline")) args.target = value;
    else if (flag === "--out" && value) args.out = resolve(value);
    else throw new Error(`usage: npm run fuzz -- [--minutes N | --seconds N | --rounds N] [--seed N] [--target all|parser|pipeline] [--out DIR] (bad argument ${flag} ${value ?? ""})`);
    i++;
  }
  return args;
}

interface Found {
  invariant: string;
  detail: string;
  data?: string | Uint8Array;
}

const args = parseArgs(process.argv.slice(2));
const seeds = allSeeds();
const rng = new Rng(args.seed);
const seen = new Map<string, number>();
let written = 0;

/** Writes a finding once per invariant and detail (the first 80 chars), so a run does not flood. */
function record(target: string, round: number, f: Found): void {
  const key = `${f.invariant}\n${f.detail.slice(0, 80)}`;
  seen.set(key, (seen.get(key) ?? 0) + 1);
  if (seen.get(key)! > 1) return;
  mkdirSync(args.out, { recursive: true });
  const name = `${target}-${++written}-${f.invariant.replace(/[^a-z0-9]+/gi, "-").slice(0, 40)}`;
  const { data, ...rest } = f;
  if (data !== undefined) writeFileSync(resolve(args.out, `${name}${typeof data === "string" ? "" : ".bin"}.sip`), data);
  writeFileSync(resolve(args.out, `${name}.json`), JSON.stringify({ target, runSeed: args.seed, round, ...rest }, null, 2) + "\n");
  console.log(`FINDING ${name}: ${f.invariant}: ${f.detail.slice(0, 200)}`);
}

const started = Date.now();
const heapStart = process.memoryUsage().heapUsed;
const totals = { parserCases: 0, parserMs: 0, pipelineMessages: 0, pipelineHostile: 0, pipelineMs: 0, rounds: 0 };
const targets = args.target === "all" ? (["parser", "pipeline"] as const) : ([args.target] as const);
const budget = args.rounds > 0 ? `${args.rounds} round(s) each` : `${Math.round(args.ms / 1000)} s`;
console.log(`fuzz: ${budget}, seed ${args.seed}, ${seeds.length} seeds, targets ${targets.join(" + ")}`);
// One stream per target, forked in a fixed order whatever --target says.
const streams = { parser: new Rng(rng.fork()), pipeline: new Rng(rng.fork()) };

for (const [i, target] of targets.entries()) {
  const timed = args.rounds === 0;
  const deadline = timed ? started + (args.ms * (i + 1)) / targets.length : undefined;
  for (let n = 0; timed ? Date.now() < (deadline as number) : n < args.rounds; n++) {
    const round = streams[target].fork();
    const t0 = Date.now();
    totals.rounds++;
    if (target === "parser") {
      const stats = runParserCampaign({ seed: round, seeds, cases: 20_000, deadline });
      totals.parserCases += stats.cases;
      totals.parserMs += Date.now() - t0;
      for (const f of stats.findings) record("parser", round, f);
    } else {
      // One world per round: each ends with its drain and the check that every table is empty.
      const stats = await runPipelineCampaign({ seed: round, seeds, messages: 20_000, deadline });
      totals.pipelineMessages += stats.messages;
      totals.pipelineHostile += stats.hostile;
      totals.pipelineMs += Date.now() - t0;
      for (const f of stats.findings) record("pipeline", round, f);
      console.log(`pipeline round ${round}: ${stats.messages} messages, peak ${JSON.stringify(stats.sizes.peak)}, drained ${Object.values(stats.sizes.drained).every((n) => n === 0) ? "to zero" : JSON.stringify(stats.sizes.drained)}`);
    }
  }
}

const rate = (n: number, ms: number) => (ms > 0 ? Math.round((n * 1000) / ms) : 0);
const findings = [...seen.values()].reduce((a, b) => a + b, 0);
console.log(
  `fuzz done in ${((Date.now() - started) / 1000).toFixed(1)} s: parser ${totals.parserCases} cases (${rate(totals.parserCases, totals.parserMs)}/s), ` +
    `pipeline ${totals.pipelineMessages} messages (${totals.pipelineHostile} hostile, ${rate(totals.pipelineMessages, totals.pipelineMs)}/s), ` +
    `${totals.rounds} rounds; heap ${Math.round(heapStart / 1e6)} → ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB; ` +
    `${findings} findings (${seen.size} distinct)${seen.size > 0 ? ` in ${args.out}` : ""}`,
);
process.exit(seen.size > 0 ? 1 : 0);

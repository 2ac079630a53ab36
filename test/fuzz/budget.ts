/**
 * How much the fuzz tests in `npm test` do, and with which seed. The defaults keep the unit run
 * to seconds; `FUZZ_SCALE=10` does ten times the cases, `FUZZ_SEED=n` replays a run (each test
 * prints its seed when it fails). `npm run fuzz` runs for minutes instead (scripts/fuzz.ts).
 */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261206) >>> 0;
const SCALE = Math.max(0.01, Number(process.env.FUZZ_SCALE ?? 1));

/** The number of cases for a test whose default is `n`. */
export function runs(n: number): number {
  return Math.max(1, Math.round(n * SCALE));
}

import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { checkParser } from "../../fuzz/parser-check.ts";
import { checkDelivery, checkDrained } from "../../fuzz/pipeline-check.ts";
import { registerAll } from "../../fuzz/replay.ts";
import { describeFindings } from "../../fuzz/report.ts";
import { repoRoot } from "../../fuzz/seeds.ts";
import { FuzzWorld } from "../../fuzz/world.ts";

// Every input a fuzzer found a crash or an invariant violation with is kept as a raw file in
// test/fixtures/fuzz (`*.bin.sip`: delivered as a binary frame, else as a text frame) and
// replayed here through the parser invariants and through the pipeline, from a client whose
// peers are registered, until every timer has run. findings.test.ts pins what each one broke.

const dir = resolve(repoRoot, "test/fixtures/fuzz");
const files = readdirSync(dir).filter((f) => f.endsWith(".sip")).sort();

function frameOf(file: string): string | Uint8Array {
  const bytes = new Uint8Array(readFileSync(resolve(dir, file)));
  return file.endsWith(".bin.sip") ? bytes : new TextDecoder().decode(bytes);
}

describe("fuzz fixtures (test/fixtures/fuzz)", () => {
  it("there are fixtures to replay", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    it(`${file}: parser invariants hold`, () => {
      expect(describeFindings(checkParser(frameOf(file)))).toEqual([]);
    });

    it(`${file}: the pipeline answers or drops it as RFC 3261 says, and leaves no state`, async () => {
      const world = new FuzzWorld(7);
      await registerAll(world);
      const before = world.errors.length;
      const delivery = await world.deliver(world.peer("client4"), frameOf(file));
      expect(describeFindings(checkDelivery(world, delivery, before))).toEqual([]);
      for (let t = 0; t < 3 * 3600_000; t += 60_000) {
        for (const d of await world.advance(60_000)) expect(describeFindings(checkDelivery(world, d, before))).toEqual([]);
      }
      world.sweep();
      expect(describeFindings(checkDrained(world))).toEqual([]);
    });
  }
});

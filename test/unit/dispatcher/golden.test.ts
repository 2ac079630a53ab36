/**
 * Kamailio's own outputs (Kamailio 5.6.3, recorded by gen-golden.sh into golden.json):
 * raw hash ids from the dispatcher.hash RPC, and whole ds_select_dst() results.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createSelectState, kamailioHash, parseDispatcherList, select } from "../../../src/modules/dispatcher/index.ts";

interface HashRow { val1: string; val2?: string; nslots: number; hashid: number; slot: number }
interface SelectRow {
  name: string; set: number; alg: number; method: string; callId: string; fromUri: string; toUri: string;
  ruri: string; authUsername?: string; pvarValue?: string; status: number; dsts: string[];
}
const golden = JSON.parse(readFileSync(new URL("golden.json", import.meta.url), "utf8")) as {
  kamailio: string; list: string; hash: HashRow[]; select: SelectRow[];
};

describe("Kamailio's dispatcher hash", () => {
  it("the golden table holds at least 40 inputs from Kamailio", () => {
    expect(golden.hash.length).toBeGreaterThanOrEqual(40);
    expect(golden.kamailio).toMatch(/kamailio 5\.\d+/);
  });

  it.each(golden.hash.map((r) => [r.val2 === undefined ? r.val1 : `${r.val1} + ${r.val2}`, r] as const))(
    "dispatcher.hash of %j equals Kamailio's id and slot",
    (_name, row) => {
      const id = kamailioHash(row.val1, row.val2);
      // kamcmd prints the id as a signed 32-bit integer
      expect(id | 0).toBe(row.hashid);
      expect(row.nslots === 0 ? 0 : id % row.nslots).toBe(row.slot);
    },
  );
});

describe("ds_select_dst picks what Kamailio picks", () => {
  const listText = readFileSync(new URL(golden.list, import.meta.url), "utf8");
  const loaded = parseDispatcherList(listText, golden.list);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.error));
  // one state for the whole run, in recording order: the round-robin rows come first
  const state = createSelectState();

  it.each(golden.select.map((r) => [r.name, r] as const))("%s", (_name, row) => {
    const selection = select(loaded.value.sets.get(row.set), row.alg, row, state, { failover: true });
    expect(row.status).toBe(200);
    expect(selection.selected && selection.destinations.map((d) => d.uri)).toEqual(row.dsts);
  });
});

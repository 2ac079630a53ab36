import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadDispatcherDbText, loadDispatcherRows, parseDispatcherList } from "../../../src/modules/dispatcher/index.ts";
import type { DispatcherList, Loaded } from "../../../src/modules/dispatcher/index.ts";
import { parseDbText, splitRow } from "../../../src/provisioning/dbtext.ts";

const fixture = (name: string): string => readFileSync(new URL(`fixtures/${name}`, import.meta.url), "utf8");

function value(result: Loaded<DispatcherList>): DispatcherList {
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return result.value;
}

const uris = (list: DispatcherList, set: number): string[] => (list.sets.get(set)?.destinations ?? []).map((d) => d.uri);

describe("dispatcher.list", () => {
  it("the seed's OpenSIPS-style list loads verbatim, with its set labels", () => {
    const list = value(parseDispatcherList(fixture("seed-opensips-dispatcher.list"), "seed.list"));
    expect([...list.sets.keys()].sort()).toEqual([1, 2]);
    expect(list.sets.get(2)?.label).toBe("proxies");
    expect(list.sets.get(1)?.label).toBe("gateways");
    // Kamailio 5.6 puts the entry read last first among equal priorities (golden.json).
    expect(uris(list, 1)).toEqual(["sip:127.0.0.1:7074", "sip:127.0.0.1:7072", "sip:127.0.0.1:7070"]);
    expect(uris(list, 2)).toEqual(["sip:127.0.0.1:5082", "sip:127.0.0.1:5080"]);
    const gw = list.sets.get(1)?.destinations[2];
    expect(gw).toMatchObject({ host: "127.0.0.1", port: 7070, flags: 0, priority: 0, state: "active", probe: false });
  });

  it("Kamailio's layout reads flags, priority, attrs and trailing comments", () => {
    const list = value(parseDispatcherList(fixture("kamailio-layout.list")));
    expect(uris(list, 2)).toEqual(["sip:127.0.0.1:5080;transport=tcp", "sip:127.0.0.1:5082"]);
    const [px1, px2] = list.sets.get(2)?.destinations ?? [];
    expect(px1?.transport).toBe("tcp");
    expect(px1?.attrs.all).toEqual({ duid: "px1", prefix: "448", strip: "2" });
    expect(px2).toMatchObject({ flags: 8, priority: 5, probe: true, state: "active" });
    expect(px2?.attrs).toMatchObject({ duid: "px2", socket: "udp:127.0.0.1:5060", pingFrom: "sip:edge@127.0.0.1" });
    // priority 5 first, then the two priority-0 entries, the later one first
    expect(uris(list, 1)).toEqual(["sip:127.0.0.1:7072", "sip:127.0.0.1:7074", "sip:127.0.0.1:7070"]);
    expect(list.sets.get(1)?.destinations[2]?.attrs).toMatchObject({ duid: "gw1", maxload: 20 });
  });

  it("flags give the state: 1 inactive, 2 trying, 4 disabled, 1+8 probing", () => {
    const list = value(parseDispatcherList("1 sip:127.0.0.1:1 1 4\n1 sip:127.0.0.1:2 2 3\n1 sip:127.0.0.1:3 4 2\n1 sip:127.0.0.1:4 9 1\n"));
    expect(list.sets.get(1)?.destinations.map((d) => d.state)).toEqual(["inactive", "trying", "disabled", "probing"]);
  });

  it("weight and rweight outside 1..100 are ignored, as Kamailio documents", () => {
    const list = value(parseDispatcherList("1 sip:127.0.0.1:1 0 0 weight=0;rweight=101\n1 sip:127.0.0.1:2 0 0 weight=100;rweight=1;cc=1\n"));
    const [second, first] = list.sets.get(1)?.destinations ?? [];
    expect(first?.attrs).toMatchObject({ weight: 0, rweight: 0, cc: false });
    expect(second?.attrs).toMatchObject({ weight: 100, rweight: 1, cc: true });
  });

  it.each([
    ["x sip:127.0.0.1:5060", 1, "setid"],
    ["1 http://127.0.0.1/", 1, "destination"],
    ["1 sip:127.0.0.1:99999", 1, "destination"],
    ["# ok\n1 sip:127.0.0.1:5060 zero", 2, "flags"],
    ["1 sip:127.0.0.1:5060\n\n2 sip:127.0.0.1:5062 0 high", 3, "priority"],
    ["1 sip:127.0.0.1:5060 0 0 a=1 b=2", 1, "attrs"],
  ])("an error names the file, line and field: %j", (text, line, field) => {
    const result = parseDispatcherList(text, "conf/dispatcher.list");
    expect(result).toMatchObject({ ok: false, error: { file: "conf/dispatcher.list", line, field } });
  });
});

describe("db_text dispatcher", () => {
  it("the seed's db_text dispatcher file loads verbatim", () => {
    const list = value(loadDispatcherDbText(fixture("seed-dbtext-dispatcher"), "dispatcher"));
    const one = list.sets.get(1)?.destinations[0];
    expect(one).toMatchObject({ uri: "sip:10.20.30.40:5060", host: "10.20.30.40", port: 5060, priority: 1, state: "active", description: "load balancer for OB" });
    expect(one?.attrs).toMatchObject({ weight: 1, all: { carrier: "", weight: "1" } });
    expect(one?.attrs.socket).toBeUndefined();
    expect(list.sets.get(2)?.destinations[0]?.description).toBe("Load balancer for IB");
  });

  it("the OpenSIPS state column maps 0/1/2 to active/inactive/probing", () => {
    const head = "id(int,auto) setid(int) destination(string) state(int)\n";
    const list = value(loadDispatcherDbText(`${head}1:1:sip\\:127.0.0.1\\:1:0\n2:1:sip\\:127.0.0.1\\:2:1\n3:1:sip\\:127.0.0.1\\:3:2\n`));
    expect(list.sets.get(1)?.destinations.map((d) => `${d.port}:${d.state}`)).toEqual(["3:probing", "2:inactive", "1:active"]);
    const bad = loadDispatcherDbText(`${head}1:1:sip\\:127.0.0.1\\:1:7\n`, "dispatcher");
    expect(bad).toMatchObject({ ok: false, error: { file: "dispatcher", line: 2, field: "state" } });
  });

  it("a bad destination in row 2 is reported on line 3 with the field name", () => {
    const text = fixture("seed-dbtext-dispatcher") + "3:1:mailto\\:x@127.0.0.1:null:0:1:1:'':''\n";
    expect(loadDispatcherDbText(text, "db/dispatcher")).toMatchObject({ ok: false, error: { file: "db/dispatcher", line: 4, field: "destination" } });
  });
});

describe("D1 dispatcher rows", () => {
  it("Kamailio's columns load, as in the seed's INSERT", () => {
    const list = value(loadDispatcherRows([{ id: 1, setid: 1, destination: "sip:127.0.0.1:5060", flags: 0, priority: 12, attrs: "rweight=50;weight=50;cc=1;", description: "" }]));
    const dst = list.sets.get(1)?.destinations[0];
    expect(dst).toMatchObject({ priority: 12, attrs: { rweight: 50, weight: 50, cc: true } });
    expect(dst?.description).toBeUndefined();
  });

  it("a row error names the row as the line and the column as the field", () => {
    const rows = [
      { setid: 1, destination: "sip:127.0.0.1:5060" },
      { setid: 1, destination: "sip:127.0.0.1:5062", flags: "x" },
    ];
    expect(loadDispatcherRows(rows, "D1 dispatcher")).toMatchObject({ ok: false, error: { file: "D1 dispatcher", line: 2, field: "flags" } });
  });
});

describe("db_text reader", () => {
  it("splits at unescaped colons and resolves \\:, \\\\ and \\n", () => {
    expect(splitRow("a\\:b:c\\\\:d\\ne:")).toEqual([
      { value: "a:b", quoted: false },
      { value: "c\\", quoted: false },
      { value: "d\ne", quoted: false },
      { value: "", quoted: false },
    ]);
  });

  it("types values by the header: int, double, str; empty is NULL only where allowed", () => {
    const table = parseDbText("username(str) q(double,null) expires(int,null) domain(str)\nalice::3600:\nbob:0.5::x\n", "location");
    if (!table.ok) throw new Error(table.error.reason);
    expect(table.value.rows.map((r) => r.values)).toEqual([
      { username: "alice", q: null, expires: 3600, domain: "" },
      { username: "bob", q: 0.5, expires: null, domain: "x" },
    ]);
    expect(table.value.columns[1]).toEqual({ name: "q", type: "double", nullable: true, auto: false });
  });

  it("reads the seed's version table", () => {
    const table = parseDbText("table_name(str) table_version(int)\nsubscriber:3\nlocation:6\naliases:6\n", "version");
    expect(table.ok && table.value.rows.map((r) => r.values)).toEqual([
      { table_name: "subscriber", table_version: 3 },
      { table_name: "location", table_version: 6 },
      { table_name: "aliases", table_version: 6 },
    ]);
  });

  it.each([
    ["username(str) bogus\nx:y\n", 1, "bogus"],
    ["username(str) n(int)\nalice:many\n", 2, "n"],
    ["username(str) n(int)\nalice\n", 2, "row"],
    ["username(str) n(int)\nalice:\n", 2, "n"],
  ])("reports errors with line and field: %j", (text, line, field) => {
    expect(parseDbText(text, "t")).toMatchObject({ ok: false, error: { file: "t", line, field } });
  });
});

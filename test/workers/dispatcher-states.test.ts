import initSql from "../../migrations/0001_init.sql?raw";
import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { applyMigrations } from "../../src/provisioning/migrate.ts";

// A restart of the Dispatcher object (a deploy, an eviction) must not make a dead gateway
// "active" again until the next probe interval: marked states are kept, written on change only.

const GW = ["sip:127.0.0.20:5060", "sip:127.0.0.21:5060", "sip:127.0.0.22:5060"];

beforeAll(async () => {
  await applyMigrations(env.DB, [{ name: "0001_init.sql", sql: initSql }]);
  await env.DB.prepare("DELETE FROM dispatcher").run();
  for (const uri of GW) await env.DB.prepare("INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES (1, ?, 0, 0, '', '')").bind(uri).run();
});

const dispatcher = () => env.DISPATCHER.get(env.DISPATCHER.idFromName("states-test"));
const states = async () => Object.fromEntries((await dispatcher().status()).map((d) => [d.uri, d.flags]));

describe("destination states across a restart of the Dispatcher object", () => {
  it("a destination marked inactive (ds_mark_dst \"ip\") is still inactive and probing after an eviction; the others stay active", async () => {
    expect(await dispatcher().markDst(1, GW[1]!, "ip")).toBe(true);
    expect(await states()).toEqual({ [GW[0]!]: "AX", [GW[1]!]: "IP", [GW[2]!]: "AX" });
    await evictDurableObject(dispatcher());
    expect(await states()).toEqual({ [GW[0]!]: "AX", [GW[1]!]: "IP", [GW[2]!]: "AX" });
    // The snapshot shards select from carries the kept state too.
    const snap = await dispatcher().snapshot();
    expect(snap.list?.sets.get(1)?.destinations.map((d) => d.state)).toEqual(["active", "probing", "active"]);
    // A shard holding that version gets the version alone (the list is not copied again).
    expect(await dispatcher().snapshot(snap.version)).toEqual({ version: snap.version });
  });

  it("only destinations that differ from the list are stored, and marking one active again removes the record", async () => {
    expect(await dispatcher().markDst(1, GW[2]!, "d")).toBe(true);
    const kept = await runInDurableObject(dispatcher(), async (_o, state) => state.storage.get("dispatcher:kept-states"));
    expect(kept).toEqual({ [`1 ${GW[1]}`]: { state: "probing", probe: true }, [`1 ${GW[2]}`]: { state: "disabled", probe: false } });
    await dispatcher().markDst(1, GW[1]!, "a");
    await dispatcher().markDst(1, GW[2]!, "a");
    await evictDurableObject(dispatcher());
    expect(await states()).toEqual({ [GW[0]!]: "AX", [GW[1]!]: "AX", [GW[2]!]: "AX" });
    expect(await runInDurableObject(dispatcher(), async (_o, state) => state.storage.get("dispatcher:kept-states"))).toBeUndefined();
  });

  it("dispatcher.reload starts again from the list's states, as documented, and forgets the kept ones", async () => {
    await dispatcher().markDst(1, GW[0]!, "i");
    expect(await dispatcher().reload()).toEqual({ sets: 1, destinations: 3 });
    await evictDurableObject(dispatcher());
    expect((await states())[GW[0]!]).toBe("AX");
  });

  it("a shard that asked with an old version gets the list again after a change, even across a restart", async () => {
    const before = await dispatcher().snapshot();
    expect(await dispatcher().markDst(1, GW[0]!, "i")).toBe(true);
    const changed = await dispatcher().snapshot(before.version);
    expect(changed.version).not.toBe(before.version);
    const stateOf = (list: typeof changed.list) => list?.sets.get(1)?.destinations.find((d) => d.uri === GW[0])?.state;
    expect(stateOf(changed.list)).toBe("inactive");
    // A restarted object counts from the clock, so it never answers an old version with "unchanged".
    expect((await states())[GW[0]!]).toBe("IX"); // (and the kept state's write has gone out)
    await evictDurableObject(dispatcher());
    const restarted = await dispatcher().snapshot(changed.version);
    expect(stateOf(restarted.list)).toBe("inactive");
    await dispatcher().markDst(1, GW[0]!, "a");
  });
});

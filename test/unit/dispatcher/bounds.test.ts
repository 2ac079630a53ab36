import { describe, expect, it } from "vitest";
import { CallLoad } from "../../../src/modules/dispatcher/index.ts";
import { DispatcherClient, type DispatcherSource } from "../../../src/modules/dispatcher/client.ts";
import { CALL_LOAD_MAX_CALLS } from "../../../src/modules/dispatcher/call-load.ts";

// Algorithm 10's call-load tables grow with calls; a client whose BYEs never come (or a flood of
// authenticated INVITEs) must not grow them without bound nor make each call cost more.

describe("call-load tables are bounded", () => {
  it("the Dispatcher object's table holds at most maxCalls: the N+1th call pushes out the oldest, with its load", () => {
    const load = new CallLoad({ maxCalls: 3 });
    for (const [i, id] of ["a", "b", "c"].entries()) load.add(id, i === 2 ? "gw2" : "gw1", 0);
    expect([load.active("gw1"), load.active("gw2")]).toEqual([2, 1]);
    load.add("d", "gw2", 0);
    expect(load.size).toBe(3);
    expect(load.evicted).toBe(1);
    expect([load.active("gw1"), load.active("gw2")]).toEqual([1, 2]);
    expect(load.release("a")).toBe(false);
    expect(load.release("b")).toBe(true);
  });

  it("ended calls are swept as new ones arrive (at most once a second), not only on a BYE", () => {
    const load = new CallLoad({ initExpire: 60 });
    load.add("old", "gw1", 0);
    load.add("new", "gw1", 61_000);
    expect(load.size).toBe(1);
    expect(load.active("gw1")).toBe(1);
  });

  it("a shard remembers at most as many calls as the Dispatcher object holds, and forgets them after ds_hash_expire", async () => {
    let now = 0;
    const events: string[] = [];
    const source: DispatcherSource = {
      snapshot: async () => ({ version: 1, list: { sets: new Map() } }),
      markDst: async () => true,
      selectByLoad: async (setId, input) => ({ selected: true, setId, alg: 10, destinations: [], parallel: false, loadCallId: input.callId, position: 0 }),
      loadEvent: async (callId, event) => void events.push(`${callId} ${event}`),
    };
    const client = new DispatcherClient(source, 1000, () => now);
    const input = (callId: string) => ({ callId, method: "INVITE", from: "", to: "", ruri: "", authUser: undefined, template: undefined });
    for (let i = 0; i <= CALL_LOAD_MAX_CALLS; i++) await client.selectByLoad(1, input(`c${i}`) as never, false);
    expect(client.loadCallCount).toBe(CALL_LOAD_MAX_CALLS);
    client.loadEvent("c0", "release"); // the oldest went: nothing to tell
    client.loadEvent(`c${CALL_LOAD_MAX_CALLS}`, "confirm");
    now = 7200_000;
    client.loadEvent("c1", "release"); // expired
    await Promise.resolve();
    expect(events).toEqual([`c${CALL_LOAD_MAX_CALLS} confirm`]);
  });
});

import { describe, expect, it } from "vitest";
import { Alarms } from "../../durable-objects/alarms.ts";

describe("Alarms: one storage alarm for several owners", () => {
  function storage(stored: number | null = null) {
    const set: number[] = [];
    return { set, storage: { setAlarm: async (at: number) => void set.push(at), getAlarm: async () => stored } as unknown as DurableObjectStorage };
  }

  it("sets the earliest wanted time, never in the past, and does not set it again for a later want", async () => {
    const { set, storage: s } = storage();
    const alarms = new Alarms(s);
    await alarms.want("a", 10_000, 1000);
    await alarms.want("b", 20_000, 1000);
    await alarms.want("c", 500, 1000); // overdue: at least 250 ms ahead, so an alarm cannot spin
    expect(set).toEqual([10_000, 1250]);
  });

  it("leaves an overdue alarm that has not run yet where it is: moving it later would cancel the due run", async () => {
    const { set, storage: s } = storage();
    const alarms = new Alarms(s);
    await alarms.want("keepalive", 10_000, 1000);
    // The thread was busy past 10 s: a new socket's keep-alive deadline must not put the sweep off.
    await alarms.want("keepalive", 41_000, 11_000);
    await alarms.want("transactions", 12_000, 11_500);
    expect(set).toEqual([10_000]);
    // The run came: the owners set what they want next.
    alarms.fired();
    await alarms.want("keepalive", 41_000, 12_000);
    expect(set).toEqual([10_000, 41_000]);
  });

  it("knows the alarm an earlier incarnation left (load) and only ever moves it earlier", async () => {
    const { set, storage: s } = storage(5000);
    const alarms = new Alarms(s);
    await alarms.load();
    await alarms.want("keepalive", 31_000, 1000);
    expect(set).toEqual([]);
    await alarms.want("transactions", 3000, 1000);
    expect(set).toEqual([3000]);
  });
});

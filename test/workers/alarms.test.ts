import { describe, expect, it } from "vitest";
import { Alarms } from "../../durable-objects/alarms.ts";

describe("Alarms: one storage alarm for several owners", () => {
  function storage() {
    const set: number[] = [];
    return { set, storage: { setAlarm: async (at: number) => void set.push(at) } as unknown as DurableObjectStorage };
  }

  it("sets the earliest wanted time, never in the past, and does not set it again for a later want", async () => {
    const { set, storage: s } = storage();
    const alarms = new Alarms(s);
    await alarms.want("a", 10_000, 1000);
    await alarms.want("b", 20_000, 1000);
    await alarms.want("c", 500, 1000); // overdue: at least 250 ms ahead, so an alarm cannot spin
    expect(set).toEqual([10_000, 1250]);
  });
});

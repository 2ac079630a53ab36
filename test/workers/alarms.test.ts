import { describe, expect, it } from "vitest";
import { Alarms } from "../../durable-objects/alarms.ts";

describe("Alarms: one storage alarm for several owners", () => {
  function storage(left: number | null = null) {
    const set: number[] = [];
    return { set, storage: { setAlarm: async (at: number) => void set.push(at), getAlarm: async () => left } as unknown as DurableObjectStorage };
  }

  it("sets the earliest wanted time, never in the past, and does not set it again for a later want", async () => {
    const { set, storage: s } = storage();
    const alarms = new Alarms(s);
    await alarms.want("a", 10_000, 1000);
    await alarms.want("b", 20_000, 1000);
    await alarms.want("c", 500, 1000); // overdue: at least 250 ms ahead, so an alarm cannot spin
    expect(set).toEqual([10_000, 1250]);
  });

  it("a new instance does not postpone the alarm an earlier one left (due or not), and sets an earlier one", async () => {
    const due = storage(900); // overdue at 1000: it has not run yet
    const alarms = new Alarms(due.storage);
    await alarms.want("keepalive", 31_000, 1000);
    expect(due.set).toEqual([]);
    const later = storage(50_000);
    const again = new Alarms(later.storage);
    await again.want("keepalive", 31_000, 1000);
    expect(later.set).toEqual([31_000]);
  });

  it("after its alarm ran, an instance sets the next one whatever it found before", async () => {
    const { set, storage: s } = storage(900);
    const alarms = new Alarms(s);
    await alarms.want("dialogs", 5000, 1000);
    alarms.fired();
    await alarms.want("keepalive", 31_000, 1200);
    expect(set).toEqual([31_000]);
  });
});

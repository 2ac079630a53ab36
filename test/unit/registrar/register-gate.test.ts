import { describe, expect, it } from "vitest";
import { LIFO_AFTER_MS, RegisterGate } from "../../../durable-objects/register-gate.ts";

/** A task that runs until released, recording when it started. */
function task(log: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return {
    release: () => release(),
    run: async () => {
      log.push(name);
      await done;
    },
  };
}

const open = () => true;

describe("RegisterGate: a shard's REGISTERs, a few at a time", () => {
  it("runs at most `limit` at once; answers to a challenge start in arrival order as slots free", async () => {
    const gate = new RegisterGate(2);
    const log: string[] = [];
    const tasks = ["a", "b", "c", "d"].map((n) => task(log, n));
    const runs = tasks.map((t) => gate.run(true, open, t.run));
    await Promise.resolve();
    expect(log).toEqual(["a", "b"]);
    expect(gate.waiting).toBe(2);
    tasks[1]!.release();
    await runs[1];
    await Promise.resolve();
    expect(log).toEqual(["a", "b", "c"]);
    for (const t of tasks) t.release();
    expect(await Promise.all(runs)).toEqual([true, true, true, true]);
    expect(log).toEqual(["a", "b", "c", "d"]);
    expect(gate.waiting).toBe(0);
  });

  it("starts first REGISTERs in arrival order while the oldest has waited less than LIFO_AFTER_MS, the newest first after", async () => {
    let now = 0;
    const gate = new RegisterGate(1, () => now);
    const log: string[] = [];
    const tasks = ["a", "b", "c", "d", "e"].map((n) => task(log, n));
    const runs = tasks.map((t) => gate.run(false, open, t.run));
    tasks[0]!.release();
    await runs[0];
    expect(log).toEqual(["a", "b"]);
    // The backlog got old: the oldest are the likeliest to be answered after their client gave up.
    now += LIFO_AFTER_MS;
    for (const t of tasks) t.release();
    await Promise.all(runs);
    expect(log).toEqual(["a", "b", "e", "d", "c"]);
  });

  it("drops a waiting REGISTER whose socket closed, without running it, and gives its slot to the next", async () => {
    const gate = new RegisterGate(1);
    const log: string[] = [];
    const first = task(log, "first");
    const gone = task(log, "gone");
    const next = task(log, "next");
    let socketOpen = true;
    const runs = [gate.run(true, open, first.run), gate.run(true, () => socketOpen, gone.run), gate.run(true, open, next.run)];
    socketOpen = false; // the client gave up while its REGISTER waited
    first.release();
    next.release();
    expect(await Promise.all(runs)).toEqual([true, false, true]);
    expect(log).toEqual(["first", "next"]);
    expect(gate.dropped).toBe(1);
  });

  it("lets REGISTERs that answer a challenge go before new clients' first ones", async () => {
    const gate = new RegisterGate(1);
    const log: string[] = [];
    const busy = task(log, "busy");
    const fresh = task(log, "fresh");
    const answer = task(log, "answer");
    const runs = [gate.run(false, open, busy.run), gate.run(false, open, fresh.run), gate.run(true, open, answer.run)];
    busy.release();
    answer.release();
    fresh.release();
    await Promise.all(runs);
    expect(log).toEqual(["busy", "answer", "fresh"]);
  });

  it("frees the slot of a task that throws", async () => {
    const gate = new RegisterGate(1);
    const failing = gate.run(false, open, () => Promise.reject(new Error("D1 down")));
    const after = gate.run(false, open, async () => undefined);
    await expect(failing).rejects.toThrow("D1 down");
    expect(await after).toBe(true);
  });
});

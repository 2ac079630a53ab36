import { describe, expect, it } from "vitest";
import { CallCounter } from "../../../src/modules/calllimit/index.ts";

describe("CallCounter: a user's concurrent calls (MAX_CALLS_PER_USER)", () => {
  it("counts calls up to the limit and refuses the next; an ended call frees its place", () => {
    const c = new CallCounter();
    expect(c.start("a", 2, 1000, 0)).toEqual({ ok: true, active: 1 });
    expect(c.start("b", 2, 1000, 0)).toEqual({ ok: true, active: 2 });
    expect(c.start("c", 2, 1000, 0)).toEqual({ ok: false, active: 2, limit: 2 });
    // A retransmitted INVITE of a counted call is the same call.
    expect(c.start("a", 2, 1000, 0)).toEqual({ ok: true, active: 2 });
    expect(c.end("a")).toBe(true);
    expect(c.end("a")).toBe(false);
    expect(c.start("c", 2, 1000, 0)).toEqual({ ok: true, active: 2 });
    expect(c.size).toBe(2);
  });

  it("a call whose end never came stops counting at its expiry", () => {
    const c = new CallCounter();
    c.start("lost", 1, 100, 0);
    expect(c.start("next", 1, 1000, 50)).toMatchObject({ ok: false });
    const gone: string[] = [];
    expect(c.start("next", 1, 1000, 100, (id) => gone.push(id))).toEqual({ ok: true, active: 1 });
    expect(gone).toEqual(["lost"]);
  });
});

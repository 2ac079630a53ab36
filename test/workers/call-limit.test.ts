import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { locationOf } from "../../durable-objects/location.ts";

describe("MAX_CALLS_PER_USER: the caller's Location object counts its calls", () => {
  it("refuses a call beyond the limit, frees a place when one ends, and keeps counting across an eviction", async () => {
    const aor = "caller-evicted@localhost";
    const location = () => locationOf(env.LOCATION, aor);
    expect(await location().callStart("c1", 2, 60_000)).toEqual({ ok: true, active: 1 });
    expect(await location().callStart("c2", 2, 60_000)).toEqual({ ok: true, active: 2 });
    await evictDurableObject(location());
    expect(await location().callStart("c3", 2, 60_000)).toEqual({ ok: false, active: 2, limit: 2 });
    expect(await location().callEnd("c1")).toBe(true);
    expect(await location().callEnd("c1")).toBe(false);
    expect(await location().callStart("c3", 2, 60_000)).toEqual({ ok: true, active: 2 });
    await evictDurableObject(location());
    expect(await location().callsActive()).toBe(2);
  });

  it("a call whose end never comes stops counting after its timeout", async () => {
    const location = locationOf(env.LOCATION, "caller-lost@localhost");
    expect(await location.callStart("lost", 1, 50)).toMatchObject({ ok: true });
    expect(await location.callStart("next", 1, 60_000)).toMatchObject({ ok: false });
    await new Promise((r) => setTimeout(r, 60));
    expect(await location.callStart("next", 1, 60_000)).toEqual({ ok: true, active: 1 });
  });
});

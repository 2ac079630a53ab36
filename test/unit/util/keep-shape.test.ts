import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config.ts";
import { createLogger } from "../../../src/log.ts";
import { defaultScript } from "../../../src/routes/default.ts";
import { processMessage } from "../../../src/routing/pipeline.ts";
import { RECENT_KEPT, keepRecent, keepShape } from "../../../src/util/keep-shape.ts";
import { FakeTransport } from "../../helpers/fake-transport.ts";
import { readResponse, sipRequest } from "../../helpers/sip-text.ts";

setFlagsFromString("--expose-gc");
const gcNow = runInNewContext("gc") as () => void;
/** A full GC in a later task: a WeakRef keeps its target alive until the current job ends. */
async function gc(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  gcNow();
}

const config = parseConfig({ SIP_DOMAIN: "localhost", SIP_ALIASES: "127.0.0.1" });
const log = createLogger("error", () => undefined);

/** One OPTIONS to the proxy through the real pipeline; the transport is referenced by its context only. */
async function options(): Promise<WeakRef<FakeTransport>> {
  const transport = new FakeTransport();
  await processMessage(defaultScript, { data: sipRequest(), source: { transport: "ws", ip: "127.0.0.5", flow: "0.f1" }, transport, config, log });
  expect(readResponse(transport.sent[0]!).status).toBe(200);
  return new WeakRef(transport);
}

class Scan {
  constructor(readonly n: number) {}
}
class Walk {}

describe("keepShape / keepRecent (live instances so that V8 keeps their maps)", () => {
  it("keeps the latest instance of each class, and only the latest", async () => {
    const first = (() => { const s = new Scan(1); keepShape(s); return new WeakRef(s); })();
    const second = (() => { const s = new Scan(2); keepShape(s); return new WeakRef(s); })();
    const walk = (() => { const w = new Walk(); keepShape(w); return new WeakRef(w); })();
    await gc();
    expect(first.deref()).toBeUndefined();
    expect(second.deref()?.n).toBe(2);
    expect(walk.deref()).toBeInstanceOf(Walk);
  });

  it("keeps the last RECENT_KEPT objects kept, whatever their class, and releases older ones", async () => {
    const refs = Array.from({ length: RECENT_KEPT + 4 }, (_, i) => {
      const o = i % 2 === 0 ? new Scan(i) : { i };
      keepRecent(o);
      return new WeakRef(o);
    });
    await gc();
    expect(refs.slice(0, 4).map((r) => r.deref())).toEqual([undefined, undefined, undefined, undefined]);
    expect(refs.slice(4).every((r) => r.deref() !== undefined)).toBe(true);
  });

  it("holds a request's context after the pipeline answered it, until RECENT_KEPT later messages", async () => {
    const held = await options();
    await gc();
    // The context (and through it the transport) outlives the message: its maps stay alive.
    expect(held.deref()).toBeInstanceOf(FakeTransport);
    for (let i = 0; i < RECENT_KEPT - 1; i++) await options();
    await gc();
    expect(held.deref()).toBeInstanceOf(FakeTransport);
    await options();
    await gc();
    // Bounded: a message's context goes once RECENT_KEPT later ones were handled.
    expect(held.deref()).toBeUndefined();
  });
});

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config.ts";
import { createRegistrar, type RegisterInput } from "../../../src/modules/registrar/index.ts";
import { LocationClient, type LocationStub } from "../../../src/modules/registrar/location-client.ts";
import { MemoryLocation } from "../../fuzz/services.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const T0 = Date.UTC(2026, 11, 6, 22, 0, 0);
const AORS = 200;
const PAD = 64 * 1024;

function input(i: number, cseq: number, from?: string): RegisterInput {
  const callId = `call-${i}`;
  const userAgent = "softphone/1.0";
  // A refresh as the route builds it: Call-ID and User-Agent are slices of the message's text.
  const text = from === undefined ? undefined : `${from}\r\nCall-ID: ${callId}\r\nUser-Agent: ${userAgent}\r\n`;
  const slice = (s: string) => (text === undefined ? s : text.slice(text.indexOf(s), text.indexOf(s) + s.length));
  return {
    aor: `user${i}@localhost`,
    callId: slice(callId),
    cseq,
    contacts: [{ uri: `sip:user${i}@h${i}.invalid;transport=ws`, expires: 600 }],
    received: "sip:127.0.0.1;transport=ws",
    flowToken: `0.f${i}`,
    userAgent: slice(userAgent),
  };
}

/** A LocationClient over an in-memory Location object, counting the saves that reach it. */
function cachingClient(): { client: LocationClient; remote: { count: number } } {
  const registrar = createRegistrar(parseConfig({ SIP_DOMAIN: "localhost", SIP_ALIASES: "" }).registrar);
  const memory = new MemoryLocation(registrar, () => T0);
  const remote = { count: 0 };
  const stub: LocationStub = {
    save: async (i) => {
      remote.count++;
      const r = await memory.save(i);
      // The stored set, as the Location object returns it (MemoryLocation keeps it private).
      return r.ok ? { ...r, bindings: memory["aors"].get(i.aor) ?? [] } : r;
    },
    lookup: async () => ({ found: false, reason: "not-found" }), // not used: refreshes only
    removeFlow: async () => undefined,
  };
  return { client: new LocationClient(() => stub, registrar, { clock: () => T0 }), remote };
}

describe("LocationClient cache", () => {
  it("answers refreshes locally without keeping the REGISTERs they were parsed from", async () => {
    const { client, remote } = cachingClient();
    for (let i = 0; i < AORS; i++) expect((await client.save(input(i, 1))).ok).toBe(true);
    expect(remote.count).toBe(AORS);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < AORS; i++) expect((await client.save(input(i, 2, `${i}${"x".repeat(PAD)}`))).ok).toBe(true);
    gc();
    const retained = process.memoryUsage().heapUsed - before;
    expect(remote.count).toBe(AORS); // every refresh was answered from the cache
    // The refreshes' texts are AORS × 64 KB ≈ 13 MB; the cached bindings a small fraction of 1 MB.
    expect(retained).toBeLessThan(2 * 1024 * 1024);
  });

  it("forget drops the cached copy and says whether there was one; the next refresh goes to the Location object", async () => {
    const { client, remote } = cachingClient();
    await client.save(input(1, 1));
    expect(client.forget("user1@localhost")).toBe(true);
    expect(client.forget("user1@localhost")).toBe(false);
    expect(client.forget("user2@localhost")).toBe(false);
    await client.save(input(1, 2));
    expect(remote.count).toBe(2);
  });
});

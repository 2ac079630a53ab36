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
      const version = memory["version"];
      const r = await memory.save(i);
      // The stored set and whether it changed, as the Location object returns them (MemoryLocation keeps them private).
      // The Location object hands a copy with a refresh only (durable-objects/location-copies.ts).
      const changed = memory["version"] !== version;
      return r.ok ? { ...r, bindings: memory["aors"].get(i.aor) ?? [], changed, copy: !changed } : r;
    },
    lookup: async () => ({ found: false, reason: "not-found" }), // not used: refreshes only
    removeFlow: async () => undefined,
  };
  return { client: new LocationClient(() => stub, registrar, { clock: () => T0 }), remote };
}

describe("LocationClient cache", () => {
  it("answers refreshes locally without keeping the REGISTERs they were parsed from", async () => {
    const { client, remote } = cachingClient();
    // The registrations change the sets (no copy); the first refreshes bring one each.
    for (let i = 0; i < AORS; i++) expect((await client.save(input(i, 1))).ok).toBe(true);
    for (let i = 0; i < AORS; i++) expect((await client.save(input(i, 2))).ok).toBe(true);
    expect(remote.count).toBe(2 * AORS);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < AORS; i++) expect((await client.save(input(i, 3, `${i}${"x".repeat(PAD)}`))).ok).toBe(true);
    gc();
    const retained = process.memoryUsage().heapUsed - before;
    expect(remote.count).toBe(2 * AORS); // every later refresh was answered from the cache
    // The refreshes' texts are AORS × 64 KB ≈ 13 MB; the cached bindings a small fraction of 1 MB.
    expect(retained).toBeLessThan(2 * 1024 * 1024);
  });

  it("forget drops the cached copy and says whether there was one; the next refresh goes to the Location object", async () => {
    const { client, remote } = cachingClient();
    await client.save(input(1, 1));
    await client.save(input(1, 2));
    expect(client.forget("user1@localhost")).toBe(true);
    expect(client.forget("user1@localhost")).toBe(false);
    expect(client.forget("user2@localhost")).toBe(false);
    await client.save(input(1, 3));
    expect(remote.count).toBe(3);
  });

  it("keeps no copy after a REGISTER that changed the set (nobody would tell it of the next change); the next refresh brings one", async () => {
    const { client, remote } = cachingClient();
    await client.save(input(1, 1)); // a new binding: a change
    expect(client.forget("user1@localhost")).toBe(false);
    await client.save(input(1, 2)); // goes to the Location object, which hands a copy
    await client.save(input(1, 3)); // answered here
    expect(remote.count).toBe(2);
    // A new contact on the same AOR changes the set again: the copy goes.
    await client.save({ ...input(1, 4), contacts: [{ uri: "sip:user1@other.invalid;transport=ws", expires: 600 }], flowToken: "0.g1" });
    await client.save(input(1, 5));
    expect(remote.count).toBe(4);
  });

  it("a slower reply to an older REGISTER does not bring back a copy a change replaced", async () => {
    const registrar = createRegistrar(parseConfig({ SIP_DOMAIN: "localhost", SIP_ALIASES: "" }).registrar);
    const replies: ((r: Awaited<ReturnType<LocationStub["save"]>>) => void)[] = [];
    const stub: LocationStub = {
      save: () => new Promise((resolve) => replies.push(resolve)),
      lookup: async () => ({ found: false, reason: "not-found" }),
      removeFlow: async () => undefined,
    };
    let count = 0;
    const counting: LocationStub = { ...stub, save: (i, c) => (count++, stub.save(i, c)) };
    const client = new LocationClient(() => counting, registrar, { clock: () => T0 });
    const refresh = client.save(input(1, 2));
    const change = client.save({ ...input(1, 3), flowToken: "0.g1" });
    const binding = { aor: "user1@localhost", contact: "sip:user1@h1.invalid;transport=ws", expires: T0 + 600_000, q: -1, callId: "call-1", cseq: 3, lastModified: T0, flowToken: "0.g1" };
    const reply = { ok: true as const, status: 200 as const, reason: "OK" as const, contacts: [], headers: [] };
    replies[1]!({ ...reply, version: 2, bindings: [binding], changed: true, copy: false });
    await change;
    replies[0]!({ ...reply, version: 1, bindings: [{ ...binding, flowToken: "0.f1", cseq: 2 }], changed: false, copy: true });
    await refresh;
    const third = client.save(input(1, 4));
    expect(count).toBe(3); // not answered from the older copy
    replies[2]!({ ...reply, version: 2, bindings: [binding], changed: false, copy: true });
    await third;
  });
});

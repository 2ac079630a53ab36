import { describe, expect, it } from "vitest";
import { DispatcherClient, RECHECK_AFTER_MS, type DispatcherSource } from "../../../src/modules/dispatcher/client.ts";
import { parseDispatcherList, select, type DispatcherList, type SelectInput, type Selection } from "../../../src/modules/dispatcher/index.ts";
import { DispatcherScript } from "../../../src/modules/dispatcher/script.ts";
import type { RequestContext } from "../../../src/routing/context.ts";
import type { SipRequest } from "../../../src/sip/message.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { sipRequest } from "../../helpers/sip-text.ts";

// A shard's cached copy of the Dispatcher object's sets (DESIGN.md §3: a gateway call selects
// from a cached, versioned snapshot and does not stop at the Dispatcher object).

const MAX_AGE = 1000;

function list(text = "1 sip:127.0.0.1:7070\n1 sip:127.0.0.1:7072\n1 sip:127.0.0.1:7074"): DispatcherList {
  const loaded = parseDispatcherList(text);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.error));
  return loaded.value;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

type Snap = { version: number; list?: DispatcherList };

/** A Dispatcher object whose answers the test hands out one by one. */
function fakeSource() {
  const snapshots: Deferred<Snap>[] = [];
  /** The version each snapshot request said the shard holds. */
  const since: (number | undefined)[] = [];
  const marks: [number, string, string][] = [];
  const loadEvents: [string, string, string | undefined][] = [];
  let failLoadEvents = false;
  const source: DispatcherSource = {
    snapshot: (held) => {
      since.push(held);
      const d = deferred<Snap>();
      snapshots.push(d);
      return d.promise;
    },
    markDst: async (setId, uri, state) => {
      marks.push([setId, uri, state]);
      return true;
    },
    selectByLoad: async (setId: number, input: SelectInput): Promise<Selection> => ({
      selected: true,
      setId,
      alg: 10,
      destinations: [],
      parallel: false,
      loadCallId: input.callId,
      position: 0,
    }),
    loadEvent: async (callId, event, duid) => {
      loadEvents.push([callId, event, duid]);
      if (failLoadEvents) throw new Error("Dispatcher object unreachable");
    },
  };
  return { source, snapshots, since, marks, loadEvents, failLoadEventsFromNowOn: () => (failLoadEvents = true) };
}

function clock(start = 10_000) {
  const c = { now: start, tick: () => c.now };
  return c;
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A client with its first snapshot (version 1) loaded. */
async function loaded() {
  const fake = fakeSource();
  const time = clock();
  const client = new DispatcherClient(fake.source, MAX_AGE, time.tick);
  const v1 = list();
  const first = client.list();
  fake.snapshots[0]?.resolve({ version: 1, list: v1 });
  expect(await first).toBe(v1);
  return { fake, time, client, v1 };
}

describe("DispatcherClient: a shard's copy of the destination sets", () => {
  it("the first selection waits for the Dispatcher object's snapshot; later ones within maxAge ask nothing", async () => {
    const { fake, time, client, v1 } = await loaded();
    time.now += MAX_AGE;
    expect(await client.list()).toBe(v1);
    expect(fake.snapshots).toHaveLength(1);
  });

  it("a refresh says which version the shard holds; an answer without a list keeps the copy and makes it fresh", async () => {
    const { fake, time, client, v1 } = await loaded();
    expect(fake.since).toEqual([undefined]);
    time.now += 2 * MAX_AGE + 1;
    const waiting = client.list();
    expect(fake.since).toEqual([undefined, 1]);
    fake.snapshots[1]?.resolve({ version: 1 });
    expect(await waiting).toBe(v1);
    time.now += MAX_AGE;
    expect(await client.list()).toBe(v1);
    expect(fake.snapshots).toHaveLength(2); // fresh again: nothing asked
  });

  it("concurrent first selections share one snapshot request", async () => {
    const fake = fakeSource();
    const client = new DispatcherClient(fake.source, MAX_AGE, clock().tick);
    const pending = [client.list(), client.list(), client.list()];
    expect(fake.snapshots).toHaveLength(1);
    const v1 = list();
    fake.snapshots[0]?.resolve({ version: 1, list: v1 });
    for (const l of await Promise.all(pending)) expect(l).toBe(v1);
  });

  it("a copy older than maxAge serves the selection at hand while one refresh runs; the next selection sees the new version", async () => {
    const { fake, time, client, v1 } = await loaded();
    time.now += MAX_AGE + 1;
    expect(await client.list()).toBe(v1); // answered without waiting for the refresh
    expect(await client.list()).toBe(v1); // the refresh in flight is not asked twice
    expect(fake.snapshots).toHaveLength(2);
    const v2 = list("1 sip:127.0.0.1:7070\n1 sip:127.0.0.1:7074");
    fake.snapshots[1]?.resolve({ version: 2, list: v2 });
    await flush();
    expect(await client.list()).toBe(v2);
  });

  it("a refresh that finds the same version keeps the copy and restarts its age", async () => {
    const { fake, time, client, v1 } = await loaded();
    time.now += MAX_AGE + 1;
    await client.list();
    fake.snapshots[1]?.resolve({ version: 1, list: list() });
    await flush();
    time.now += MAX_AGE - 1;
    expect(await client.list()).toBe(v1);
    expect(fake.snapshots).toHaveLength(2);
  });

  it("a failed background refresh keeps the copy and is tried again on the next selection", async () => {
    const { fake, time, client, v1 } = await loaded();
    time.now += MAX_AGE + 1;
    expect(await client.list()).toBe(v1);
    fake.snapshots[1]?.reject(new Error("Dispatcher object unreachable"));
    await flush();
    expect(await client.list()).toBe(v1);
    expect(fake.snapshots).toHaveLength(3);
  });

  it("ds_mark_dst is sent to the Dispatcher object, and the next selection waits for a fresh copy", async () => {
    const { fake, client } = await loaded();
    expect(await client.markDst(1, "sip:127.0.0.1:7072", "ip")).toBe(true);
    expect(fake.marks).toEqual([[1, "sip:127.0.0.1:7072", "ip"]]);
    const next = client.list();
    expect(fake.snapshots).toHaveLength(2);
    const v2 = list("1 sip:127.0.0.1:7070\n1 sip:127.0.0.1:7074");
    fake.snapshots[1]?.resolve({ version: 2, list: v2 });
    expect(await next).toBe(v2);
  });

  it("a refresh already in flight when ds_mark_dst is called does not bring back the copy from before the mark", async () => {
    const { fake, time, client, v1 } = await loaded();
    time.now += MAX_AGE + 1;
    await client.list(); // starts a background refresh: the Dispatcher answers with the old state
    await client.markDst(1, "sip:127.0.0.1:7072", "ip");
    fake.snapshots[1]?.resolve({ version: 1, list: v1 });
    const next = client.list();
    await flush();
    // The mark moved the Dispatcher object's version on: a copy taken before it is stale.
    expect(fake.snapshots.length, "the selection after ds_mark_dst used the snapshot taken before it").toBe(3);
    const v2 = list("1 sip:127.0.0.1:7070\n1 sip:127.0.0.1:7074");
    fake.snapshots[2]?.resolve({ version: 2, list: v2 });
    expect(await next).toBe(v2);
  });
});

describe("DispatcherClient: a selection that finds no usable destination asks again", () => {
  const down = () => list("1 sip:127.0.0.1:7070 1\n1 sip:127.0.0.1:7072 1\n1 sip:127.0.0.1:7074 1");
  const input: SelectInput = { method: "INVITE", callId: "c1@127.0.0.2", fromUri: "sip:alice@localhost", toUri: "sip:+15551234567@localhost", ruri: "sip:+15551234567@localhost" };
  const pick = (client: DispatcherClient, l: DispatcherList) => select(l.sets.get(1), 4, input, client.state, { failover: true });

  /** A client whose copy (version 1) has every gateway inactive. */
  async function allDown() {
    const fake = fakeSource();
    const time = clock();
    const client = new DispatcherClient(fake.source, MAX_AGE, time.tick);
    const first = client.list();
    fake.snapshots[0]?.resolve({ version: 1, list: down() });
    expect(pick(client, await first).selected).toBe(false);
    return { fake, time, client };
  }

  it(`a copy older than ${RECHECK_AFTER_MS} ms is refreshed, and a gateway back up meanwhile is selected`, async () => {
    const { fake, time, client } = await allDown();
    time.now += RECHECK_AFTER_MS + 1;
    const again = client.recheck();
    expect(fake.since).toEqual([undefined, 1]);
    fake.snapshots[1]?.resolve({ version: 2, list: list("1 sip:127.0.0.1:7070 1\n1 sip:127.0.0.1:7072\n1 sip:127.0.0.1:7074 1") });
    const fresher = await again;
    expect(fresher).toBeDefined();
    const selection = pick(client, fresher!);
    expect(selection.selected && selection.destinations[selection.position]?.uri).toBe("sip:127.0.0.1:7072");
  });

  it("a copy that fresh is not asked again, and every gateway still down costs one request per interval, not one per call", async () => {
    const { fake, time, client } = await allDown();
    time.now += RECHECK_AFTER_MS;
    expect(await client.recheck()).toBeUndefined();
    expect(fake.snapshots).toHaveLength(1);
    time.now += 1;
    const calls = [client.recheck(), client.recheck(), client.recheck()];
    expect(fake.snapshots).toHaveLength(2); // concurrent calls share the one refresh
    fake.snapshots[1]?.resolve({ version: 1 }); // unchanged: only the version comes back
    for (const l of await Promise.all(calls)) expect(l && pick(client, l).selected).toBe(false);
    time.now += RECHECK_AFTER_MS;
    expect(await client.recheck()).toBeUndefined(); // the refresh made the copy fresh again
    expect(fake.snapshots).toHaveLength(2);
  });
});

describe("ds_select_dst over a copy that has every gateway down", () => {
  const allDown = "1 sip:127.0.0.1:7070 1\n1 sip:127.0.0.1:7072 1\n1 sip:127.0.0.1:7074 1";

  /** The script's dispatcher over an INVITE to a number, with a shard copy (version 1) where every gateway is inactive. */
  async function scriptOverDownCopy() {
    const fake = fakeSource();
    const time = clock();
    const client = new DispatcherClient(fake.source, MAX_AGE, time.tick);
    const first = client.list();
    fake.snapshots[0]?.resolve({ version: 1, list: list(allDown) });
    await first;
    const parsed = parseMessage(sipRequest({ method: "INVITE", ruri: "sip:+15551234567@sip.example.test" }));
    if (!parsed.ok) throw new Error(parsed.reason);
    const ctx = { msg: parsed.message as SipRequest, du: undefined } as unknown as RequestContext;
    return { fake, time, ctx, script: new DispatcherScript(ctx, client, () => undefined) };
  }

  it(`selects a gateway that came back since the copy was made, once the copy is older than ${RECHECK_AFTER_MS} ms`, async () => {
    const { fake, time, ctx, script } = await scriptOverDownCopy();
    time.now += RECHECK_AFTER_MS + 1;
    const selected = script.selectDst(1, 4);
    await flush();
    expect(fake.since).toEqual([undefined, 1]); // the selection found nothing and asked again
    fake.snapshots[1]?.resolve({ version: 2, list: list("1 sip:127.0.0.1:7070 1\n1 sip:127.0.0.1:7072\n1 sip:127.0.0.1:7074 1") });
    expect(await selected).toBe(true);
    expect(ctx.du?.dst).toBe("127.0.0.1:7072");
  });

  it("refuses at once from a copy that fresh: nothing newer to ask for", async () => {
    const { fake, time, ctx, script } = await scriptOverDownCopy();
    time.now += RECHECK_AFTER_MS;
    expect(await script.selectDst(1, 4)).toBe(false);
    expect(fake.snapshots).toHaveLength(1);
    expect(ctx.du).toBeUndefined();
  });
});

describe("DispatcherClient: call load (algorithm 10) in the Dispatcher object", () => {
  const input: SelectInput = { method: "INVITE", callId: "a84b4c76e66710@pc33.atlanta.com", fromUri: "sip:alice@atlanta.example.com", toUri: "sip:+15551234567@localhost", ruri: "sip:+15551234567@localhost" };

  it("a 2xx, a move and the BYE of a call this shard selected update the Dispatcher object's count", async () => {
    const { fake, client } = await loaded();
    expect((await client.selectByLoad(1, input, false)).selected).toBe(true);
    client.loadEvent(input.callId, "move", "gw2");
    client.loadEvent(input.callId, "confirm");
    client.loadEvent(input.callId, "release");
    await flush();
    expect(fake.loadEvents).toEqual([
      [input.callId, "move", "gw2"],
      [input.callId, "confirm", undefined],
      [input.callId, "release", undefined],
    ]);
  });

  it("events for calls this shard did not count, or already released, cost no hop", async () => {
    const { fake, client } = await loaded();
    client.loadEvent("other-call@127.0.0.1", "release");
    await client.selectByLoad(1, input, false);
    client.loadEvent(input.callId, "release");
    client.loadEvent(input.callId, "release"); // the BYE after a failure: already released
    await flush();
    expect(fake.loadEvents).toEqual([[input.callId, "release", undefined]]);
  });

  it("an unreachable Dispatcher object does not fail the call that reports its load", async () => {
    const { fake, client } = await loaded();
    await client.selectByLoad(1, input, false);
    fake.failLoadEventsFromNowOn();
    expect(() => client.loadEvent(input.callId, "confirm")).not.toThrow();
    await flush();
    expect(fake.loadEvents).toHaveLength(1);
  });
});

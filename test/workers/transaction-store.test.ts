import { describe, expect, it } from "vitest";
import { Alarms } from "../../durable-objects/alarms.ts";
import { PERSIST_AFTER_MS, TransactionStore } from "../../durable-objects/transaction-store.ts";
import { createLogger } from "../../src/log.ts";
import { invite, request } from "../unit/transactions/helpers.ts";
import { base, harness } from "../unit/tm/harness.ts";

/** A Durable Object's storage, in memory: what TransactionStore uses of it. */
function fakeState() {
  const data = new Map<string, unknown>();
  const writes: string[] = [];
  const storage = {
    put: async (entries: Record<string, unknown>) => {
      for (const [k, v] of Object.entries(entries)) {
        data.set(k, structuredClone(v));
        writes.push(k);
      }
    },
    list: async ({ prefix }: { prefix: string }) => new Map([...data].filter(([k]) => k.startsWith(prefix))),
    delete: async (keys: string | string[]) => {
      for (const k of Array.isArray(keys) ? keys : [keys]) data.delete(k);
    },
    setAlarm: async () => undefined,
    getAlarm: async () => null,
  };
  return { data, writes, state: { storage } as unknown as DurableObjectState };
}

const GW = { uri: "sip:+1555@gw.example.test", dst: "127.0.0.20:5060" };

describe("TransactionStore: only transactions pending PERSIST_AFTER_MS are written, and each comes back once", () => {
  it("a transaction younger than PERSIST_AFTER_MS is not written; once older it is, once; when it ends its copy goes", async () => {
    const { data, writes, state } = fakeState();
    const stores: TransactionStore[] = [];
    const h = harness({ onForget: (id) => stores[0]?.forgotten(id) });
    const store = new TransactionStore(state, h.tm, () => h.upstream, new Alarms(state.storage), createLogger("error"));
    stores.push(store);
    h.tm.relay(request(invite()), h.upstream, [GW], { base, upstreamKey: "0.wflow" });
    h.timers.advance(100);
    await store.sweep(h.timers.now());
    expect(writes).toEqual([]);
    h.timers.advance(PERSIST_AFTER_MS);
    await store.sweep(h.timers.now());
    await store.sweep(h.timers.now());
    expect(writes).toHaveLength(1);
    h.answer(h.sent("INVITE")[0]!, 486, "Busy Here", { toTag: "gw" });
    await new Promise((r) => setTimeout(r, 0));
    expect(data.size).toBe(0);
  });

  it("a stored transaction is restored once per start, and a second restore in the same object brings nothing", async () => {
    const { data, state } = fakeState();
    const first = harness();
    const writer = new TransactionStore(state, first.tm, () => first.upstream, new Alarms(state.storage), createLogger("error"));
    first.tm.relay(request(invite()), first.upstream, [GW], { base, upstreamKey: "0.wflow" });
    first.timers.advance(PERSIST_AFTER_MS + 1);
    await writer.sweep(first.timers.now());
    expect(data.size).toBe(1);
    const second = harness();
    const reader = new TransactionStore(state, second.tm, () => second.upstream, new Alarms(state.storage), createLogger("error"));
    expect(await reader.restore()).toBe(1);
    expect(await reader.restore()).toBe(0);
    expect(second.tm.size).toBe(1);
  });
});

describe("TransactionStore: TRANSACTION_STORE_AFTER", () => {
  it("a longer wait spares the transactions answered sooner, and off stores none (restored ones keep their alarm)", async () => {
    const later = fakeState();
    const h = harness();
    const store = new TransactionStore(later.state, h.tm, () => h.upstream, new Alarms(later.state.storage), createLogger("error"), 10_000);
    h.tm.relay(request(invite()), h.upstream, [GW], { base, upstreamKey: "0.wflow" });
    h.timers.advance(PERSIST_AFTER_MS + 1);
    await store.sweep(h.timers.now());
    expect(later.writes).toEqual([]);
    h.timers.advance(10_000);
    await store.sweep(h.timers.now());
    expect(later.writes).toHaveLength(1);

    // Off: nothing is written however long the INVITE rings, and watch() arms no sweep.
    const off = fakeState();
    const ringing = harness();
    const none = new TransactionStore(off.state, ringing.tm, () => ringing.upstream, new Alarms(off.state.storage), createLogger("error"), undefined);
    ringing.tm.relay(request(invite()), ringing.upstream, [GW], { base, upstreamKey: "0.wflow" });
    none.watch();
    ringing.timers.advance(60_000);
    await none.sweep(ringing.timers.now());
    expect(off.writes).toEqual([]);

    // A transaction stored before the switch still comes back, with the alarm its deadline needs.
    let alarmAt: number | undefined;
    const restoredState = { storage: { ...later.state.storage, setAlarm: async (at: number) => void (alarmAt = at), getAlarm: async () => null } } as unknown as DurableObjectState;
    const restarted = harness();
    const reader = new TransactionStore(restoredState, restarted.tm, () => restarted.upstream, new Alarms(restoredState.storage), createLogger("error"), undefined);
    expect(await reader.restore()).toBe(1);
    expect(alarmAt).toBeDefined();
  });
});

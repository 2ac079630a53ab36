import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Alarms } from "../../durable-objects/alarms.ts";
import { DialogStore } from "../../durable-objects/dialogs.ts";
import { createLogger } from "../../src/log.ts";
import type { GatewayDialog } from "../../src/modules/dialog/index.ts";

/** The storage calls a DialogStore makes, over a Map: each put or delete call is one "write". */
class FakeStorage {
  readonly data = new Map<string, unknown>();
  readonly calls: string[] = [];

  async put(entries: Record<string, unknown> | string, value?: unknown): Promise<void> {
    const all = typeof entries === "string" ? { [entries]: value } : entries;
    this.calls.push(`put ${Object.keys(all).length}`);
    for (const [k, v] of Object.entries(all)) this.data.set(k, structuredClone(v));
  }

  async delete(keys: string[] | string): Promise<void> {
    const all = typeof keys === "string" ? [keys] : keys;
    this.calls.push(`delete ${all.length}`);
    for (const k of all) this.data.delete(k);
  }

  async list(options: { prefix: string }): Promise<Map<string, unknown>> {
    return new Map([...this.data].filter(([k]) => k.startsWith(options.prefix)));
  }

  async setAlarm(): Promise<void> {}
  async getAlarm(): Promise<number | null> {
    return null;
  }
}

function call(n: number): GatewayDialog {
  return {
    v: 1, callId: `call-${n}`, flow: `flow-${n}`, dst: "127.0.0.20:5060", ruri: "sip:gw@127.0.0.20", routes: [],
    from: "<sip:alice@sip.example.test>;tag=a", to: "<sip:+15550001@sip.example.test>;tag=b", cseq: 1, since: Date.now(),
  };
}

function store(storage: FakeStorage, writeEveryMs: number): DialogStore {
  const s = storage as unknown as DurableObjectStorage;
  return new DialogStore(s, new Alarms(s), {
    timeoutMs: 60_000, writeEveryMs, shard: "0", log: createLogger("error"),
    liveFlows: async (flows) => new Set(flows), successor: async () => undefined, bridgeVia: () => undefined, send: () => false, tellKeeper: () => undefined,
  });
}

describe("DialogStore writes call records in batches (dialog db_update_period)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("calls answered within one period reach storage in one put", async () => {
    const storage = new FakeStorage();
    const dialogs = store(storage, 1000);
    for (let i = 0; i < 300; i++) dialogs.answered(call(i));
    expect(storage.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    // 300 records: 128 + 128 + 44, the storage API's limit per call.
    expect(storage.calls).toEqual(["put 128", "put 128", "put 44"]);
    expect(storage.data.size).toBe(300);
  });

  it("a call that ends before the next write never touches storage", async () => {
    const storage = new FakeStorage();
    const dialogs = store(storage, 1000);
    dialogs.answered(call(1));
    dialogs.answered(call(2));
    dialogs.ended("call-1", "0");
    await vi.advanceTimersByTimeAsync(1000);
    expect(storage.calls).toEqual(["put 1"]);
    expect([...storage.data.keys()]).toEqual(["dlg:call-2"]);
  });

  it("a stored call's end is one batched delete, and a restarted store finds only the calls still up", async () => {
    const storage = new FakeStorage();
    const dialogs = store(storage, 1000);
    for (let i = 0; i < 3; i++) dialogs.answered(call(i));
    await vi.advanceTimersByTimeAsync(1000);
    dialogs.ended("call-0", "0");
    dialogs.ended("call-1", "0");
    await vi.advanceTimersByTimeAsync(1000);
    expect(storage.calls).toEqual(["put 3", "delete 2"]);
    const restarted = store(storage, 1000);
    await restarted.restore();
    expect(restarted.size).toBe(1);
  });

  it("period 0 writes every record at once (db_mode 1)", async () => {
    const storage = new FakeStorage();
    const dialogs = store(storage, 0);
    dialogs.answered(call(1));
    await Promise.resolve();
    expect(storage.calls).toEqual(["put 1"]);
    dialogs.ended("call-1", "0");
    await Promise.resolve();
    expect(storage.calls).toEqual(["put 1", "delete 1"]);
  });
});

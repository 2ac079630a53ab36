// The shard's keep-alive pass over many sockets (durable-objects/keepalive.ts), in the Workers
// runtime with fake sockets: it runs in slices, and between them the shard's queued messages (here
// a zero-delay timer queued first) run, so a shard of thousands of sockets does not hold its
// clients' messages for the whole pass (bench/README, "Idle sockets").
import { describe, expect, it } from "vitest";
import type { Alarms } from "../../durable-objects/alarms.ts";
import type { Connection, Connections } from "../../durable-objects/connections.ts";
import { KeepaliveSweep } from "../../durable-objects/keepalive.ts";
import { createLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics/counters.ts";
import { newFlowToken } from "../../src/transport/flow.ts";
import { Signer } from "../../src/util/signer.ts";

const config = { intervalMs: 30_000, timeoutMs: 10_000, idleMs: 60_000 };
const T0 = 1_000_000;

/** `count` client sockets, each of which sent its first message at T0 and was never pinged. */
function shard(count: number, cfg = config) {
  const sent: number[] = [];
  const conns = new Map<WebSocket, Connection>();
  const sockets = Array.from({ length: count }, (_, i) => {
    const ws = {
      send: () => void sent.push(i),
      serializeAttachment: () => undefined,
    } as unknown as WebSocket;
    conns.set(ws, {
      attachment: { flow: newFlowToken("3", "wss"), ip: "127.0.0.9", transport: "wss", connectedAt: T0, firstAt: T0, aors: [] },
      source: { transport: "wss", ip: "127.0.0.9" },
      transport: undefined as never,
      seenAt: T0,
    });
    return ws;
  });
  const wanted: (number | undefined)[] = [];
  const metrics = new Metrics();
  const sweep = new KeepaliveSweep({
    ctx: { getWebSockets: () => sockets, getWebSocketAutoResponseTimestamp: () => null } as unknown as DurableObjectState,
    connections: { open: (ws: WebSocket) => conns.get(ws) } as unknown as Connections,
    alarms: { want: async (_owner: string, at: number | undefined) => void wanted.push(at) } as unknown as Alarms,
    config: cfg,
    domain: "sip.example.test",
    serverHeader: "sipedge",
    signer: new Signer({ current: "k" }, "sipedge branch"),
    log: createLogger("error"),
    metrics,
    lost: async () => undefined,
  });
  return { sweep, sent, wanted, metrics };
}

describe("the keep-alive pass over a shard's sockets", () => {
  it("pings in slices and lets a timer (the shard's queued messages) run between them", async () => {
    const { sweep, sent, wanted, metrics } = shard(230);
    const seenByTimer: number[] = [];
    // A zero-delay timer queued before the pass stands for a client message waiting for the shard.
    setTimeout(() => seenByTimer.push(sent.length), 0);
    const pass = sweep.sweep(T0 + config.intervalMs);
    // The first slice ran before the pass gave the thread up: no more than a slice of pings.
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThan(230);
    await pass;
    expect(seenByTimer).toHaveLength(1);
    expect(seenByTimer[0]).toBeLessThan(230);
    // Every socket was pinged once, in order, and the alarm asked for the pings' deadline.
    expect(sent).toEqual([...Array(230).keys()]);
    expect(metrics.get("keepalivePings")).toBe(230);
    expect(wanted).toEqual([T0 + config.intervalMs + config.timeoutMs]);
  });

  it("judges thousands of sockets with nothing to do in slices too", async () => {
    const { sweep, sent, wanted } = shard(2500);
    let ranBetween = false;
    setTimeout(() => (ranBetween = true), 0);
    // Within the interval of their first message nobody is pinged.
    const pass = sweep.sweep(T0 + 1000);
    expect(ranBetween).toBe(false);
    await pass;
    expect(ranBetween).toBe(true);
    expect(sent).toEqual([]);
    expect(wanted).toEqual([T0 + 1000 + config.intervalMs]);
  });

  it("keeps the deadline of a socket accepted while the pass gave the thread up", async () => {
    const cfg = { ...config, idleMs: 5_000 };
    const { sweep, wanted } = shard(230, cfg);
    const now = T0 + cfg.intervalMs;
    setTimeout(() => void sweep.accepted(now), 0);
    await sweep.sweep(now);
    // The pings' answers are due in 10 s; the new socket's first message in 5 s.
    expect(wanted.at(-1)).toBe(now + cfg.idleMs);
  });

  it("a small shard is judged in one go", async () => {
    const { sweep, sent } = shard(20);
    const pass = sweep.sweep(T0 + config.intervalMs);
    expect(sent).toHaveLength(20);
    await pass;
  });
});

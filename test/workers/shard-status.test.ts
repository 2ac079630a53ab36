// A shard's status (the scrape, the admin API, the dashboard every 2 s) over many sockets, in the
// Workers runtime with fake sockets: client sockets are read from their in-memory connections,
// not deserialized one by one, and the pass lets the shard's queued messages run between slices.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BridgeAttachment } from "../../durable-objects/bridge-links.ts";
import type { ClientAttachment, Connection } from "../../durable-objects/connections.ts";
import { ShardOps } from "../../durable-objects/shard-ops.ts";
import { createLogger } from "../../src/log.ts";
import type { Tm } from "../../src/modules/tm/index.ts";

function client(i: number): ClientAttachment {
  // Every third socket registered; two flows per AOR.
  return { flow: `0.f${i}`, ip: "127.0.0.9", transport: "wss", connectedAt: 1, aors: i % 3 === 0 ? [`u${Math.floor(i / 6)}@sip.example.test`] : [] };
}

describe("a shard's status", () => {
  it("counts clients, registered flows, AORs and open bridge links, letting queued messages run between slices", async () => {
    const bridge: BridgeAttachment = { kind: "bridge", bridge: "b1", batch: true, connectedAt: 5, advertise: { host: "127.0.0.60", port: 5070 } };
    const connections = new Map<WebSocket, Pick<Connection, "bridge" | "attachment">>();
    const sockets: WebSocket[] = [];
    let deserialized = 0;
    for (let i = 0; i < 4500; i++) {
      const ws = { readyState: WebSocket.OPEN, deserializeAttachment: () => (deserialized++, client(i)) } as unknown as WebSocket;
      connections.set(ws, { attachment: client(i) });
      sockets.push(ws);
    }
    const link = { readyState: WebSocket.OPEN, deserializeAttachment: () => (deserialized++, bridge) } as unknown as WebSocket;
    connections.set(link, { bridge, attachment: { flow: "", ip: "", transport: "ws", connectedAt: 5, aors: [] } });
    sockets.push(link);
    const ctx = { getWebSockets: () => sockets, waitUntil: () => undefined } as unknown as DurableObjectState;
    const ops = new ShardOps(ctx, env.DB, createLogger("error"), "0");

    let ranBetween = false;
    setTimeout(() => (ranBetween = true), 0);
    const pending = ops.status({ size: 0 } as Tm, { bans: [], watched: [] }, { timers: 0, dialogs: 0, storedTransactions: 0, guardEntries: 0 }, (ws) => connections.get(ws)!);
    expect(ranBetween).toBe(false);
    const status = await pending;
    expect(ranBetween).toBe(true);

    expect(status.connections).toBe(4500);
    expect(status.registeredFlows).toBe(1500);
    expect(status.registeredAors).toBe(750);
    expect(status.bridgeLinks).toEqual([{ bridge: "b1", advertise: "127.0.0.60:5070", connectedAt: 5 }]);
    // Only the bridge link's attachment was read as stored.
    expect(deserialized).toBe(1);
  });
});

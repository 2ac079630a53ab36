import { describe, expect, it } from "vitest";
import { Connections } from "../../durable-objects/connections.ts";

function socket(flow: string) {
  return { deserializeAttachment: () => ({ flow, ip: "127.0.0.2", transport: "wss", connectedAt: 0, aors: ["alice@sip.example.test"] }), serializeAttachment: () => undefined, send: () => undefined } as unknown as WebSocket;
}

describe("Connections: a socket's close is handled once", () => {
  it("webSocketError and webSocketClose both firing give the connection to the first only (its count is released once)", () => {
    const ws = socket("0.sA");
    const state = { getWebSockets: () => [ws] } as unknown as DurableObjectState;
    const connections = new Connections(state);
    expect(connections.socket("0.sA")).toBe(ws);
    expect(connections.closed(ws)?.attachment.flow).toBe("0.sA");
    expect(connections.closed(ws)).toBeUndefined();
    expect(connections.socket("0.sA")).toBeUndefined();
  });

  it("a registration over the flow records the AOR once and the client instance for its source", () => {
    const ws = socket("0.sB");
    const connections = new Connections({ getWebSockets: () => [ws] } as unknown as DurableObjectState);
    connections.registered(ws, "alice@sip.example.test", "k1");
    expect(connections.of(ws).attachment.aors).toEqual(["alice@sip.example.test"]);
    expect(connections.of(ws).source.instance).toBe("k1");
  });
});

// The bridge in-process with real sockets: a fake edge over WebSocket, a fake gateway over UDP.
import dgram from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { Bridge } from "../../../bridge/bridge.ts";
import { parseConfig } from "../../../bridge/config.ts";
import { createLogger } from "../../../src/log.ts";
import { startFakeEdge, splitFrame, type FakeEdge, type Frame } from "./fake-edge.ts";
import { requestText, responseText } from "./messages.ts";

const SECRET = "test-secret";
const FAST = { baseMs: 20, capMs: 200, resetAfterMs: 10_000 };
const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function gateway(): Promise<{ socket: dgram.Socket; port: number; received: string[]; next(): Promise<string> }> {
  const socket = dgram.createSocket("udp4");
  const received: string[] = [];
  let wake: (() => void) | undefined;
  socket.on("message", (data) => {
    received.push(data.toString());
    wake?.();
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  cleanup.push(() => new Promise((resolve) => socket.close(() => resolve())));
  let read = 0;
  return {
    socket,
    port: socket.address().port,
    received,
    next: async () => {
      while (received.length <= read) await new Promise<void>((resolve) => (wake = resolve));
      return received[read++] as string;
    },
  };
}

async function startBridge(edge: FakeEdge, secret = SECRET): Promise<{ bridge: Bridge; logs: string[] }> {
  const config = parseConfig(["--edge", edge.url, "--secret", secret, "--listen", "127.0.0.1:0", "--id", "unit-b"], {});
  if (!config.ok) throw new Error(config.reason);
  const logs: string[] = [];
  const bridge = new Bridge({ config: config.value, log: createLogger("info", (line) => logs.push(line)), backoff: FAST });
  await bridge.start();
  cleanup.push(() => bridge.stop());
  return { bridge, logs };
}

async function edge(shards: number): Promise<FakeEdge> {
  const e = await startFakeEdge({ secret: SECRET, shards });
  cleanup.push(() => e.close());
  return e;
}

const isHello = (f: Frame) => f.data.startsWith('{"type":"hello"');

describe("bridge ⇄ edge link", () => {
  it("asks for the shard count, dials one link per shard and says hello with its advertised address", async () => {
    const e = await edge(3);
    const { bridge } = await startBridge(e);
    const hellos = await Promise.all([0, 1, 2].map((k) => e.next((f) => f.shard === k && isHello(f))));
    for (const h of hellos) {
      expect(JSON.parse(h.data)).toEqual({
        type: "hello", version: 1, bridge: "unit-b", shard: h.shard, shards: 3, advertise: bridge.advertise, transport: "udp", rtpengine: false, pong: true,
      });
      expect(h.bridge).toBe("unit-b");
    }
    expect(bridge.advertise).toBe(`127.0.0.1:${bridge.address.port}`);
  });

  it("relays an edge request to the gateway, and the gateway's responses back on the same shard with their source", async () => {
    const e = await edge(2);
    const gw = await gateway();
    const { bridge } = await startBridge(e);
    await e.next((f) => f.shard === 1 && isHello(f));
    const via = `SIP/2.0/UDP ${bridge.advertise};branch=z9hG4bKrelay1;rport`;
    e.send(1, `127.0.0.1:${gw.port}\r\n` + requestText({ via, uri: `sip:+1555@127.0.0.1:${gw.port}` }));
    expect(await gw.next()).toMatch(/^INVITE sip:\+1555@127\.0\.0\.1:\d+ SIP\/2\.0\r\n/);
    const [address, port] = bridge.advertise.split(":");
    gw.socket.send(responseText({ status: 180, via, toTag: "g" }), Number(port), address);
    const ringing = await e.next((f) => f.data.includes("SIP/2.0 180"));
    expect(ringing.shard).toBe(1);
    expect(splitFrame(ringing).from).toBe(`127.0.0.1:${gw.port}`);
    expect(splitFrame(ringing).message).toBe(responseText({ status: 180, via, toTag: "g" }));
  });

  it("sends a gateway request to the shard named in its top Route, absorbs its retransmission and replays the edge's answer", async () => {
    const e = await edge(4);
    const gw = await gateway();
    const { bridge } = await startBridge(e);
    await Promise.all([0, 1, 2, 3].map((k) => e.next((f) => f.shard === k && isHello(f))));
    const [address, port] = bridge.advertise.split(":");
    const via = `SIP/2.0/UDP 127.0.0.1:${gw.port};branch=z9hG4bKbye1`;
    const bye = requestText({ method: "BYE", via, routes: [`<sip:${bridge.advertise};lr;shard=2>`] });
    gw.socket.send(bye, Number(port), address);
    const got = await e.next((f) => f.data.includes("BYE sip:"));
    expect(got.shard).toBe(2);
    gw.socket.send(bye, Number(port), address); // retransmission before the edge answered: absorbed
    await expect.poll(() => bridge.stats.absorbed).toBe(1);
    expect(gw.received).toHaveLength(0);
    e.send(2, `127.0.0.1:${gw.port}\r\n` + responseText({ status: 200, method: "BYE", via }));
    expect(await gw.next()).toMatch(/^SIP\/2\.0 200 OK/);
    gw.socket.send(bye, Number(port), address); // after the answer: the answer again, from the bridge
    expect(await gw.next()).toMatch(/^SIP\/2\.0 200 OK/);
    expect(bridge.stats.absorbed).toBe(2);
    expect(e.frames.filter((f) => f.data.includes("BYE sip:"))).toHaveLength(1);
  });

  it("reports a destination that does not resolve as unreachable, on the link that asked", async () => {
    const e = await edge(1);
    await startBridge(e);
    await e.next(isHello);
    e.send(0, "bad host name\r\n" + requestText({ method: "OPTIONS" }));
    const report = JSON.parse((await e.next((f) => f.data.includes('"unreachable"'))).data);
    expect(report).toMatchObject({ type: "unreachable", to: "bad host name", reason: "address", method: "OPTIONS", callId: "call-1@test" });
  });

  it("a wrong secret is refused by the edge; the bridge logs it and keeps retrying", async () => {
    const e = await edge(1);
    const { logs } = await startBridge(e, "wrong");
    await expect.poll(() => e.refused.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
    expect(e.linkCount()).toBe(0);
    expect(logs.some((l) => l.includes("shard count unavailable") && l.includes("HTTP 401"))).toBe(true);
  });

  it("answers the edge's liveness ping with a pong on the same link, carrying its id", async () => {
    const e = await edge(2);
    await startBridge(e);
    await Promise.all([0, 1].map((k) => e.next((f) => f.shard === k && isHello(f))));
    e.send(1, JSON.stringify({ type: "ping", id: "round-7" }));
    const pong = await e.next((f) => f.data.startsWith('{"type":"pong"'));
    expect(pong.shard).toBe(1);
    expect(JSON.parse(pong.data)).toEqual({ type: "pong", id: "round-7" });
  });

  it("links redial by themselves when the edge drops them (a redeploy)", async () => {
    const first = await startFakeEdge({ secret: SECRET, shards: 2 });
    const { bridge } = await startBridge(first);
    await Promise.all([0, 1].map((k) => first.next((f) => f.shard === k && isHello(f))));
    const port = first.port;
    await first.close();
    const second = await startFakeEdge({ secret: SECRET, shards: 2, port });
    cleanup.push(() => second.close());
    await Promise.all([0, 1].map((k) => second.next((f) => f.shard === k && isHello(f))));
    expect(bridge.shardLinks.map((l) => l.opens)).toEqual([2, 2]);
  });
});

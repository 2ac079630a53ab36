// The v2 link in-process with real sockets: batch frames both ways between the bridge and a fake
// edge, a lone datagram sent at once, and an edge that only knows v1.
import dgram from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { Bridge } from "../../../bridge/bridge.ts";
import { parseConfig } from "../../../bridge/config.ts";
import { createLogger } from "../../../src/log.ts";
import { encodeBatch } from "../../../src/transport/bridge-batch.ts";
import { startFakeEdge, type FakeEdge, type Frame } from "./fake-edge.ts";
import { requestText } from "./messages.ts";

const SECRET = "test-secret";
const V2 = ["sipedge-bridge.v2", "sipedge-bridge.v1"];
const cleanup: (() => Promise<void>)[] = [];
const encoder = new TextEncoder();

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function udp(): Promise<{ socket: dgram.Socket; port: number; received: string[] }> {
  const socket = dgram.createSocket("udp4");
  const received: string[] = [];
  socket.on("message", (data) => received.push(data.toString()));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  cleanup.push(() => new Promise((resolve) => socket.close(() => resolve())));
  return { socket, port: socket.address().port, received };
}

async function setup(protocols?: string[]): Promise<{ edge: FakeEdge; bridge: Bridge; logs: string[] }> {
  const edge = await startFakeEdge({ secret: SECRET, shards: 1, ...(protocols ? { protocols } : {}) });
  cleanup.push(() => edge.close());
  const config = parseConfig(["--edge", edge.url, "--secret", SECRET, "--listen", "127.0.0.1:0", "--id", "batch-b", "--http", "127.0.0.1:0"], {});
  if (!config.ok) throw new Error(config.reason);
  const logs: string[] = [];
  const bridge = new Bridge({ config: config.value, log: createLogger("info", (line) => logs.push(line)) });
  await bridge.start();
  cleanup.push(() => bridge.stop());
  await edge.next((f) => f.data.startsWith('{"type":"hello"'));
  return { edge, bridge, logs };
}

/** `n` OPTIONS from a gateway, each its own transaction. */
function options(n: number, tag: string): string[] {
  return Array.from({ length: n }, (_, i) =>
    requestText({ method: "OPTIONS", uri: "sip:127.0.0.1", via: `SIP/2.0/UDP 127.0.0.1:7070;branch=z9hG4bK${tag}${i}`, callId: `${tag}-${i}@gw` }),
  );
}

const datagrams = (edge: FakeEdge, tag: string): Frame[] => edge.frames.filter((f) => f.data.includes(`Call-ID: ${tag}-`));

async function until(check: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("batched bridge link (sipedge-bridge.v2)", () => {
  it("a lone datagram from a gateway is sent at once, as a plain text frame", async () => {
    const { edge, bridge } = await setup(V2);
    const gw = await udp();
    const lone = options(6, "lone");
    const ms: number[] = [];
    for (const [i, one] of lone.entries()) {
      const sentAt = performance.now();
      gw.socket.send(one, bridge.address.port, "127.0.0.1");
      const frame = await edge.next((f) => f.data.includes(`Call-ID: lone-${i}@gw`));
      ms.push(performance.now() - sentAt);
      expect(frame).toMatchObject({ records: 1, binary: false });
      expect(frame.data).toBe(`127.0.0.1:${gw.port}\r\n${one}`);
    }
    // No window to wait out: UDP in, WebSocket out, a loopback hop each, on an idle link. The
    // median (the first copy pays for compiling the path) stays far below a timer's millisecond.
    expect(ms.sort((a, b) => a - b)[3]).toBeLessThan(20);
  });

  it("datagrams that arrive together leave in batch frames, every one of them, in order", async () => {
    const { edge, bridge } = await setup(V2);
    const gw = await udp();
    const burst = options(40, "burst");
    for (const d of burst) gw.socket.send(d, bridge.address.port, "127.0.0.1");
    await until(() => datagrams(edge, "burst").length === 40);
    const got = datagrams(edge, "burst");
    expect(got.map((f) => f.data.slice(f.data.indexOf("\r\n") + 2))).toEqual(burst);
    const messages = new Set(got.map((f) => f.message));
    expect(messages.size).toBeLessThan(40);
    expect(Math.max(...got.map((f) => f.records))).toBeGreaterThan(1);
    expect(bridge.shardLinks[0]?.framesSent).toBeGreaterThan(bridge.shardLinks[0]?.messagesSent ?? 0);
  });

  it("a batch from the edge: each datagram goes to its gateway; a malformed one is refused with a log line and the link carries on", async () => {
    const { edge, bridge, logs } = await setup(V2);
    const gw = await udp();
    const requests = options(3, "out").map((r) => r.replace("127.0.0.1:7070", bridge.advertise));
    const batch = encodeBatch(requests.map((r) => ({ head: `127.0.0.1:${gw.port}\r\n`, body: encoder.encode(r), binary: false })));
    edge.send(0, batch);
    await until(() => gw.received.length === 3);
    expect(gw.received).toEqual(requests);

    edge.send(0, batch.subarray(0, batch.length - 5)); // the last record cut short
    await until(() => logs.some((l) => l.includes("invalid frame from edge")));
    const refused = JSON.parse(logs.find((l) => l.includes("invalid frame from edge")) as string) as { reason: string };
    expect(refused.reason).toMatch(/^batch frame: record 3: length \d+ beyond the frame$/);

    const after = requestText({ method: "OPTIONS", uri: "sip:127.0.0.1", via: `SIP/2.0/UDP ${bridge.advertise};branch=z9hG4bKafter`, callId: "after@edge" });
    edge.send(0, `127.0.0.1:${gw.port}\r\n${after}`);
    await until(() => gw.received.includes(after));
    expect(bridge.shardLinks[0]?.open).toBe(true);
  });

  it("an edge that knows only v1 gets one frame per datagram, even in a burst", async () => {
    const { edge, bridge } = await setup();
    const gw = await udp();
    for (const d of options(20, "old")) gw.socket.send(d, bridge.address.port, "127.0.0.1");
    await until(() => datagrams(edge, "old").length === 20);
    expect(datagrams(edge, "old").every((f) => f.records === 1)).toBe(true);
    expect(new Set(datagrams(edge, "old").map((f) => f.message)).size).toBe(20);
  });
});

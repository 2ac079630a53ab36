// The bridge on its scanner, in-process with real sockets: what a gateway's odd datagrams and an
// edge message the scanner cannot read become (counters, frames, datagrams on the wire).
import dgram from "node:dgram";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Bridge } from "../../../bridge/bridge.ts";
import { parseConfig } from "../../../bridge/config.ts";
import { TIMERS } from "../../../bridge/timers.ts";
import { createLogger } from "../../../src/log.ts";
import { startFakeEdge, splitFrame, type Frame } from "./fake-edge.ts";
import { requestText } from "./messages.ts";

const SECRET = "scan-secret";
const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(shards: number) {
  const edge = await startFakeEdge({ secret: SECRET, shards });
  cleanup.push(() => edge.close());
  const config = parseConfig(["--edge", edge.url, "--secret", SECRET, "--listen", "127.0.0.2:0", "--id", "scan-b"], {});
  if (!config.ok) throw new Error(config.reason);
  const logs: string[] = [];
  const bridge = new Bridge({ config: config.value, log: createLogger("debug", (line) => logs.push(line)) });
  await bridge.start();
  cleanup.push(() => bridge.stop());
  const isHello = (f: Frame) => f.data.startsWith('{"type":"hello"');
  await Promise.all(Array.from({ length: shards }, (_, k) => edge.next((f) => f.shard === k && isHello(f))));
  const gw = dgram.createSocket("udp4");
  const received: string[] = [];
  gw.on("message", (data) => received.push(data.toString("latin1")));
  await new Promise<void>((resolve) => gw.bind(0, "127.0.0.3", resolve));
  cleanup.push(() => new Promise((resolve) => gw.close(() => resolve())));
  const toBridge = (data: string | Buffer) => gw.send(data, bridge.address.port, bridge.address.address);
  return { edge, bridge, logs, gw, received, toBridge };
}

describe("the bridge reads datagrams with its scanner", () => {
  it("junk, a torn datagram and a message without Call-ID are dropped and counted unparseable; the edge sees none", async () => {
    const { edge, bridge, toBridge, logs } = await setup(1);
    const whole = requestText({ method: "OPTIONS", via: "SIP/2.0/UDP 127.0.0.3:5060;branch=z9hG4bKj1" });
    toBridge("\r\n\r\n");
    toBridge(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x0a]));
    toBridge(whole.slice(0, 60));
    toBridge(whole.replace(/Call-ID: [^\r]*\r\n/, ""));
    await expect.poll(() => bridge.stats.unparseable).toBe(4);
    expect(logs.some((l) => l.includes("unparseable datagram dropped") && l.includes("Missing header: Call-ID"))).toBe(true);
    expect(edge.frames.filter((f) => !f.data.startsWith("{"))).toHaveLength(0);
  });

  it("a compact, folded, lower-case gateway request reaches the shard its top Route names, byte for byte, and its copy is absorbed", async () => {
    const { edge, bridge, toBridge } = await setup(4);
    const bye = [
      "BYE sip:alice@127.0.0.2;shard=1 SIP/2.0",
      "v: SIP/2.0/UDP 127.0.0.3:5060",
      "  ;branch=z9hG4bKfold1",
      "route: <sip:127.0.0.2;lr;shard=3>, <sip:other.example.test;lr>",
      "f: <sip:+1555@gw.example.test>;tag=g1",
      "t: <sip:alice@sip.example.test>;tag=a1",
      "i: folded-call@127.0.0.3",
      "cseq: 2 BYE",
      "l: 0",
      "",
      "",
    ].join("\r\n");
    toBridge(bye);
    const got = await edge.next((f) => f.data.includes("BYE sip:"));
    expect(got.shard).toBe(3);
    expect(splitFrame(got).message).toBe(bye);
    toBridge(bye);
    await expect.poll(() => bridge.stats.absorbed).toBe(1);
  });

  it("an edge request the scanner cannot read (no Via) goes out once, statelessly: no retransmission, no transaction", async () => {
    const { edge, bridge, received, gw, logs } = await setup(1);
    const noVia = requestText({ method: "OPTIONS" }).replace(/Via: [^\r]*\r\n/, "");
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    edge.send(0, `127.0.0.3:${gw.address().port}\r\n` + noVia);
    await vi.waitFor(() => expect(received).toEqual([noVia]), { timeout: 2_000 });
    vi.advanceTimersByTime(TIMERS.F);
    await new Promise((resolve) => setImmediate(resolve));
    expect(received).toEqual([noVia]);
    expect(bridge.client.table.size).toBe(0);
    expect(logs.some((l) => l.includes("unparseable message from edge, sent statelessly") && l.includes("Missing header: Via"))).toBe(true);
  });
});

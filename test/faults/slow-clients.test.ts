import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOMAIN, clientAddress, startDeployment, type Deployment } from "../helpers/deployment.ts";
import { memoryMb, workerdPid } from "../helpers/proc.ts";
import { SipUa } from "../helpers/sip-ua.ts";

// Clients that do not play along: one that never reads what the edge sends, one that sends a
// byte per second (a frame that never ends). workerd has no bufferedAmount or backpressure on a
// server WebSocket (cloudflare/workerd#988), so replies to a client that does not read queue in
// the runtime. They must not stall anyone else; how much they can queue is what pike lets them ask.

/** The shipped pike density: requests per 2 s per address before requests are dropped. */
const PIKE_DENSITY = 16;
/** Each request carries this much padding, which its reply echoes (Call-ID). */
const PAD = 8 * 1024;
let dep: Deployment;

beforeAll(async () => {
  dep = await startDeployment({ vars: { CONNECTION_SHARDS: "1" } }); // one shard: everyone shares the object the slow clients sit in
});

afterAll(async () => {
  await dep?.destroy();
});

function raw(address: string): Promise<WebSocket> {
  const ws = new WebSocket(dep.wsUrl, ["sip"], { localAddress: address, ca: dep.ca.cert, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

const options = (n: number, pad: string) =>
  `OPTIONS sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/WSS slow.invalid;branch=z9hG4bKslow${n}\r\nMax-Forwards: 70\r\nFrom: <sip:slow@x.test>;tag=s\r\nTo: <sip:${DOMAIN}>\r\nCall-ID: ${n}-${pad}\r\nCSeq: ${n} OPTIONS\r\nContent-Length: 0\r\n\r\n`;

describe("clients that do not read, or send a byte per second", () => {
  it("stall nobody else in their shard; the never-reader's queue grows only by what pike lets it ask", async () => {
    const workerd = workerdPid();
    const rssBefore = memoryMb(workerd).rss;
    // Never reads: its socket is paused, so the kernel buffers fill and the edge's sends queue in workerd.
    const deaf = await raw(clientAddress(0));
    (deaf as unknown as { _socket: { pause(): void } })._socket.pause();
    // Sends the first bytes of a frame and then one byte per second: a message that never completes.
    const trickle = await raw(clientAddress(1));
    const socket = (trickle as unknown as { _socket: { write(b: Buffer): boolean } })._socket;
    const frame = Buffer.from(options(0, "t".repeat(200)));
    let sentBytes = 0;
    socket.write(Buffer.from([0x81, 0x80 | 126, frame.length >> 8, frame.length & 0xff, 1, 2, 3, 4]));
    const trickling = setInterval(() => socket.write(frame.subarray(sentBytes, ++sentBytes)), 1000);

    const pad = "x".repeat(PAD);
    let asked = 0;
    const rate = PIKE_DENSITY / 2 - 1; // just under pike, so nothing is dropped and every reply is queued
    const deafSending = setInterval(() => {
      for (let i = 0; i < rate; i++) deaf.send(options(asked++, pad));
    }, 1000);

    // Meanwhile an honest client in the same shard registers and pings; every answer must come quickly.
    const honest = await SipUa.connect(dep.wsUrl, { user: "user0900", password: "pw", domain: DOMAIN, localAddress: clientAddress(2), ca: dep.ca.cert });
    // Every 300 ms: even if every REGISTER were challenged (two requests) the honest address stays
    // under pike's density (at most 14 of 16 per 2 s unit); one CI run at 200 ms had it blocked.
    const roundTrips: number[] = [];
    let challenged = 0;
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      const t0 = Date.now();
      const outcome = await honest.register();
      expect(outcome.response.status).toBe(200);
      challenged += outcome.challenges.length;
      roundTrips.push(Date.now() - t0);
      await new Promise((r) => setTimeout(r, 300));
    }
    clearInterval(deafSending);
    clearInterval(trickling);
    roundTrips.sort((a, b) => a - b);
    const p99 = roundTrips[Math.floor(roundTrips.length * 0.99)] ?? 0;
    const rssAfter = memoryMb(workerd).rss;
    expect(roundTrips.length).toBeGreaterThan(30);
    expect(p99).toBeLessThan(1000);
    // The trickler's frame never completed: no message from it was handled, its socket is still open.
    expect(trickle.readyState).toBe(WebSocket.OPEN);
    console.info(
      `slow clients: honest REGISTER p50 ${roundTrips[Math.floor(roundTrips.length / 2)]} ms, p99 ${p99} ms over ${roundTrips.length} (${challenged} challenged); ` +
        `the deaf client asked ${asked} replies of ~${PAD / 1024} KB (${Math.round((asked * PAD) / 1024)} KB) in 15 s; workerd RSS ${rssBefore} → ${rssAfter} MB; ` +
        `the trickler sent ${sentBytes} bytes of a ${frame.length}-byte frame`,
    );
    deaf.terminate();
    trickle.terminate();
    await honest.close();
  }, 60_000);
});

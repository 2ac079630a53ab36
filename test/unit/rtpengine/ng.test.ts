import { afterEach, describe, expect, it } from "vitest";
import { NgSocket } from "../../../bridge/rtpengine/ng.ts";
import { createLogger } from "../../../src/log.ts";
import { NgPeer } from "./ng-peer.ts";

// The bridge's ng client (rtpengine's control protocol over UDP): cookies, retransmission with the
// same cookie (rtpengine answers a repeated cookie from its cache without running the command
// again), the reply matched by cookie and by who sent it, and a timeout as a value.

const log = createLogger("error");
const peers: NgPeer[] = [];
const sockets: NgSocket[] = [];

async function setup(options: { timeoutMs?: number; tries?: number } = {}) {
  const peer = await NgPeer.start();
  const socket = new NgSocket({ log, timeoutMs: options.timeoutMs ?? 100, tries: options.tries ?? 2 });
  peers.push(peer);
  sockets.push(socket);
  return { peer, socket };
}

afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
  for (const p of peers.splice(0)) p.close();
});

describe("ng client (bridge → rtpengine)", () => {
  it("sends `<cookie> <bencode>` and resolves with the dictionary answered under that cookie", async () => {
    const { peer, socket } = await setup();
    peer.answer = (req) => ({ result: "ok", sdp: `answered ${String(req.ng["call-id"])}` });
    const [a, b] = await Promise.all([
      socket.request(peer.address, { command: "offer", "call-id": "c1", sdp: "v=0" }),
      socket.request(peer.address, { command: "offer", "call-id": "c2", sdp: "v=0" }),
    ]);
    expect(a).toMatchObject({ ok: true, reply: { result: "ok", sdp: "answered c1" } });
    expect(b).toMatchObject({ ok: true, reply: { result: "ok", sdp: "answered c2" } });
    expect(new Set(peer.received.map((r) => r.cookie)).size).toBe(2); // one cookie per request
    expect(peer.received[0]?.cookie).toMatch(/^[0-9a-f]{12}_[0-9a-z]+$/);
  });

  it("resends with the same cookie when no reply came in time, and takes the reply to the copy", async () => {
    const { peer, socket } = await setup({ timeoutMs: 50, tries: 3 });
    peer.answer = (_req, copy) => (copy < 2 ? undefined : { result: "ok" }); // the first reply is "lost"
    const r = await socket.request(peer.address, { command: "offer", "call-id": "c1" });
    expect(r.ok).toBe(true);
    expect(peer.received).toHaveLength(2);
    expect(peer.received[0]?.cookie).toBe(peer.received[1]?.cookie);
    expect(socket.stats).toMatchObject({ sent: 1, retransmitted: 1, replies: 1 });
  });

  it("gives up after its tries with a timeout naming the instance (no throw)", async () => {
    const { peer, socket } = await setup({ timeoutMs: 30, tries: 2 });
    peer.answer = () => undefined;
    const started = performance.now();
    const r = await socket.request(peer.address, { command: "offer" });
    expect(r).toEqual({ ok: false, error: "timeout", detail: `no reply from 127.0.0.1:${peer.address.port} after 2 tries` });
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(peer.received).toHaveLength(2);
  });

  it("ignores a reply from anyone but the instance asked, and replies that do not decode", async () => {
    const { peer, socket } = await setup({ timeoutMs: 80, tries: 1 });
    const intruder = await NgPeer.start();
    peers.push(intruder);
    let cookie = "";
    peer.answer = (req) => {
      cookie = req.cookie;
      return undefined;
    };
    const pending = socket.request(peer.address, { command: "offer" });
    await new Promise((r) => setTimeout(r, 20));
    const me = { address: "127.0.0.1", port: socket.localPort ?? 0 };
    intruder.sendRaw(`${cookie} d6:result2:oke`, me); // right cookie, wrong sender
    peer.sendRaw(`${cookie} d6:result2:o`, me); // right sender, torn
    expect(await pending).toMatchObject({ ok: false, error: "timeout" });
    expect(socket.stats).toMatchObject({ stray: 1, unparseable: 1, replies: 0 });
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { RtpengineControl, type RtpengineReply } from "../../../bridge/rtpengine/control.ts";
import { NgSocket } from "../../../bridge/rtpengine/ng.ts";
import { parseRtpengineSock, RtpenginePool } from "../../../bridge/rtpengine/pool.ts";
import { createLogger } from "../../../src/log.ts";
import { NgPeer } from "./ng-peer.ts";

// Several rtpengines per bridge, the way Kamailio's rtpengine module keeps them: sets
// (`rtpengine_sock`), weighted choice for a new call, every later command of the call on the same
// instance, a silent instance disabled and pinged until it answers (`rtpengine_disable_tout`).

const lines: string[] = [];
const log = createLogger("info", (l) => lines.push(l));
const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  lines.length = 0;
});

async function pool(weights: number[], options: { disableMs?: number; timeoutMs?: number } = {}) {
  const peers = await Promise.all(weights.map(() => NgPeer.start()));
  const socket = new NgSocket({ log, timeoutMs: options.timeoutMs ?? 40, tries: 1 });
  const sets = parseRtpengineSock(peers.map((p, i) => `${p.url}=${weights[i]}`).join(" "));
  if (!sets.ok) throw new Error(sets.reason);
  const p = new RtpenginePool({ sets: sets.value, socket, log, disableMs: options.disableMs ?? 50 });
  cleanups.push(() => {
    p.stop();
    socket.close();
    for (const peer of peers) peer.close();
  });
  return { pool: p, peers };
}

const offer = (callId: string) => ({ command: "offer", "call-id": callId, "from-tag": "a", sdp: "v=0" });

describe("rtpengine_sock", () => {
  it("reads Kamailio's syntax: sets with `N ==`, URLs with weights, `;` between sets", () => {
    expect(parseRtpengineSock("udp:127.0.0.1:2223")).toEqual({ ok: true, value: [{ id: 0, instances: [{ url: "udp:127.0.0.1:2223", address: { address: "127.0.0.1", port: 2223 }, weight: 1 }] }] });
    const two = parseRtpengineSock("udp:10.0.0.5:2223=2 udp:[::1]:2224 ; 1 == udp:10.0.1.5:2223");
    expect(two.ok && two.value.map((s) => [s.id, s.instances.map((i) => `${i.address.address}:${i.address.port}=${i.weight}`)])).toEqual([
      [0, ["10.0.0.5:2223=2", "::1:2224=1"]],
      [1, ["10.0.1.5:2223=1"]],
    ]);
  });

  it("names what is wrong", () => {
    expect(parseRtpengineSock("tcp:127.0.0.1:2223")).toMatchObject({ ok: false, reason: expect.stringMatching(/expected udp:IP:PORT/) });
    expect(parseRtpengineSock("udp:rtp.example.com:2223")).toMatchObject({ ok: false });
    expect(parseRtpengineSock("udp:127.0.0.1:0")).toMatchObject({ ok: false, reason: expect.stringMatching(/invalid port/) });
    expect(parseRtpengineSock("udp:127.0.0.1:2223=0")).toMatchObject({ ok: false, reason: expect.stringMatching(/weight/) });
    expect(parseRtpengineSock("udp:127.0.0.1:1; udp:127.0.0.1:2")).toMatchObject({ ok: false, reason: "set 0 given twice" });
    expect(parseRtpengineSock(" ; ")).toMatchObject({ ok: false, reason: "no rtpengine given" });
  });
});

describe("rtpengine pool", () => {
  it("spreads new calls by weight and keeps every command of a call on its instance", async () => {
    // A generous ng timeout: on a loaded box a 40 ms one expired now and then, and the pool (rightly)
    // sent that call to the other instance, which moved the share this test reads.
    const { pool: p, peers } = await pool([3, 1], { timeoutMs: 2000 });
    for (let i = 0; i < 200; i++) expect((await p.command(0, offer(`call-${i}`))).ok).toBe(true);
    const share = peers[0]!.received.length / 200;
    expect(share).toBeGreaterThan(0.6);
    expect(share).toBeLessThan(0.9);
    // Later commands go where the offer went.
    for (let i = 0; i < 20; i++) {
      const at = peers.findIndex((peer) => peer.received.some((r) => r.ng["call-id"] === `call-${i}`));
      const before = peers[at]!.received.length;
      await p.command(0, { command: "answer", "call-id": `call-${i}`, "from-tag": "a", "to-tag": "b", sdp: "v=0" });
      expect(peers[at]!.received.length).toBe(before + 1);
    }
    expect(p.size).toBe(200);
  });

  it("forgets a call once it is deleted whole", async () => {
    const { pool: p } = await pool([1]);
    await p.command(0, offer("c1"));
    expect(p.size).toBe(1);
    await p.command(0, { command: "delete", "call-id": "c1", "from-tag": "a", "to-tag": "b" });
    expect(p.size).toBe(1); // one side only
    await p.command(0, { command: "delete", "call-id": "c1", "from-tag": "a" });
    expect(p.size).toBe(0);
  });

  it("a new call whose instance stays silent goes to the next one; silent ones are disabled, pinged, and used again once they answer", async () => {
    const { pool: p, peers } = await pool([1, 1], { disableMs: 30 });
    const [a, b] = peers as [NgPeer, NgPeer];
    a.answer = () => undefined;
    const first = await p.command(0, offer("c1"));
    // Whichever it tried first, the call ended on A's partner B (A never answers).
    expect(first).toMatchObject({ ok: true, instance: b.url });
    b.answer = () => undefined;
    for (let i = 0; i < 10 && !lines.some((l) => l.includes('"rtpengine down"') && l.includes(b.url)); i++) await p.command(0, offer(`probe-${i}`));
    // Both down: a new call is refused at once, with no timeout to wait.
    const started = performance.now();
    expect(await p.command(0, offer("c-none"))).toMatchObject({ ok: false, error: "unavailable" });
    expect(performance.now() - started).toBeLessThan(20);
    expect(lines.filter((l) => l.includes('"rtpengine down"'))).toHaveLength(2);
    // B answers its pings again: it comes back and takes new calls.
    b.answer = (req) => (req.ng.command === "ping" ? { result: "pong" } : { result: "ok" });
    await new Promise((r) => setTimeout(r, 120));
    expect(lines.some((l) => l.includes('"rtpengine up"') && l.includes(b.url))).toBe(true);
    expect(await p.command(0, offer("c-new"))).toMatchObject({ ok: true, instance: b.url });
  });

  it("a call pinned to an instance that went down fails at once: its media lives there, no other instance can take it", async () => {
    const { pool: p, peers } = await pool([1]);
    await p.command(0, offer("c1"));
    peers[0]!.answer = () => undefined;
    expect(await p.command(0, { command: "answer", "call-id": "c1", "from-tag": "a", "to-tag": "b", sdp: "v=0" })).toMatchObject({ ok: false, error: "timeout" });
    expect(await p.command(0, { command: "delete", "call-id": "c1", "from-tag": "a" })).toMatchObject({ ok: false, error: "unavailable" });
  });

  it("rtpengine's own error is `refused` with its error-reason, and is not tried elsewhere", async () => {
    const { pool: p, peers } = await pool([1, 1]);
    for (const peer of peers) peer.answer = () => ({ result: "error", "error-reason": "Incomplete SDP specification" });
    expect(await p.command(0, offer("c1"))).toMatchObject({ ok: false, error: "refused", detail: "Incomplete SDP specification" });
    expect(peers[0]!.received.length + peers[1]!.received.length).toBe(1);
    expect(await p.command(7, offer("c2"))).toMatchObject({ ok: false, error: "unavailable", detail: "no rtpengine set 7" });
  });
});

describe("rtpengine control frames (edge ↔ bridge)", () => {
  async function control(pooled = true) {
    const { pool: p, peers } = await pool([1]);
    const c = new RtpengineControl(pooled ? p : undefined, log);
    const answers: RtpengineReply[] = [];
    return { c, peers, answers, send: (frame: Record<string, unknown>) => c.handle(frame, (a) => answers.push(a)) };
  }

  it("runs an allowed command and answers with the same id, rtpengine's dictionary and the instance", async () => {
    const { answers, send, peers } = await control();
    peers[0]!.answer = () => ({ result: "ok", sdp: "v=0\r\n" });
    await send({ type: "rtpengine", id: "s1.0", set: 0, ng: offer("c1") });
    expect(answers).toEqual([{ type: "rtpengine", id: "s1.0", ok: true, ng: { result: "ok", sdp: "v=0\r\n" }, instance: peers[0]!.url, ms: expect.any(Number) }]);
  });

  it("refuses commands outside the allow-list and malformed requests, naming why", async () => {
    const { answers, send, peers } = await control();
    await send({ type: "rtpengine", id: "1", ng: { command: "list" } });
    await send({ type: "rtpengine", id: "2", ng: { command: "offer", "call-id": 1.5 } });
    await send({ type: "rtpengine", id: "3", set: "x", ng: offer("c") });
    await send({ type: "rtpengine", ng: offer("c") }); // no id: nothing to answer
    expect(answers.map((a) => [a.id, a.ok ? "ok" : a.error])).toEqual([["1", "invalid"], ["2", "invalid"], ["3", "invalid"]]);
    expect(peers[0]!.received).toHaveLength(0);
  });

  it("a bridge without --rtpengine answers `unavailable`", async () => {
    const { answers, send } = await control(false);
    await send({ type: "rtpengine", id: "1", ng: offer("c") });
    expect(answers[0]).toMatchObject({ ok: false, error: "unavailable", detail: expect.stringMatching(/--rtpengine/) });
  });
});

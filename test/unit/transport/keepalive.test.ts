import { describe, expect, it } from "vitest";
import { makeBranch } from "../../../src/modules/tm/branch-id.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { judge, nextLook, pingBranch, pingOf, pingRequest, type KeepaliveConfig, type Liveness } from "../../../src/transport/keepalive.ts";
import { Signer } from "../../../src/util/signer.ts";

// The rules of src/transport/keepalive.ts on an injected clock: the shard's sweep applies them to
// each socket once per WS_KEEPALIVE_INTERVAL.
const cfg: KeepaliveConfig = { intervalMs: 30_000, timeoutMs: 10_000, idleMs: 60_000 };
const T0 = 1_000_000;
const socket = (s: Partial<Liveness> = {}): Liveness => ({
  connectedAt: T0, firstAt: T0 + 100, seenAt: undefined, keepaliveAt: undefined, provenAt: undefined, pingedAt: undefined, ...s,
});
const signer = new Signer({ current: "test secret" }, "sipedge branch");

describe("WebSocket liveness rules (Kamailio websocket keepalive, nathelper sipping)", () => {
  it("closes a socket that sent no SIP message within WS_IDLE_TIMEOUT of opening, and never pings it", () => {
    const silent = socket({ firstAt: undefined });
    expect(judge(silent, cfg, T0 + 59_999)).toEqual({ action: "none" });
    expect(judge(silent, cfg, T0 + 60_000)).toEqual({ action: "close", reason: "idle" });
    expect(nextLook(silent, cfg)).toBe(T0 + 60_000);
    expect(judge(silent, { ...cfg, idleMs: 0 }, T0 + 3_600_000)).toEqual({ action: "none" });
  });

  it("pings a client that sent requests but has not answered the edge for an interval: a deaf client cannot hide behind its own requests", () => {
    const busy = socket({ seenAt: T0 + 29_000 });
    expect(judge(busy, cfg, T0 + 29_999)).toEqual({ action: "none" });
    expect(judge(busy, cfg, T0 + 30_000)).toEqual({ action: "ping" });
    // Its requests go on after the ping: only the answer counts.
    const pinged = { ...busy, pingedAt: T0 + 30_000, seenAt: T0 + 39_000, keepaliveAt: T0 + 39_500 };
    expect(judge(pinged, cfg, T0 + 39_999)).toEqual({ action: "none" });
    expect(nextLook(pinged, cfg)).toBe(T0 + 40_000);
    expect(judge(pinged, cfg, T0 + 40_000)).toEqual({ action: "close", reason: "keepalive-timeout" });
  });

  it("pings a silent socket once per interval after its last answer, and leaves it alone while the answer is recent", () => {
    const answered = socket({ provenAt: T0 + 30_500 });
    expect(judge(answered, cfg, T0 + 60_000)).toEqual({ action: "none" });
    expect(judge(answered, cfg, T0 + 60_500)).toEqual({ action: "ping" });
  });

  it("never pings a client that only sends RFC 5626 CRLF keep-alives after its last proof", () => {
    const crlf = socket({ provenAt: T0 + 30_000, seenAt: T0 + 20_000 });
    for (let t = T0 + 60_000; t < T0 + 600_000; t += 30_000) {
      expect(judge({ ...crlf, keepaliveAt: t - 1000 }, cfg, t)).toEqual({ action: "none" });
    }
    // Once its keep-alives stop, it is silent: pinged.
    expect(judge({ ...crlf, keepaliveAt: T0 + 100_000 }, cfg, T0 + 130_000)).toEqual({ action: "ping" });
  });

  it("after hibernation (no time of the latest message), a socket is at worst pinged early, never closed without an unanswered ping", () => {
    const woke = socket({ seenAt: undefined, provenAt: T0 });
    expect(judge(woke, cfg, T0 + 30_100).action).toBe("ping");
    for (let t = T0; t < T0 + 3_600_000; t += 5000) expect(judge({ ...woke, pingedAt: undefined }, cfg, t).action).not.toBe("close");
  });

  it("with WS_KEEPALIVE_INTERVAL=0 nothing is pinged or closed once a socket has spoken", () => {
    const off = { ...cfg, intervalMs: 0 };
    expect(judge(socket({ seenAt: T0 + 1 }), off, T0 + 3_600_000)).toEqual({ action: "none" });
    expect(judge(socket({ pingedAt: T0 }), off, T0 + 3_600_000)).toEqual({ action: "none" });
  });
});

describe("the ping and its answer", () => {
  const flow = "3.s0b8c7a1e-7e0f-4c6b-9d7e-2f1a0c9e8d7b";

  it("is an OPTIONS from sip:pinger@<domain> whose signed branch names the shard and leads the answer back to the flow and the ping", () => {
    const branch = pingBranch(flow, T0, signer);
    const text = pingRequest({ flow, branch, from: "sip:pinger@sip.example.test", uri: "sip:sip.example.test", transport: "wss", host: "sip.example.test", serverHeader: "sipedge" });
    const parsed = parseMessage(text);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok || parsed.message.kind !== "request") throw new Error("not a request");
    expect(parsed.message.method).toBe("OPTIONS");
    expect(parsed.message.topVia().branch).toBe(branch);
    expect(text).toContain("Via: SIP/2.0/WSS sip.example.test;branch=z9hG4bK-se-3.");
    expect(text).toMatch(/From: <sip:pinger@sip\.example\.test>;tag=/);
    expect(parsed.message.callId).toBe(branch);
    expect(pingOf(branch, signer)).toEqual({ flow, pingedAt: T0 });
  });

  it("is not recognised in a forged, altered or transaction branch", () => {
    const branch = pingBranch(flow, T0, signer);
    expect(pingOf(branch, new Signer({ current: "another secret" }, "sipedge branch"))).toBeUndefined();
    expect(pingOf(branch.replace(".s0b8", ".s0b9"), signer)).toBeUndefined();
    expect(pingOf(makeBranch("3", "1x2y3z", "t1", 0, signer), signer)).toBeUndefined();
    expect(pingOf("z9hG4bKclient.~ka.1", signer)).toBeUndefined();
    expect(pingOf(undefined, signer)).toBeUndefined();
  });
});

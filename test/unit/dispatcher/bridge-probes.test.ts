// The Dispatcher object's keepalives through a bridge link, and the liveness ping that tells a
// silent gateway (408) from a frozen bridge (lost, link closed).
import { describe, expect, it } from "vitest";
import { LinkProbes, UNRESPONSIVE_CLOSE, type ProbeLink } from "../../../durable-objects/bridge-probes.ts";
import type { Probe } from "../../../durable-objects/bridge-probes.ts";
import { createLogger } from "../../../src/log.ts";
import type { SipResponse } from "../../../src/sip/message.ts";
import { parseMessage } from "../../../src/sip/parser.ts";

const TIMEOUT_MS = 60;
const PROBES: Probe[] = [
  { uri: "sip:127.0.0.70:5060", dst: "127.0.0.70:5060", from: "sip:pinger@sip.example.test" },
  { uri: "sip:127.0.0.71:5060", dst: "127.0.0.71:5060", from: "sip:pinger@sip.example.test" },
];

/** A link whose bridge answers pings when `answersPings`, and whose gateways answer keepalives listed in `answering`. */
function setup(options: { pong: boolean; answersPings: boolean; answering?: string[] }) {
  const closed: { code: number; reason: string }[] = [];
  const controls: Record<string, unknown>[] = [];
  const ws = { readyState: WebSocket.OPEN } as unknown as WebSocket;
  const logs: string[] = [];
  const probes = new LinkProbes(createLogger("info", (line) => logs.push(line)), (_ws, code, reason) => {
    (ws as { readyState: number }).readyState = WebSocket.CLOSING;
    closed.push({ code, reason });
  });
  const link: ProbeLink = {
    ws,
    bridge: "b1",
    advertise: { host: "127.0.0.60", port: 5060 },
    pong: options.pong,
    out: {
      control(json) {
        const body = JSON.parse(json) as Record<string, unknown>;
        controls.push(body);
        if (options.answersPings) setTimeout(() => probes.pong({ type: "pong", id: body["id"] }), 5);
      },
      datagram(dst, message) {
        if (!(options.answering ?? []).includes(dst)) return;
        setTimeout(() => probes.reply(answer(message)), 5);
      },
    },
  };
  return { probes, link, closed, controls, logs, ws };
}

function answer(options: string): SipResponse {
  const head = options.split("\r\n").filter((l) => /^(Via|From|To|Call-ID|CSeq):/.test(l));
  const parsed = parseMessage(["SIP/2.0 200 OK", ...head.map((l) => (l.startsWith("To:") ? `${l};tag=gw` : l)), "Content-Length: 0", "", ""].join("\r\n"));
  if (!parsed.ok || parsed.message.kind !== "response") throw new Error("bad answer");
  return parsed.message;
}

describe("keepalives through a bridge link", () => {
  it("a silent gateway behind a bridge that answers its ping counts as 408; the answering one with its status", async () => {
    const { probes, link, closed, controls } = setup({ pong: true, answersPings: true, answering: ["127.0.0.70:5060"] });
    const results = await probes.round(link, PROBES, TIMEOUT_MS, "3");
    expect(results.map((r) => [r.uri, r.status, r.lost ?? false, r.frozen])).toEqual([
      ["sip:127.0.0.70:5060", 200, false, undefined],
      ["sip:127.0.0.71:5060", 408, false, undefined],
    ]);
    expect(controls).toEqual([{ type: "ping", id: expect.any(String) }]);
    expect(closed).toEqual([]);
  });

  it("a bridge that leaves its ping unanswered is frozen: its silent keepalives are lost (no verdict) and its link is closed", async () => {
    const { probes, link, closed, logs } = setup({ pong: true, answersPings: false });
    const results = await probes.round(link, PROBES, TIMEOUT_MS, "3");
    expect(results.map((r) => [r.uri, r.status, r.lost])).toEqual([
      ["sip:127.0.0.70:5060", 0, true],
      ["sip:127.0.0.71:5060", 0, true],
    ]);
    // The Dispatcher object has the bridge's links in the other shards closed: those opened before the ping.
    expect(results.map((r) => r.frozen?.bridge)).toEqual(["b1", "b1"]);
    expect(results[0]!.frozen!.since).toBeLessThanOrEqual(Date.now() - TIMEOUT_MS);
    expect(closed).toEqual([{ code: UNRESPONSIVE_CLOSE, reason: "bridge unresponsive" }]);
    expect(logs.some((l) => l.includes("bridge link unresponsive: closed") && l.includes('"bridge":"b1"'))).toBe(true);
  });

  it("a bridge whose hello did not offer pong gets no ping, and silence counts as 408 as before", async () => {
    const { probes, link, closed, controls } = setup({ pong: false, answersPings: false });
    const results = await probes.round(link, PROBES, TIMEOUT_MS, "3");
    expect(results.map((r) => r.status)).toEqual([408, 408]);
    expect(controls).toEqual([]);
    expect(closed).toEqual([]);
  });

  it("keepalives in flight on a link that closes end at once as lost", async () => {
    const { probes, link, ws } = setup({ pong: true, answersPings: true });
    const round = probes.round(link, PROBES, 10_000, "3");
    const started = Date.now();
    probes.lostWith(ws);
    const results = await round;
    expect(results.every((r) => r.lost === true && r.status === 0)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("replies to others' branches are not consumed; a pong for an unknown id changes nothing", () => {
    const { probes } = setup({ pong: true, answersPings: true });
    const other = parseMessage("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.60;branch=z9hG4bKcall1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
    if (!other.ok || other.message.kind !== "response") throw new Error("bad fixture");
    expect(probes.reply(other.message)).toBe(false);
    probes.pong({ type: "pong", id: "nobody" });
    probes.pong({ type: "pong" });
  });
});

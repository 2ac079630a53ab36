import { describe, expect, it } from "vitest";
import { shardParam } from "../../../bridge/bridge.ts";
import { datagramFrame, parseEdgeFrame, parseTarget } from "../../../bridge/frame.ts";
import { backoffDelay } from "../../../bridge/link.ts";

describe("link frames", () => {
  it("a datagram frame from the edge splits into the destination line and the message bytes", () => {
    const frame = parseEdgeFrame(Buffer.from("127.0.0.1:7070\r\nOPTIONS sip:x SIP/2.0\r\n\r\n"), false);
    expect(frame.kind).toBe("datagram");
    if (frame.kind !== "datagram") return;
    expect(frame.target).toBe("127.0.0.1:7070");
    expect(frame.payload.toString()).toBe("OPTIONS sip:x SIP/2.0\r\n\r\n");
  });

  it("a frame starting with { is a JSON control frame", () => {
    expect(parseEdgeFrame(Buffer.from('{"type":"error","reason":"x"}'), false)).toEqual({
      kind: "control",
      control: { type: "error", reason: "x" },
    });
    expect(parseEdgeFrame(Buffer.from("{nope"), false).kind).toBe("invalid");
  });

  it("a frame without an address line is invalid", () => {
    expect(parseEdgeFrame(Buffer.from("OPTIONS sip:x SIP/2.0"), false).kind).toBe("invalid");
    expect(parseEdgeFrame(Buffer.from("\r\nOPTIONS sip:x SIP/2.0"), false).kind).toBe("invalid");
  });

  it("a UTF-8 datagram travels in a text frame, any other bytes in a binary frame, unchanged", () => {
    const utf8 = datagramFrame("127.0.0.1:7070", Buffer.from("MESSAGE sip:x SIP/2.0\r\n\r\nhé"));
    expect(utf8.binary).toBe(false);
    expect(utf8.head + utf8.body.toString()).toBe("127.0.0.1:7070\r\nMESSAGE sip:x SIP/2.0\r\n\r\nhé");
    const raw = Buffer.from([0x4d, 0x0d, 0x0a, 0xff, 0xfe]);
    const binary = datagramFrame("[::1]:5060", raw);
    expect(binary.binary).toBe(true);
    expect(binary.head).toBe("[::1]:5060\r\n");
    expect(binary.body).toBe(raw); // the datagram's own memory: no copy
  });

  it("destinations: IP literals, bracketed IPv6, host names with and without port", () => {
    expect(parseTarget("127.0.0.1:7070")).toEqual({ ok: true, value: { host: "127.0.0.1", port: 7070, ip: 4 } });
    expect(parseTarget("[::1]:5062")).toEqual({ ok: true, value: { host: "::1", port: 5062, ip: 6 } });
    expect(parseTarget("GW.Example.test")).toEqual({ ok: true, value: { host: "gw.example.test", port: undefined, ip: 0 } });
    expect(parseTarget("gw.test:5080")).toEqual({ ok: true, value: { host: "gw.test", port: 5080, ip: 0 } });
    for (const bad of ["127.0.0.1:0", "127.0.0.1:70000", "[::1", "[::1]x", "bad host:5060", ":5060", "a..b"]) {
      expect(parseTarget(bad).ok, bad).toBe(false);
    }
  });

  it("the shard parameter the edge writes into Record-Route or Contact picks the shard", () => {
    expect(shardParam("<sip:127.0.0.1:5060;lr;shard=3>", 4)).toBe(3);
    expect(shardParam("sip:alice@127.0.0.1:5060;shard=12", 16)).toBe(12);
    expect(shardParam("<sip:127.0.0.1:5060;lr;shard=4>", 4)).toBeUndefined();
    expect(shardParam("<sip:127.0.0.1:5060;lr>", 4)).toBeUndefined();
    expect(shardParam(undefined, 4)).toBeUndefined();
  });
});

describe("reconnect backoff", () => {
  const backoff = { baseMs: 500, capMs: 30_000, resetAfterMs: 10_000 };

  it("is full jitter over an exponential ceiling: uniform in [0, min(cap, base * 2^attempt))", () => {
    expect([0, 1, 2, 3, 6, 7, 40].map((n) => backoffDelay(backoff, n, () => 0.999999))).toEqual([
      499, 999, 1999, 3999, 29_999, 29_999, 29_999,
    ]);
    expect(backoffDelay(backoff, 5, () => 0)).toBe(0);
    expect(backoffDelay(backoff, 5, () => 0.5)).toBe(8000);
  });
});

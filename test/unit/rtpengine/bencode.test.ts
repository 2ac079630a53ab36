import { describe, expect, it } from "vitest";
import { decode, encode } from "../../../bridge/rtpengine/bencode.ts";

// Bencode as rtpengine's ng protocol uses it (BEP 3 encoding): integers, byte strings, lists and
// dictionaries with keys sorted as raw byte strings.

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");
const bytes = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

describe("bencode", () => {
  it("encodes the ng ping and an offer exactly as rtpengine expects them", () => {
    expect(text(encode({ command: "ping" }))).toBe("d7:command4:pinge");
    expect(text(encode({ command: "offer", "call-id": "c1", "from-tag": "a", flags: ["trust-address"], replace: ["origin"] }))).toBe(
      "d7:call-id2:c17:command5:offer5:flagsl13:trust-addresse8:from-tag1:a7:replacel6:originee",
    );
  });

  it("sorts dictionary keys as raw bytes (uppercase before lowercase, shorter prefix first)", () => {
    expect(text(encode({ b: 1, a: 2, ICE: "remove", "a-b": 3, DTLS: "off" }))).toBe("d4:DTLS3:off3:ICE6:remove1:ai2e3:a-bi3e1:bi1ee");
  });

  it("counts string lengths in UTF-8 bytes, not characters", () => {
    expect(text(encode("s=Café"))).toBe("7:s=Caf\u00c3\u00a9");
    expect(decode(encode("s=Café"))).toEqual({ ok: true, value: "s=Café" });
  });

  it("round-trips nested values, negative integers and empty containers", () => {
    const value = { totals: { RTP: { packets: 56, bytes: -1 } }, tags: [], sdp: "v=0\r\n", list: [[], {}, "x"] };
    expect(decode(encode(value))).toEqual({ ok: true, value });
  });

  it("omits undefined dictionary entries and refuses what bencode cannot carry", () => {
    expect(text(encode({ a: "x", b: undefined as unknown as string }))).toBe("d1:a1:xe");
    expect(() => encode(1.5)).toThrow(/not an integer/);
    expect(() => encode(null as unknown as string)).toThrow(/cannot encode/);
  });

  it("rejects torn, padded and malformed input with a reason, never a throw", () => {
    for (const [input, reason] of [
      ["d7:command4:pin", /truncated/],
      ["d7:command4:pingee", /trailing/],
      ["i03e", /invalid integer/],
      ["i-0e", /invalid integer/],
      ["ie", /invalid integer/],
      ["di1ei2ee", /key is not a string/],
      ["5x:abcde", /invalid string length|truncated/],
      ["x", /unexpected byte/],
      ["", /truncated/],
    ] as const) {
      const r = decode(bytes(input));
      expect(r.ok, input).toBe(false);
      if (!r.ok) expect(r.reason, input).toMatch(reason);
    }
  });

  it("bounds nesting, so a crafted reply cannot exhaust the stack", () => {
    const deep = "l".repeat(100) + "e".repeat(100);
    expect(decode(bytes(deep))).toMatchObject({ ok: false, reason: expect.stringMatching(/nested too deeply/) });
  });

  it("refuses strings that are not UTF-8", () => {
    expect(decode(new Uint8Array([0x32, 0x3a, 0xc3, 0x28]))).toMatchObject({ ok: false, reason: expect.stringMatching(/UTF-8/) });
  });
});

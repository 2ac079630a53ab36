import { describe, expect, it } from "vitest";
import { formatCSeq, parseCSeq } from "../../../src/sip/cseq.ts";

function reason(text: string): string {
  const parsed = parseCSeq(text);
  if (parsed.ok) throw new Error(`${text} should not parse`);
  return parsed.reason;
}

describe("CSeq (RFC 3261 §20.16)", () => {
  it("reads the sequence number and method", () => {
    expect(parseCSeq("4711 INVITE")).toEqual({ ok: true, value: { seq: 4711, method: "INVITE" } });
  });

  it("accepts leading zeros and a folded LWS before the method (RFC 4475 wsinv)", () => {
    expect(parseCSeq(" 0009\r\n  INVITE")).toEqual({ ok: true, value: { seq: 9, method: "INVITE" } });
  });

  it("accepts 2**31 - 1 and rejects 2**31 (RFC 3261 §8.1.1.5)", () => {
    expect(parseCSeq("2147483647 REGISTER").ok).toBe(true);
    expect(reason("2147483648 REGISTER")).toBe("sequence number not below 2**31");
  });

  it("rejects a sequence number far beyond 32 bits (RFC 4475 scalar02, scalarlg)", () => {
    expect(reason("36893488147419103232 REGISTER")).toBe("sequence number not below 2**31");
    expect(reason("9292394834772304023312 OPTIONS")).toBe("sequence number not below 2**31");
  });

  it("keeps an extension method with every token character as written (RFC 4475 intmeth)", () => {
    const parsed = parseCSeq("139122385 !interesting-Method0123456789_*+`.%indeed'~");
    expect(parsed.ok && parsed.value).toEqual({ seq: 139122385, method: "!interesting-Method0123456789_*+`.%indeed'~" });
  });

  it.each([
    ["INVITE", "missing sequence number"],
    ["12", "missing method"],
    ["12INVITE", "character 'I' in sequence number"],
    ["-1 INVITE", "missing sequence number"],
    ["1 INVITE BYE", "whitespace in method"],
    ["1 INV<ITE", "character '<' in method"],
    ["", "missing sequence number"],
  ])("rejects %j (%s)", (text, why) => {
    expect(reason(text)).toBe(why);
  });

  it("formats a CSeq value that parses back", () => {
    const text = formatCSeq({ seq: 101, method: "BYE" });
    expect(text).toBe("101 BYE");
    expect(parseCSeq(text)).toEqual({ ok: true, value: { seq: 101, method: "BYE" } });
  });
});

import { describe, expect, it } from "vitest";
import { ownString } from "../../../src/util/own-string.ts";

describe("ownString", () => {
  it("copies short and empty strings, including non-ASCII characters", () => {
    expect(ownString("")).toBe("");
    const message = "REGISTER sip:x SIP/2.0\r\nCall-ID: a84b4c76e66710@pc33\r\nUser-Agent: Grüße ☎\r\n";
    expect(ownString(message.slice(24, 55))).toBe("Call-ID: a84b4c76e66710@pc33\r\nU");
    expect(ownString("Grüße ☎ 𝄞")).toBe("Grüße ☎ 𝄞");
  });

  it("copies a value far longer than a call's argument limit (a User-Agent under a raised MAX_MESSAGE_SIZE)", () => {
    const long = `${"x".repeat(300_000)}𝄞${"y".repeat(8191)}`;
    const copy = ownString(long.slice(1));
    expect(copy.length).toBe(long.length - 1);
    expect(copy).toBe(long.slice(1));
  });
});

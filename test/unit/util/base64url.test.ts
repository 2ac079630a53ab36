import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { encodeBase64url } from "../../../src/util/base64url.ts";

describe("encodeBase64url", () => {
  it("matches Node's base64url for every length from 0 to 70 bytes, whole or a prefix", () => {
    for (let n = 0; n <= 70; n++) {
      const bytes = randomBytes(n + 5);
      expect(encodeBase64url(bytes.subarray(0, n))).toBe(bytes.subarray(0, n).toString("base64url"));
      expect(encodeBase64url(bytes, n)).toBe(bytes.subarray(0, n).toString("base64url"));
    }
  });

  it("returns a value of its own each time, though its buffer is reused", () => {
    const a = encodeBase64url(Uint8Array.of(0, 0, 0));
    const b = encodeBase64url(Uint8Array.of(255, 255, 255));
    expect([a, b]).toEqual(["AAAA", "____"]);
  });
});

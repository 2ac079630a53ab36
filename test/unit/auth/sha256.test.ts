import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256Hex, toHex } from "../../../src/modules/auth/hash.ts";
import { HmacSha256 } from "../../../src/util/sha256.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

function hmacHex(key: Uint8Array, data: Uint8Array): string {
  const out = new Uint8Array(32);
  new HmacSha256(key).mac(data, data.length, out);
  return toHex(out);
}

describe("SHA-256 (FIPS 180-4)", () => {
  it("matches the FIPS 180-2 appendix B examples", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).toBe(
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
  });

  it("agrees with node:crypto at every length around the padding edges and for UTF-8", () => {
    for (let n = 0; n < 200; n++) {
      const s = "y".repeat(n);
      expect(sha256Hex(s)).toBe(createHash("sha256").update(s).digest("hex"));
    }
    expect(sha256Hex("Mufasa:http-auth@example.org:Circle of Life ☎")).toBe(
      createHash("sha256").update("Mufasa:http-auth@example.org:Circle of Life ☎", "utf8").digest("hex"),
    );
  });
});

describe("HMAC-SHA256 (RFC 2104)", () => {
  it("matches RFC 4231 test cases 1 and 2", () => {
    expect(hmacHex(new Uint8Array(20).fill(0x0b), bytes("Hi There"))).toBe("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    expect(hmacHex(bytes("Jefe"), bytes("what do ya want for nothing?"))).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });

  it("matches RFC 4231 test case 6 (a key longer than the block is hashed first)", () => {
    const key = new Uint8Array(131).fill(0xaa);
    expect(hmacHex(key, bytes("Test Using Larger Than Block-Size Key - Hash Key First"))).toBe(
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    );
  });

  it("agrees with node:crypto for many message lengths, reusing one keyed instance", () => {
    const key = bytes("rotate-me");
    const mac = new HmacSha256(key);
    const out = new Uint8Array(32);
    for (let n = 0; n < 150; n++) {
      const data = bytes("z".repeat(n));
      mac.mac(data, data.length, out);
      expect(toHex(out)).toBe(createHmac("sha256", key).update(data).digest("hex"));
    }
  });
});

import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { buildChallenges, quote } from "../../../src/modules/auth/challenge.ts";
import { computeHa1, computeResponse } from "../../../src/modules/auth/digest.ts";
import { hexEquals, parseAlgorithm } from "../../../src/modules/auth/hash.ts";
import { md5Hex } from "../../../src/modules/auth/md5.ts";

describe("md5Hex", () => {
  it("matches the RFC 1321 §A.5 test suite", () => {
    expect(md5Hex("")).toBe("d41d8cd98f00b204e9800998ecf8427e");
    expect(md5Hex("a")).toBe("0cc175b9c0f1b6a831c399e269772661");
    expect(md5Hex("abc")).toBe("900150983cd24fb0d6963f7d28e17f72");
    expect(md5Hex("message digest")).toBe("f96b697d7cb7938d525a2f31aaf161d0");
    expect(md5Hex("abcdefghijklmnopqrstuvwxyz")).toBe("c3fcd3d76192e4007dfb496cca67e13b");
    expect(md5Hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890")).toBe(
      "57edf4a22be3c955ac49da2e2107b67a",
    );
  });

  it("agrees with node:crypto at every length around the 55/56/64-byte padding edges and for UTF-8", () => {
    for (let n = 0; n < 200; n++) {
      const s = "x".repeat(n);
      expect(md5Hex(s)).toBe(createHash("md5").update(s).digest("hex"));
    }
    for (const s of ["ünïcödé:realm:pässwörd", "☎ call me", "emoji 😀 user", "é".repeat(70)]) {
      expect(md5Hex(s)).toBe(createHash("md5").update(s, "utf8").digest("hex"));
    }
  });
});

describe("digest response (RFC 2617, RFC 7616)", () => {
  it("reproduces the RFC 2617 §3.5 Mufasa example", () => {
    // Authorization: Digest username="Mufasa", realm="testrealm@host.com",
    //   nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth,
    //   nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1"
    const ha1 = computeHa1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life");
    const response = computeResponse({
      algorithm: "MD5",
      ha1,
      nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
      method: "GET",
      uri: "/dir/index.html",
      qop: "auth",
      nc: "00000001",
      cnonce: "0a4f113b",
    });
    expect(response).toBe("6629fae49393a05397450978507c4ef1");
  });

  it("reproduces the RFC 7616 §3.9.1 SHA-256 and MD5 examples", () => {
    const common = {
      nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
      method: "GET",
      uri: "/dir/index.html",
      qop: "auth" as const,
      nc: "00000001",
      cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    };
    // RFC 7616 errata 4495: the password in §3.9.1 is "Circle of Life" (lowercase "of").
    const sha = computeHa1("SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life");
    expect(computeResponse({ ...common, algorithm: "SHA-256", ha1: sha })).toBe(
      "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    );
    const md5 = computeHa1("MD5", "Mufasa", "http-auth@example.org", "Circle of Life");
    expect(computeResponse({ ...common, algorithm: "MD5", ha1: md5 })).toBe("8ca523f5e9506fed4657c9700eebdbec");
  });

  it("computes the RFC 2069 form (no qop) as H(HA1:nonce:HA2)", () => {
    const ha1 = md5Hex("Mufasa:testrealm@host.com:Circle Of Life");
    const ha2 = md5Hex("GET:/dir/index.html");
    const nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
    const response = computeResponse({ algorithm: "MD5", ha1, nonce, method: "GET", uri: "/dir/index.html" });
    expect(response).toBe(md5Hex(`${ha1}:${nonce}:${ha2}`));
  });

  it("hashes HA1 with nonce and cnonce for the -sess algorithms and the body for auth-int", () => {
    const ha1 = md5Hex("bob:biloxi.com:zanzibar");
    const base = { ha1, nonce: "n", method: "INVITE", uri: "sip:bob@biloxi.com", nc: "00000001", cnonce: "c" };
    const sess = computeResponse({ ...base, algorithm: "MD5-sess", qop: "auth" });
    const ha1sess = md5Hex(`${ha1}:n:c`);
    expect(sess).toBe(md5Hex(`${ha1sess}:n:00000001:c:auth:${md5Hex("INVITE:sip:bob@biloxi.com")}`));
    const int = computeResponse({ ...base, algorithm: "MD5", qop: "auth-int", body: "v=0\r\n" });
    const ha2 = md5Hex(`INVITE:sip:bob@biloxi.com:${md5Hex("v=0\r\n")}`);
    expect(int).toBe(md5Hex(`${ha1}:n:00000001:c:auth-int:${ha2}`));
  });

  it("names algorithms without regard to case and defaults an absent one to MD5", () => {
    expect(parseAlgorithm(undefined)).toBe("MD5");
    expect(parseAlgorithm("md5")).toBe("MD5");
    expect(parseAlgorithm("sha-256-SESS")).toBe("SHA-256-sess");
    expect(parseAlgorithm("SHA-512-256")).toBeUndefined();
  });

  it("compares responses without regard to hex case", () => {
    expect(hexEquals("6629fae49393a05397450978507c4ef1", "6629FAE49393A05397450978507C4EF1")).toBe(true);
    expect(hexEquals("6629fae49393a05397450978507c4ef1", "6629fae49393a05397450978507c4ef2")).toBe(false);
    expect(hexEquals("abc", "abcd")).toBe(false);
    expect(hexEquals("0", "\u0010")).toBe(false);
  });
});

describe("challenge quoting (RFC 3261 §25.1 quoted-string)", () => {
  it("quotes a plain realm as it is and backslash-escapes quote and backslash", () => {
    expect(quote("sip.example.test")).toBe('"sip.example.test"');
    expect(quote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quote("")).toBe('""');
  });

  it("puts the quoted realm into every challenge", () => {
    const values = buildChallenges({ realm: 'x"y', nonce: "n", algorithms: ["SHA-256", "MD5"] });
    expect(values).toEqual(['Digest realm="x\\"y", nonce="n", qop="auth", algorithm=SHA-256', 'Digest realm="x\\"y", nonce="n", qop="auth", algorithm=MD5']);
  });
});

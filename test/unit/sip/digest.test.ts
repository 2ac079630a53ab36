import { describe, expect, it } from "vitest";
import { formatChallenge, formatCredentials, parseChallenge, parseCredentials } from "../../../src/sip/digest.ts";
import type { Challenge, Credentials, DigestCredentials } from "../../../src/sip/digest.ts";

function credentials(text: string): Credentials {
  const parsed = parseCredentials(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  return parsed.value;
}

function digest(text: string): DigestCredentials {
  const c = credentials(text);
  if (c.kind !== "digest") throw new Error(`${text}: not Digest`);
  return c;
}

function reason(text: string): string {
  const parsed = parseCredentials(text);
  if (parsed.ok) throw new Error(`${text} should not parse`);
  return parsed.reason;
}

function challenge(text: string): Challenge {
  const parsed = parseChallenge(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  return parsed.value;
}

// RFC 2617 §3.5, the "Mufasa" example, folded as the RFC prints it.
const MUFASA_CREDENTIALS = `Digest username="Mufasa",
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        uri="/dir/index.html",
        qop=auth,
        nc=00000001,
        cnonce="0a4f113b",
        response="6629fae49393a05397450978507c4ef1",
        opaque="5ccc069c403ebaf9f0171e9517f40e41"`.replace(/\n/g, "\r\n");

describe("Authorization credentials (RFC 2617 §3.2.2, RFC 7616 §3.4)", () => {
  it("reads the RFC 2617 Mufasa credentials", () => {
    const c = digest(MUFASA_CREDENTIALS);
    expect(c).toMatchObject({
      kind: "digest",
      username: "Mufasa",
      realm: "testrealm@host.com",
      nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
      uri: "/dir/index.html",
      qop: "auth",
      nc: "00000001",
      cnonce: "0a4f113b",
      response: "6629fae49393a05397450978507c4ef1",
      opaque: "5ccc069c403ebaf9f0171e9517f40e41",
    });
    expect(c.algorithm).toBeUndefined();
    expect(c.params.size).toBe(9);
  });

  it("reads RFC 7616 §3.9.1 SHA-256 credentials", () => {
    const c = digest(
      'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, ' +
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", ' +
        'qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    );
    expect(c.algorithm).toBe("SHA-256");
    expect(c.response).toHaveLength(64);
    expect(c.cnonce).toBe("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ");
  });

  it("reads a SIP REGISTER credential without qop and with an empty opaque (RFC 3665 §2.1)", () => {
    const c = digest(
      'Digest username="bob", realm="biloxi.example.com", nonce="dc3a5ab2530aa93112cf5904ba7d88fa", ' +
        'uri="sip:biloxi.example.com", response="702138b27d869ac8741e10ec643d55be", opaque="", algorithm=MD5',
    );
    expect(c.uri).toBe("sip:biloxi.example.com");
    expect(c.opaque).toBe("");
    expect(c.algorithm).toBe("MD5");
    expect(c.qop).toBeUndefined();
  });

  it("decodes a username* ext-value (RFC 7616 §3.9.2)", () => {
    const c = digest(
      "Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm=\"api@example.org\", uri=\"/doe.json\", " +
        'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", response="ae66e67d6b427bd3f120414a82e4acff38e8ecd9101d6c861229025f607a79dd", userhash=false',
    );
    expect(c.username).toBe("J\u00e4s\u00f8n Doe");
    expect(c.userhash).toBe(false);
  });

  it("unescapes quoted-pairs in values and reads parameter names case-insensitively", () => {
    const c = digest('digest USERNAME="a\\"b", Realm="r", NONCE="n", uri="sip:r", response="00ff"');
    expect(c.username).toBe('a"b');
    expect(c.realm).toBe("r");
  });

  it("returns an unknown scheme with its parameters so the caller can challenge (RFC 4475 regaut01)", () => {
    expect(credentials("NoOneKnowsThisScheme opaque-data=here")).toEqual({
      kind: "other",
      scheme: "NoOneKnowsThisScheme",
      params: new Map([["opaque-data", "here"]]),
    });
  });

  it("returns a token68 credential of another scheme (RFC 8898 Bearer)", () => {
    expect(credentials("Bearer mF_9.B5f-4.1JqM")).toEqual({
      kind: "other",
      scheme: "Bearer",
      params: new Map(),
      token68: "mF_9.B5f-4.1JqM",
    });
  });

  it.each([
    ['Digest username="a", username="b", realm="r", nonce="n", uri="u", response="00"', "duplicate auth parameter username"],
    ['Digest username="a", realm="r", nonce="n", nonce="m", uri="u", response="00"', "duplicate auth parameter nonce"],
    ['Digest username="a", realm="r", uri="u", response="00"', "Digest credentials without nonce"],
    ['Digest realm="r", nonce="n", uri="u", response="00"', "Digest credentials without username"],
    ['Digest username="a", realm="r", nonce="n", response="00"', "Digest credentials without uri"],
    ['Digest username="a", realm="r", nonce="n", uri="u"', "Digest credentials without response"],
    ['Digest username="a", realm="r", nonce="n", uri="u", response="xyz"', "Digest response is not hexadecimal"],
    ['Digest username="a", realm="r", nonce="n", uri="u", response="00", qop=auth', "Digest qop without cnonce and nc"],
    ['Digest username="a", realm="r", nonce="n", uri="u", response="00", qop=auth, cnonce="c", nc=1', "Digest nc is not 8 hex digits"],
    ['Digest username="a, realm="r"', "character 'r' after auth parameter username"],
    ['Digest username="a', "unterminated quoted value of auth parameter username"],
    ["Digest username", "auth parameter username without value"],
    ['Digest username*=UTF-8\'\'a, username="a", realm="r", nonce="n", uri="u", response="00"', "Digest username and username* both present"],
    ["Digest", "Digest credentials without username"],
    ["", "missing auth scheme"],
    ["Other a=b c", "character 'c' after auth parameter a"],
  ])("rejects %j (%s)", (text, why) => {
    expect(reason(text)).toBe(why);
  });
});

describe("challenges (RFC 2617 §3.2.1, RFC 7616 §3.3)", () => {
  it("formats a challenge in the documented order", () => {
    const text = formatChallenge({
      realm: "localhost",
      nonce: "Zr5dXWa2vEgTR8Xy",
      algorithm: "MD5",
      qop: ["auth"],
      stale: true,
      opaque: "c2lwZWRnZQ",
    });
    expect(text).toBe('Digest realm="localhost", nonce="Zr5dXWa2vEgTR8Xy", algorithm=MD5, qop="auth", stale=true, opaque="c2lwZWRnZQ"');
  });

  it("omits absent fields and stale=false", () => {
    expect(formatChallenge({ realm: "r", nonce: "n", stale: false })).toBe('Digest realm="r", nonce="n"');
  });

  it("escapes quotes and backslashes in a realm", () => {
    const text = formatChallenge({ realm: 'a"b\\c', nonce: "n" });
    expect(text).toBe('Digest realm="a\\"b\\\\c", nonce="n"');
    expect(challenge(text).realm).toBe('a"b\\c');
  });

  it("reads the RFC 2617 Mufasa challenge with its qop list", () => {
    const ch = challenge(
      'Digest\r\n        realm="testrealm@host.com",\r\n        qop="auth,auth-int",\r\n' +
        '        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n        opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
    expect(ch).toEqual({
      realm: "testrealm@host.com",
      nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
      qop: ["auth", "auth-int"],
      opaque: "5ccc069c403ebaf9f0171e9517f40e41",
    });
  });

  it("reads stale case-insensitively and a spaced qop list (RFC 7616 §3.9.1)", () => {
    const ch = challenge('Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="n", stale=TRUE');
    expect(ch.qop).toEqual(["auth", "auth-int"]);
    expect(ch.stale).toBe(true);
    expect(ch.algorithm).toBe("SHA-256");
  });

  it("rejects a challenge of another scheme or without nonce", () => {
    const other = parseChallenge('Basic realm="r"');
    expect(other.ok || other.reason).toBe("unsupported challenge scheme Basic");
    const noNonce = parseChallenge('Digest realm="r"');
    expect(noNonce.ok || noNonce.reason).toBe("Digest challenge without nonce");
  });

  it("round-trips a challenge and credentials", () => {
    const ch: Challenge = { realm: "localhost", nonce: "abc", algorithm: "SHA-256", qop: ["auth"], stale: true, opaque: "o" };
    expect(challenge(formatChallenge(ch))).toEqual(ch);
    const c = digest(MUFASA_CREDENTIALS);
    expect(digest(formatCredentials(c))).toEqual(c);
  });
});

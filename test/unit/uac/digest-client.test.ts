import { describe, expect, it } from "vitest";
import { computeHa1 } from "../../../src/modules/auth/index.ts";
import { answerChallenge } from "../../../src/modules/uac/digest-client.ts";
import { parseCredentials } from "../../../src/sip/digest.ts";
import type { SipResponse } from "../../../src/sip/message.ts";
import { parse } from "./harness.ts";

function challenge(status: 401 | 407, ...values: string[]): SipResponse {
  const name = status === 401 ? "WWW-Authenticate" : "Proxy-Authenticate";
  return parse([
    `SIP/2.0 ${status} ${status === 401 ? "Unauthorized" : "Proxy Authentication Required"}`, "Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKx",
    "From: <sip:a@b>;tag=1", "To: <sip:c@d>;tag=2", "Call-ID: dc1", "CSeq: 1 INVITE", ...values.map((v) => `${name}: ${v}`), "Content-Length: 0", "", "",
  ].join("\r\n")) as SipResponse;
}

const MUFASA = { username: "Mufasa", password: "Circle Of Life", ha1: "", realm: "" };

describe("uac digest client (RFC 2617, RFC 7616, RFC 8760)", () => {
  it("reproduces the RFC 2617 §3.5 example response (MD5, qop=auth, cnonce 0a4f113b)", () => {
    const r = challenge(401, 'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"');
    const answer = answerChallenge(r, { method: "GET", uri: "/dir/index.html" }, MUFASA, "0a4f113b");
    expect(answer.ok && answer.answer.header).toBe("Authorization");
    const parsed = parseCredentials(answer.ok ? answer.answer.value : "");
    expect(parsed.ok && parsed.value).toMatchObject({ username: "Mufasa", response: "6629fae49393a05397450978507c4ef1", qop: "auth", nc: "00000001", cnonce: "0a4f113b", opaque: "5ccc069c403ebaf9f0171e9517f40e41" });
  });

  it("answers a 407 with Proxy-Authorization, SHA-256 when offered beside MD5 and a password is known", () => {
    const r = challenge(407, 'Digest realm="c", nonce="n", algorithm=MD5, qop="auth"', 'Digest realm="c", nonce="n", algorithm=SHA-256, qop="auth"');
    const answer = answerChallenge(r, { method: "INVITE", uri: "sip:+1555@x" }, MUFASA);
    expect(answer.ok && [answer.answer.header, answer.answer.algorithm]).toEqual(["Proxy-Authorization", "SHA-256"]);
  });

  it("an account with only an MD5 HA1 (auth_ha1, Kamailio uac_auth mode 1) answers MD5, and cannot answer SHA-256 alone", () => {
    const ha1 = computeHa1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life");
    const both = challenge(401, 'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth", algorithm=SHA-256', 'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth"');
    const answer = answerChallenge(both, { method: "GET", uri: "/dir/index.html" }, { ...MUFASA, password: "", ha1 }, "0a4f113b");
    expect(answer.ok && parseCredentials(answer.answer.value)).toMatchObject({ ok: true, value: { response: "6629fae49393a05397450978507c4ef1" } });
    const sha = challenge(401, 'Digest realm="r", nonce="n", algorithm=SHA-256');
    expect(answerChallenge(sha, { method: "INVITE", uri: "sip:x" }, { ...MUFASA, password: "", ha1 })).toEqual({ ok: false, reason: "no password for SHA-256" });
  });

  it("refuses what it must not answer: another realm than the account's, an unknown algorithm, only auth-int without a body rule, no challenge", () => {
    const other = challenge(401, 'Digest realm="evil.example", nonce="n"');
    expect(answerChallenge(other, { method: "INVITE", uri: "sip:x" }, { ...MUFASA, realm: "carrier.test" })).toMatchObject({ ok: false, reason: expect.stringContaining("realm evil.example") });
    expect(answerChallenge(challenge(401, 'Digest realm="r", nonce="n", algorithm=SHA-512-256'), { method: "INVITE", uri: "sip:x" }, MUFASA)).toMatchObject({ ok: false, reason: "unsupported algorithm SHA-512-256" });
    expect(answerChallenge(challenge(401), { method: "INVITE", uri: "sip:x" }, MUFASA)).toMatchObject({ ok: false, reason: "401 without WWW-Authenticate" });
  });

  it("says when the nonce was stale (the password was right)", () => {
    const answer = answerChallenge(challenge(401, 'Digest realm="r", nonce="n2", stale=true'), { method: "REGISTER", uri: "sip:r" }, MUFASA);
    expect(answer.ok && answer.answer.stale).toBe(true);
  });
});

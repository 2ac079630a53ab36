import { describe, expect, it } from "vitest";
import { computeHa1, computeResponse } from "../../../src/modules/auth/digest.ts";
import { createAuth, replyFor, type AuthOptions, type SubscriberSecrets } from "../../../src/modules/auth/index.ts";
import { md5Hex } from "../../../src/modules/auth/md5.ts";
import { jssipAnswer, jssipSession, nonceOf, parseCredentials, sipjsAnswer } from "./clients.ts";

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const REALM = "localhost";
const REGISTER = { method: "REGISTER", ruri: "sip:localhost" };

function setup(overrides: Partial<AuthOptions> = {}, start = T0) {
  let now = start;
  const subscribers = new Map<string, SubscriberSecrets>([
    ["alice", { ha1: md5Hex(`alice:${REALM}:wonderland`) }],
    ["bob", { password: "builder" }],
    ["carol", { ha1: md5Hex(`carol:${REALM}:c4r0l`), ha1b: md5Hex(`carol@${REALM}:${REALM}:c4r0l`), password: "c4r0l" }],
  ]);
  const lookups: string[] = [];
  const auth = createAuth({
    secrets: { current: "test-secret" },
    lookup: ({ user, realm }) => {
      lookups.push(`${user}@${realm}`);
      return realm === REALM ? subscribers.get(user) : undefined;
    },
    clock: () => now,
    ...overrides,
  });
  return {
    auth,
    subscribers,
    lookups,
    advance(ms: number) {
      now += ms;
    },
  };
}

async function registerWith(auth: ReturnType<typeof setup>["auth"], header: string | undefined) {
  return auth.wwwAuthorize({ credentials: header ? parseCredentials(header) : undefined, method: "REGISTER", realm: REALM });
}

describe("wwwAuthorize with real client libraries", () => {
  it("a JsSIP REGISTER answering our challenge is authorized (HA1 from the ha1 column)", async () => {
    const { auth } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const header = jssipAnswer(challenge.values, { username: "alice", password: "wonderland" }, REGISTER);
    expect(header).toBeDefined();
    const result = await registerWith(auth, header);
    expect(result).toMatchObject({ ok: true, code: "ok", username: "alice", user: "alice", realm: REALM, algorithm: "MD5" });
  });

  it("a SIP.js REGISTER answering our challenge is authorized (HA1 calculated from the password)", async () => {
    const { auth } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const header = sipjsAnswer(challenge.values, { username: "bob", password: "builder" }, REGISTER);
    expect(header).toBeDefined();
    expect(await registerWith(auth, header)).toMatchObject({ ok: true, username: "bob" });
  });

  it("an INVITE with Proxy-Authorization is authorized by proxyAuthorize", async () => {
    const { auth } = setup();
    const challenge = auth.proxyChallenge(REALM);
    expect(challenge).toMatchObject({ status: 407, header: "Proxy-Authenticate" });
    const invite = { method: "INVITE", ruri: "sip:bob@localhost" };
    const header = jssipAnswer(challenge.values, { username: "alice", password: "wonderland" }, invite, "Proxy_Authenticate");
    const result = await auth.proxyAuthorize({ credentials: parseCredentials(header!), method: "INVITE", realm: REALM });
    expect(result.ok).toBe(true);
  });

  it("a wrong password gets invalid-password and a fresh 401 without stale", async () => {
    const { auth } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const header = jssipAnswer(challenge.values, { username: "alice", password: "wrong" }, REGISTER);
    const result = await registerWith(auth, header);
    expect(result).toEqual({ ok: false, code: "invalid-password", username: "alice" });
    expect(replyFor("www", "invalid-password")).toEqual({ status: 401, reason: "Unauthorized", challenge: { stale: false } });
  });

  it("an unknown user and a wrong password get the same reply, and both cost a subscriber lookup", async () => {
    const { auth, lookups } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const unknown = await registerWith(auth, jssipAnswer(challenge.values, { username: "mallory", password: "x" }, REGISTER));
    const wrong = await registerWith(auth, jssipAnswer(challenge.values, { username: "alice", password: "x" }, REGISTER));
    expect(unknown.ok || wrong.ok).toBe(false);
    if (unknown.ok || wrong.ok) return;
    expect(unknown.code).toBe("user-unknown");
    expect(wrong.code).toBe("invalid-password");
    expect(replyFor("www", unknown.code)).toEqual(replyFor("www", wrong.code));
    expect(replyFor("proxy", unknown.code)).toEqual(replyFor("proxy", wrong.code));
    expect(lookups).toEqual([`mallory@${REALM}`, `alice@${REALM}`]);
  });

  it("a request without credentials for our realm gets no-credentials and a plain challenge", async () => {
    const { auth } = setup();
    expect(await registerWith(auth, undefined)).toEqual({ ok: false, code: "no-credentials" });
    const other = { ...parseCredentials('Digest username="alice", realm="elsewhere", nonce="x", uri="sip:x", response="y"') };
    expect(await auth.wwwAuthorize({ credentials: [other], method: "REGISTER", realm: REALM })).toEqual({ ok: false, code: "no-credentials" });
    expect(auth.hasCredentials([other], REALM)).toBe(false);
    expect(auth.hasCredentials([other], "elsewhere")).toBe(true);
    expect(replyFor("www", "no-credentials")).toEqual({ status: 401, reason: "Unauthorized", challenge: { stale: false } });
  });
});

describe("nonce lifetime and replay", () => {
  it("a REGISTER with an expired nonce is challenged again with stale=true", async () => {
    const { auth, advance } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const header = jssipAnswer(challenge.values, { username: "alice", password: "wonderland" }, REGISTER);
    advance(301_000);
    const result = await registerWith(auth, header);
    expect(result).toEqual({ ok: false, code: "stale-nonce", username: "alice" });
    expect(replyFor("www", "stale-nonce")).toEqual({ status: 401, reason: "Unauthorized", challenge: { stale: true } });
    const again = auth.wwwChallenge(REALM, { stale: true });
    expect(again.values[0]).toContain("stale=true");
  });

  it("an expired nonce with a wrong password is invalid-password, not stale (RFC 2617 §3.2.1)", async () => {
    const { auth, advance } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const header = jssipAnswer(challenge.values, { username: "alice", password: "nope" }, REGISTER);
    advance(301_000);
    expect(await registerWith(auth, header)).toMatchObject({ code: "invalid-password" });
  });

  it("a replayed REGISTER (same nonce and nc) is rejected as nonce-reused; the next nc is accepted", async () => {
    const { auth } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const answer = jssipSession(challenge.values, { username: "alice", password: "wonderland" });
    const first = answer(REGISTER)!;
    expect((await registerWith(auth, first)).ok).toBe(true);
    expect(await registerWith(auth, first)).toEqual({ ok: false, code: "nonce-reused", username: "alice" });
    const second = answer(REGISTER)!; // nc=00000002
    expect(second).toContain("nc=00000002");
    expect((await registerWith(auth, second)).ok).toBe(true);
  });

  it("a tampered nonce with an otherwise correct digest is re-challenged as stale, never accepted", async () => {
    const { auth } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const nonce = nonceOf(challenge.values[0]!);
    const forged = (nonce[0] === "A" ? "B" : "A") + nonce.slice(1);
    const ha1 = md5Hex(`alice:${REALM}:wonderland`);
    const base = { algorithm: "MD5" as const, ha1, nonce: forged, method: "REGISTER", uri: "sip:localhost", qop: "auth" as const, nc: "00000001", cnonce: "abc" };
    const credentials = { scheme: "Digest" as const, username: "alice", realm: REALM, ...base, algorithm: "MD5", response: computeResponse(base) };
    expect(await auth.wwwAuthorize({ credentials, method: "REGISTER", realm: REALM })).toMatchObject({ ok: false, code: "stale-nonce" });
  });

  it("a nonce bound to one connection does not authorize on another", async () => {
    const { auth } = setup();
    const challenge = auth.wwwChallenge(REALM, { bind: "conn-1" });
    const header = jssipAnswer(challenge.values, { username: "alice", password: "wonderland" }, REGISTER)!;
    const credentials = parseCredentials(header);
    expect(await auth.wwwAuthorize({ credentials, method: "REGISTER", realm: REALM, bind: "conn-2" })).toMatchObject({ ok: false, code: "stale-nonce" });
    expect(await auth.wwwAuthorize({ credentials, method: "REGISTER", realm: REALM, bind: "conn-1" })).toMatchObject({ ok: true });
  });

  it("a nonce issued before the object restarted is stale there (its nonce-count memory is gone)", async () => {
    const first = setup();
    const challenge = first.auth.wwwChallenge(REALM);
    const header = jssipAnswer(challenge.values, { username: "alice", password: "wonderland" }, REGISTER);
    const restarted = setup({}, T0 + 5000);
    expect(await registerWith(restarted.auth, header)).toMatchObject({ ok: false, code: "stale-nonce" });
  });

  it("with nc_enabled off, a replay within the nonce lifetime is accepted (Kamailio's default without nc)", async () => {
    const { auth } = setup({ ncEnabled: false });
    const challenge = auth.wwwChallenge(REALM);
    const header = jssipAnswer(challenge.values, { username: "alice", password: "wonderland" }, REGISTER);
    expect((await registerWith(auth, header)).ok).toBe(true);
    expect((await registerWith(auth, header)).ok).toBe(true);
  });
});

describe("challenges", () => {
  it("offer SHA-256 first and MD5 last (where JsSIP and SIP.js read), qop=auth, one header each (RFC 8760)", async () => {
    const { auth } = setup();
    const challenge = auth.wwwChallenge(REALM);
    expect(challenge).toMatchObject({ status: 401, reason: "Unauthorized", header: "WWW-Authenticate" });
    expect(challenge.values).toHaveLength(2);
    const nonce = nonceOf(challenge.values[0]!);
    expect(challenge.values).toEqual([
      `Digest realm="localhost", nonce="${nonce}", qop="auth", algorithm=SHA-256`,
      `Digest realm="localhost", nonce="${nonce}", qop="auth", algorithm=MD5`,
    ]);
  });

  it("put MD5 first when configured so, which JsSIP and SIP.js then cannot answer", async () => {
    const { auth } = setup({ algorithms: ["MD5", "SHA-256"] });
    const challenge = auth.wwwChallenge(REALM);
    expect(challenge.values[0]).toContain("algorithm=MD5");
    expect(jssipAnswer(challenge.values, { username: "alice", password: "wonderland" }, REGISTER)).toBeUndefined();
    expect(sipjsAnswer(challenge.values, { username: "alice", password: "wonderland" }, REGISTER)).toBeUndefined();
  });

  it("a SHA-256 answer is verified from the ha1_sha256 column or the password", async () => {
    const { auth, subscribers } = setup();
    subscribers.set("dave", { ha1Sha256: computeHa1("SHA-256", "dave", REALM, "d4ve") });
    for (const [username, password] of [["dave", "d4ve"], ["bob", "builder"]] as const) {
      const challenge = auth.wwwChallenge(REALM);
      const nonce = nonceOf(challenge.values[1]!);
      const ha1 = computeHa1("SHA-256", username, REALM, password);
      const input = { algorithm: "SHA-256" as const, ha1, nonce, method: "REGISTER", uri: "sip:localhost", qop: "auth" as const, nc: "00000001", cnonce: `c-${username}` };
      const credentials = { scheme: "Digest" as const, username, realm: REALM, ...input, response: computeResponse(input) };
      expect(await auth.wwwAuthorize({ credentials, method: "REGISTER", realm: REALM })).toMatchObject({ ok: true, algorithm: "SHA-256" });
    }
  });
});

describe("HA1 sources (Kamailio auth_db)", () => {
  it("a username with the domain is checked against ha1b", async () => {
    const { auth } = setup({ calculateHa1: false });
    const challenge = auth.wwwChallenge(REALM);
    const header = jssipAnswer(challenge.values, { username: `carol@${REALM}`, password: "c4r0l" }, REGISTER);
    expect(await registerWith(auth, header)).toMatchObject({ ok: true, username: `carol@${REALM}`, user: "carol" });
  });

  it("calculate_ha1 uses the plaintext password even when an HA1 column is filled", async () => {
    const { auth, subscribers } = setup({ calculateHa1: true });
    subscribers.set("erin", { ha1: "0".repeat(32), password: "3rin" });
    const challenge = auth.wwwChallenge(REALM);
    const header = jssipAnswer(challenge.values, { username: "erin", password: "3rin" }, REGISTER);
    expect((await registerWith(auth, header)).ok).toBe(true);
  });

  it("a subscriber with neither a fitting HA1 nor a password cannot authenticate", async () => {
    const { auth, subscribers } = setup();
    subscribers.set("frank", {});
    const challenge = auth.wwwChallenge(REALM);
    const header = jssipAnswer(challenge.values, { username: "frank", password: "anything" }, REGISTER);
    expect(await registerWith(auth, header)).toMatchObject({ ok: false, code: "invalid-password" });
  });
});

describe("malformed credentials (RFC 2617 §3.2.2: 400)", () => {
  it("are rejected for a missing nc/cnonce with qop, a bad nc, an unknown qop or algorithm, or a short response", async () => {
    const { auth } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const good = parseCredentials(jssipAnswer(challenge.values, { username: "alice", password: "wonderland" }, REGISTER)!);
    const broken = [
      { ...good, nc: undefined },
      { ...good, cnonce: undefined },
      { ...good, nc: "1" },
      { ...good, nc: "00000000" },
      { ...good, qop: "auth-conf" },
      { ...good, algorithm: "SHA-512-256" },
      { ...good, response: "abc" },
      { ...good, uri: "" },
    ];
    for (const credentials of broken) {
      expect(await auth.wwwAuthorize({ credentials, method: "REGISTER", realm: REALM })).toMatchObject({ ok: false, code: "malformed" });
    }
    expect(replyFor("www", "malformed")).toEqual({ status: 400, reason: "Bad Request", challenge: undefined });
  });
});

describe("plugs into the SIP parser (src/sip/digest.ts)", () => {
  it("authorizes the parser's Credentials as they are, and skips credentials of other schemes", async () => {
    const { parseCredentials: parseSip } = await import("../../../src/sip/digest.ts");
    const { auth } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const header = jssipAnswer(challenge.values, { username: "alice", password: "wonderland" }, REGISTER)!;
    const parsed = parseSip(header);
    const other = parseSip("NoOneKnowsThisScheme opaque-data=078lkjhgfd");
    expect(parsed.ok && other.ok).toBe(true);
    if (!parsed.ok || !other.ok) return;
    const result = await auth.wwwAuthorize({ credentials: [other.value, parsed.value], method: "REGISTER", realm: REALM });
    expect(result).toMatchObject({ ok: true, username: "alice" });
    expect(await auth.wwwAuthorize({ credentials: [other.value], method: "REGISTER", realm: REALM })).toEqual({ ok: false, code: "no-credentials" });
  });

  it("refuses RFC 7616 userhash credentials (never offered) as malformed", async () => {
    const { auth } = setup();
    const challenge = auth.wwwChallenge(REALM);
    const credentials = { ...parseCredentials(jssipAnswer(challenge.values, { username: "alice", password: "wonderland" }, REGISTER)!), userhash: true };
    expect(await auth.wwwAuthorize({ credentials, method: "REGISTER", realm: REALM })).toMatchObject({ ok: false, code: "malformed" });
  });
});

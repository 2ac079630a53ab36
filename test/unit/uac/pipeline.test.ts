import { describe, expect, it } from "vitest";
import { computeHa1, createAuth } from "../../../src/modules/auth/index.ts";
import { parseCredentials } from "../../../src/sip/digest.ts";
import { BRIDGE, CARRIER, DOMAIN, GATEWAY, UacWorld, inviteText, uacregRow } from "./harness.ts";

// The shipped script with the uac module, in process (harness.ts): the carrier's side is written
// by the tests, and its challenges are sipedge's own (createAuth), so the edge's answers are
// verified by the same code that verifies its callers.

const TRUNK = uacregRow({ l_uuid: "trunk-1", r_username: "pbx", r_domain: "carrier.test", auth_username: "pbx", auth_password: "trunk-pw", auth_proxy: `sip:${GATEWAY}:5060` });
const carrierAuth = createAuth({ secrets: { current: "carrier-secret" }, lookup: ({ user, realm }) => (user === "pbx" ? { password: "trunk-pw", ha1: computeHa1("MD5", user, realm, "trunk-pw") } : undefined) });

function worldWith(vars: Record<string, string> = {}): UacWorld {
  const w = new UacWorld(vars);
  w.rows.push(TRUNK);
  w.profiles.set("alice", { numbers: ["+15550001234"], groups: [] });
  return w;
}

describe("uac_auth in the shipped script (RTF_DISPATCH)", () => {
  it("a carrier's 407 (SHA-256 and MD5 offered) is answered with SHA-256 credentials the carrier's verifier accepts; the caller sees only its 200, with its own CSeq", async () => {
    const w = worldWith();
    const call = await w.fromCaller((cseq) => inviteText(`sip:15552220001@${DOMAIN}`, cseq));
    const first = w.lastToGateway("INVITE");
    const challenge = carrierAuth.proxyChallenge("carrier.test");
    await w.gatewayAnswers(first, 407, "Proxy Authentication Required", challenge.values.map((v) => ["Proxy-Authenticate", v]));
    const retry = w.lastToGateway("INVITE");
    expect(retry).not.toBe(first);
    expect(retry.cseq.seq).toBe(first.cseq.seq + 1);
    const credentials = parseCredentials(retry.headers.get("proxy-authorization") ?? "");
    expect(credentials.ok && credentials.value.kind === "digest" && credentials.value.algorithm).toBe("SHA-256");
    const verdict = await carrierAuth.proxyAuthorize({ credentials: credentials.ok ? [credentials.value] : [], method: "INVITE", realm: "carrier.test" });
    expect(verdict).toMatchObject({ ok: true, username: "pbx" });
    await w.gatewayAnswers(retry, 200, "OK");
    expect(call.replies.map((r) => `${r.status} ${r.cseq.seq}`)).toEqual(["100 2", "200 2"]);
    // The route set records the shift (signed): the caller's later requests are raised by it.
    expect(call.replies[1]?.headers.getAll("record-route").join(",")).toMatch(/;cs=1;/);
  });

  it("a carrier with no uacreg row: its challenge never reaches the caller, who gets 503, and a log line says why", async () => {
    const w = worldWith();
    w.rows.length = 0;
    const call = await w.fromCaller((cseq) => inviteText(`sip:15552220001@${DOMAIN}`, cseq));
    await w.gatewayAnswers(w.lastToGateway("INVITE"), 401, "Unauthorized", [["WWW-Authenticate", 'Digest realm="carrier.test", nonce="n1"']]);
    expect(call.replies.map((r) => `${r.status} ${r.reason}`)).toEqual(["100 Trying", "503 Carrier Authentication Failed"]);
    expect(call.replies.some((r) => r.headers.has("www-authenticate"))).toBe(false);
    expect(w.logLines.find((l) => l.includes("carrier challenge not answered"))).toMatch(/no uacreg credentials for 127\.0\.0\.20:5060/);
  });

  it("when the credentials cannot be read (D1 down), the challenge still does not reach the caller", async () => {
    const w = worldWith();
    w.rows.length = 0;
    w.failRows = true;
    const call = await w.fromCaller((cseq) => inviteText(`sip:15552220001@${DOMAIN}`, cseq));
    await w.gatewayAnswers(w.lastToGateway("INVITE"), 407, "Proxy Authentication Required", [["Proxy-Authenticate", 'Digest realm="carrier.test", nonce="n1"']]);
    expect(call.replies.map((r) => r.status)).toEqual([100, 503]);
    expect(w.logLines.find((l) => l.includes("carrier challenge not answered"))).toMatch(/credentials unavailable: D1 is down/);
  });

  it("credentials the carrier refuses are not sent again: the second challenge ends the call with 503", async () => {
    const w = worldWith();
    const call = await w.fromCaller((cseq) => inviteText(`sip:15552220001@${DOMAIN}`, cseq));
    const challenge: [string, string][] = [["WWW-Authenticate", 'Digest realm="carrier.test", nonce="n1", qop="auth"']];
    await w.gatewayAnswers(w.lastToGateway("INVITE"), 401, "Unauthorized", challenge);
    await w.gatewayAnswers(w.lastToGateway("INVITE"), 401, "Unauthorized", challenge);
    expect(w.toGateway.filter((s) => s.request.method === "INVITE")).toHaveLength(2);
    expect(call.replies.map((r) => r.status)).toEqual([100, 503]);
  });

  it("a stale nonce (RFC 7616 §3.3) is answered once more", async () => {
    const w = worldWith();
    const call = await w.fromCaller((cseq) => inviteText(`sip:15552220001@${DOMAIN}`, cseq));
    await w.gatewayAnswers(w.lastToGateway("INVITE"), 401, "Unauthorized", [["WWW-Authenticate", 'Digest realm="carrier.test", nonce="n1"']]);
    await w.gatewayAnswers(w.lastToGateway("INVITE"), 401, "Unauthorized", [["WWW-Authenticate", 'Digest realm="carrier.test", nonce="n2", stale=true']]);
    const third = w.lastToGateway("INVITE");
    expect(third.headers.get("authorization")).toMatch(/nonce="n2"/);
    await w.gatewayAnswers(third, 200, "OK");
    expect(call.replies.map((r) => `${r.status} ${r.cseq.seq}`)).toEqual(["100 2", "200 2"]);
  });
});

describe("toll-fraud limits in the shipped script", () => {
  it("the fourth call within a minute is refused 403 with its reason, logged and reported for accounting; an emergency call still goes", async () => {
    const w = worldWith({ CALLS_PER_MINUTE: "3" });
    for (let i = 0; i < 3; i++) {
      const ok = await w.fromCaller((cseq) => inviteText(`sip:1555222000${i}@${DOMAIN}`, cseq, [], `rate-${i}`));
      expect(ok.replies[0]?.status).toBe(100);
    }
    const refused = await w.fromCaller((cseq) => inviteText(`sip:15552220009@${DOMAIN}`, cseq, [], "rate-4"));
    expect(refused.replies.map((r) => `${r.status} ${r.reason}`)).toEqual(["403 Call Rate Limit Exceeded"]);
    expect(w.refusals).toEqual([expect.objectContaining({ callId: "rate-4", caller: `alice@${DOMAIN}`, rule: "calls-per-minute", e164: "+15552220009", status: 403 })]);
    expect(w.logLines.some((l) => l.includes('"msg":"call refused by the toll-fraud limits"') && l.includes("rate-4"))).toBe(true);
    const emergency = await w.fromCaller((cseq) => inviteText(`sip:911@${DOMAIN}`, cseq, [], "rate-911"));
    expect(emergency.replies[0]?.status).toBe(100);
    expect(w.lastToGateway("INVITE").uri).toBe(`sip:911@${DOMAIN}`);
    // The carrier answers every call (so no branch times out and the gateway stays up); a minute on, alice may call again.
    for (const sent of w.toGateway.filter((x) => x.request.method === "INVITE")) await w.gatewayAnswers(sent.request, 486, "Busy Here");
    w.clock.advance(60_000);
    expect((await w.fromCaller((cseq) => inviteText(`sip:15552220010@${DOMAIN}`, cseq, [], "rate-5"))).replies[0]?.status).toBe(100);
  });

  it("international calls need group international, or a prefix the user is allowed; what is sent is the E.164 number that was checked", async () => {
    const w = worldWith();
    w.profiles.set("alice", { numbers: [], groups: ["+44"] });
    const uk = await w.fromCaller((cseq) => inviteText(`sip:011442079460000@${DOMAIN}`, cseq, [], "intl-uk"));
    expect(uk.replies[0]?.status).toBe(100);
    expect(w.lastToGateway("INVITE").uri).toBe(`sip:+442079460000@${DOMAIN}`);
    const france = await w.fromCaller((cseq) => inviteText(`sip:+33140000000@${DOMAIN}`, cseq, [], "intl-fr"));
    expect(france.replies.map((r) => `${r.status} ${r.reason}`)).toEqual(["403 International Calls Not Allowed"]);
    w.profiles.set("alice", { numbers: [], groups: ["international"] });
    const anywhere = await w.fromCaller((cseq) => inviteText(`sip:+33140000000@${DOMAIN}`, cseq, [], "intl-fr-2"));
    expect(anywhere.replies[0]?.status).toBe(100);
    const premium = await w.fromCaller((cseq) => inviteText(`sip:+19005550100@${DOMAIN}`, cseq, [], "premium"));
    expect(premium.replies.map((r) => `${r.status} ${r.reason}`)).toEqual(["403 Premium Rate Numbers Not Allowed"]);
  });
});

describe("a number that is a local DID", () => {
  it("goes to the user that owns it (alias_db_lookup), not out to the carrier and back", async () => {
    const w = worldWith();
    w.dids.set("+15557654321", "bob");
    const call = await w.fromCaller((cseq) => inviteText(`sip:15557654321@${DOMAIN}`, cseq, [], "hairpin"));
    // bob is a subscriber without a binding: 480, and the gateway saw nothing.
    expect(call.replies.map((r) => r.status)).toEqual([480]);
    expect(w.toGateway).toEqual([]);
  });
});

describe("caller ID in the shipped script", () => {
  it("a caller with no number of its own whose username looks like a number is presented as anonymous", async () => {
    const w = worldWith();
    w.profiles.set("4930123", { numbers: [], groups: [] });
    await w.fromCaller((cseq) => inviteText(`sip:15552220001@${DOMAIN}`, cseq, [], "anon-1", "4930123"), "4930123");
    const sent = w.lastToGateway("INVITE");
    expect(sent.headers.get("from")).toBe('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=caller1');
    expect(sent.headers.has("p-asserted-identity")).toBe(false);
  });
});

describe("calls from a carrier (uac_reg_lookup, DIDs)", () => {
  const fromCarrier = (user: string, host = `${BRIDGE}:5060`) => [
    `INVITE sip:${user}@${host} SIP/2.0`, `Via: SIP/2.0/UDP ${CARRIER}:5060;branch=z9hG4bKin${user}`, "Max-Forwards: 70",
    `From: <sip:0305550000@${CARRIER}>;tag=c1`, `To: <sip:${user}@${host}>`, `Call-ID: in-${user}`, "CSeq: 1 INVITE",
    `Contact: <sip:0305550000@${CARRIER}:5060>`, "Content-Length: 0", "", "",
  ].join("\r\n");
  const source = { transport: "udp" as const, ip: CARRIER, port: 5060, bridge: "b1" };

  it("the registered contact's user (l_uuid) and a DID in national form both reach the user that owns them; an unknown number is refused as before", async () => {
    const w = worldWith();
    w.rows.push({ ...TRUNK, l_uuid: "reg-7", l_username: "+15557654321", expires: 60 });
    w.dids.set("+15557654321", "bob");
    // bob is a subscriber without a binding: 480 says the request was for bob (an unknown user gets 404).
    expect((await w.deliver(fromCarrier("reg-7"), source)).map((r) => r.status)).toEqual([480]);
    expect((await w.deliver(fromCarrier("15557654321"), source)).map((r) => r.status)).toEqual([480]);
    expect((await w.deliver(fromCarrier("15550000000"), source)).map((r) => `${r.status} ${r.reason}`)).toEqual(["403 Forbidden"]);
  });
});

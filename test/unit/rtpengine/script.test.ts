import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { RtpengineClient, type ControlLink } from "../../../src/modules/rtpengine/client.ts";
import { compileFlags } from "../../../src/modules/rtpengine/flags.ts";
import { RtpengineScript } from "../../../src/modules/rtpengine/script.ts";
import { OFFER_TO_GATEWAY, TO_BROWSER, TO_GATEWAY } from "../../../src/routes/media.ts";
import { createLogger } from "../../../src/log.ts";
import type { SipMessage, SipRequest } from "../../../src/sip/message.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { matchingCopy } from "../../../src/sip/transactions/requests.ts";
import { parseConfig } from "../../../src/config.ts";
import { RequestContext } from "../../../src/routing/context.ts";

// ctx.rtpengine at the edge: Kamailio's flag strings, the ng dictionary each function sends over
// the bridge link (control frames), the SDP replaced whole or not at all, and the failure table.

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, "../../fixtures/sdp", name + ".sdp"), "utf8");
const log = createLogger("error");

describe("Kamailio flag strings → ng dictionary", () => {
  it("compiles the shipped script's flags into the keys rtpengine reads", () => {
    const gw = compileFlags(OFFER_TO_GATEWAY);
    expect(gw.ok && gw.value.ng).toEqual({
      ICE: "remove", DTLS: "off", "DTLS-reverse": "passive", "transport-protocol": "RTP/AVP",
      replace: ["origin", "session-connection"], "rtcp-mux": ["demux"], flags: ["strip-extmap"],
      codec: { mask: ["all"], except: ["PCMU", "PCMA", "telephone-event"], transcode: ["PCMU", "PCMA"] },
    });
    const browser = compileFlags(TO_BROWSER);
    expect(browser.ok && browser.value.ng).toEqual({
      ICE: "force", DTLS: "passive", "transport-protocol": "UDP/TLS/RTP/SAVPF", replace: ["origin", "session-connection"],
      "rtcp-mux": ["offer", "require"], SDES: ["off"], flags: ["generate-mid"],
    });
  });

  it("keeps other words as flags and other key=value as entries, numbers where rtpengine wants numbers", () => {
    const c = compileFlags("trust-address RTP/SAVPF label=callee delete-delay=0 codec-strip-all codec-offer-opus via-branch=auto direction=pub direction=priv");
    expect(c.ok && c.value).toMatchObject({
      viaBranch: "auto",
      ng: { flags: ["trust-address"], "transport-protocol": "RTP/SAVPF", label: "callee", "delete delay": 0, codec: { strip: ["all"], offer: ["opus"] }, direction: ["pub", "priv"] },
    });
  });

  it("names the word that is wrong", () => {
    expect(compileFlags("ICE=sometimes")).toMatchObject({ ok: false, reason: expect.stringMatching(/^ICE=sometimes: expected one of remove, force/) });
    expect(compileFlags("DTLS=maybe")).toMatchObject({ ok: false, reason: expect.stringMatching(/^DTLS=maybe/) });
    expect(compileFlags("RTP/AVP RTP/SAVPF")).toMatchObject({ ok: false, reason: "RTP/SAVPF: a transport protocol is already given" });
    expect(compileFlags("via-branch=3")).toMatchObject({ ok: false });
    expect(compileFlags("delete-delay=soon")).toMatchObject({ ok: false, reason: "delete-delay=soon: expected a whole number" });
  });
});

/** A bridge on the other end of the link: answers each control frame with `answer(ng)`. */
function bridgeLink(answer: (ng: Record<string, unknown>) => Record<string, unknown> | undefined) {
  const frames: Record<string, unknown>[] = [];
  const link: ControlLink = {
    hasRtpengine: () => true,
    sendControl(frame, bridge) {
      const body = JSON.parse(frame) as Record<string, unknown>;
      frames.push(body);
      const reply = answer(body.ng as Record<string, unknown>);
      if (reply !== undefined) queueMicrotask(() => client.reply({ type: "rtpengine", id: body.id, ...reply }));
      return bridge ?? "bridge-a";
    },
  };
  const client = new RtpengineClient(link, { timeoutMs: 50 });
  return { client, frames };
}

function sip(lines: string[], body = ""): SipMessage {
  const parsed = parseMessage([...lines, ...(body ? ["Content-Type: application/sdp"] : []), `Content-Length: ${Buffer.byteLength(body)}`, "", body].join("\r\n"));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.message;
}

const INVITE = [
  "INVITE sip:15551234567@sip.example.test SIP/2.0",
  "Via: SIP/2.0/WSS x.invalid;branch=z9hG4bKcaller",
  "From: <sip:alice@sip.example.test>;tag=alice1",
  "To: <sip:15551234567@sip.example.test>",
  "Call-ID: call-1",
  "CSeq: 2 INVITE",
  "Max-Forwards: 70",
];
const OK = [
  "SIP/2.0 200 OK",
  "Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK-se-1.a.b.0",
  "Via: SIP/2.0/WSS x.invalid;branch=z9hG4bKcaller",
  "From: <sip:alice@sip.example.test>;tag=alice1",
  "To: <sip:15551234567@sip.example.test>;tag=gw1",
  "Call-ID: call-1",
  "CSeq: 2 INVITE",
];

describe("ctx.rtpengine (rtpengine_offer, rtpengine_answer, rtpengine_delete, rtpengine_manage)", () => {
  it("offer: sends the call's identity, the flags and the SDP in one frame, and takes rtpengine's SDP whole", async () => {
    const anchored = fixture("rtpengine-offer-to-browser");
    const { client, frames } = bridgeLink(() => ({ ok: true, ng: { result: "ok", sdp: anchored }, instance: "udp:127.0.0.1:2223" }));
    const msg = sip(INVITE, fixture("chromium-offer"));
    const script = new RtpengineScript(msg, undefined, { client, bridge: "bridge-a", sourceIp: "198.51.100.7" }, log);
    script.setSet(1);
    expect(await script.offer(OFFER_TO_GATEWAY + " via-branch=auto")).toEqual({ ok: true, command: "offer" });
    expect(msg.body).toBe(anchored);
    expect(frames[0]).toMatchObject({ type: "rtpengine", set: 1, id: expect.any(String) });
    expect(frames[0]?.ng).toMatchObject({
      command: "offer", "call-id": "call-1", "from-tag": "alice1", sdp: fixture("chromium-offer"), ICE: "remove",
      "via-branch": "z9hG4bKcaller", "received-from": ["IP4", "198.51.100.7"],
    });
    expect(frames[0]?.ng).not.toHaveProperty("to-tag");
  });

  it("answer in a reply: From and To tags of the reply, `via-branch=auto` the caller's branch (below the proxy's Via)", async () => {
    const { client, frames } = bridgeLink(() => ({ ok: true, ng: { result: "ok", sdp: fixture("chromium-answer") }, instance: "i" }));
    const reply = sip(OK, fixture("gateway-offer"));
    const script = new RtpengineScript(reply, sip(INVITE, fixture("chromium-offer")) as SipRequest, { client }, log);
    expect(await script.answer(TO_BROWSER + " via-branch=auto")).toMatchObject({ ok: true });
    expect(frames[0]?.ng).toMatchObject({ command: "answer", "from-tag": "alice1", "to-tag": "gw1", "via-branch": "z9hG4bKcaller" });
    expect(frames[0]?.ng).not.toHaveProperty("received-from");
  });

  it("leaves the SDP untouched and names the failure: timeout and no rtpengine → 503, an error or a torn SDP → 500", async () => {
    const cases: [Record<string, unknown> | undefined, string, number, string][] = [
      [undefined, "timeout", 503, "Media Relay Unavailable"],
      [{ ok: false, error: "unavailable", detail: "no rtpengine of set 0 is up" }, "unavailable", 503, "Media Relay Unavailable"],
      [{ ok: false, error: "refused", detail: "Incomplete SDP specification" }, "refused", 500, "Media Relay Refused"],
      [{ ok: true, ng: { result: "ok", sdp: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" }, instance: "i" }, "bad-sdp", 500, "Media Relay Error"],
      [{ ok: true, ng: { result: "ok" }, instance: "i" }, "bad-sdp", 500, "Media Relay Error"],
    ];
    for (const [answer, error, status, reason] of cases) {
      const { client } = bridgeLink(() => answer);
      const msg = sip(INVITE, fixture("jssip-offer"));
      const result = await new RtpengineScript(msg, undefined, { client }, log).offer(OFFER_TO_GATEWAY);
      expect(result, error).toMatchObject({ ok: false, error, status, reason });
      expect(msg.body, error).toBe(fixture("jssip-offer"));
    }
  });

  it("without a bridge link, or without SDP, nothing is sent", async () => {
    const frames: unknown[] = [];
    const client = new RtpengineClient({ hasRtpengine: () => false, sendControl: (f) => (frames.push(f), undefined) }, { timeoutMs: 50 });
    expect(await new RtpengineScript(sip(INVITE, fixture("sipjs-offer")), undefined, { client }, log).offer()).toMatchObject({ ok: false, error: "no-bridge", status: 503 });
    expect(await new RtpengineScript(sip(INVITE), undefined, { client }, log).offer()).toMatchObject({ ok: false, error: "no-sdp", status: 488 });
    expect(client.available()).toBe(false);
    expect(frames).toHaveLength(1);
  });

  it("delete: the whole call (no To tag) unless the script names a side", async () => {
    const { client, frames } = bridgeLink(() => ({ ok: true, ng: { result: "ok" }, instance: "i" }));
    const bye = sip(["BYE sip:gw@127.0.0.20 SIP/2.0", ...OK.slice(1, 2), "From: <sip:alice@sip.example.test>;tag=alice1", "To: <sip:15551234567@sip.example.test>;tag=gw1", "Call-ID: call-1", "CSeq: 3 BYE", "Max-Forwards: 70"]);
    await new RtpengineScript(bye, undefined, { client }, log).delete();
    await new RtpengineScript(bye, undefined, { client }, log).delete("to-tag=gw1");
    expect(frames.map((f) => f.ng)).toEqual([
      { command: "delete", "call-id": "call-1", "from-tag": "alice1" },
      { command: "delete", "call-id": "call-1", "from-tag": "alice1", "to-tag": "gw1" },
    ]);
  });

  it("manage chooses by the message: offer on an INVITE, answer on its reply, offer on a late-offer reply, delete on BYE and failures", async () => {
    const { client, frames } = bridgeLink((ng) => ({ ok: true, ng: { result: "ok", ...(ng.sdp ? { sdp: ng.sdp } : {}) }, instance: "i" }));
    const run = (msg: SipMessage, request?: SipMessage) => new RtpengineScript(msg, request as SipRequest | undefined, { client }, log).manage();
    await run(sip(INVITE, fixture("chromium-offer")));
    await run(sip(OK, fixture("gateway-offer")), sip(INVITE, fixture("chromium-offer")));
    await run(sip(OK, fixture("gateway-offer")), sip(INVITE));
    await run(sip(["SIP/2.0 486 Busy Here", ...OK.slice(1)]), sip(INVITE));
    expect(await run(sip(OK), sip(INVITE))).toEqual({ ok: true, command: "none" });
    expect(frames.map((f) => (f.ng as { command: string }).command)).toEqual(["offer", "answer", "offer", "delete"]);
  });

  it("an answer that comes after the edge stopped waiting is dropped, not matched to another request", async () => {
    let late: (() => void) | undefined;
    const link: ControlLink = {
      hasRtpengine: () => true,
      sendControl(frame) {
        const id = (JSON.parse(frame) as { id: string }).id;
        late = () => expect(client.reply({ type: "rtpengine", id, ok: true, ng: { result: "ok" } })).toBe(false);
        return "b";
      },
    };
    const client = new RtpengineClient(link, { timeoutMs: 20 });
    expect(await client.request({ command: "ping" }, 0)).toMatchObject({ ok: false, error: "timeout", detail: "no answer from bridge b in 20 ms" });
    late?.();
    expect(client.waiting).toBe(0);
    expect(client.stats).toEqual({ requests: 1, ok: 0, failed: 1 });
  });
});

// TO_GATEWAY is the answer's flag string (the offer adds codecs and DTLS-reverse): keep them in step.
it("the shipped offer flags toward gateways extend the answer flags", () => {
  expect(OFFER_TO_GATEWAY.startsWith(TO_GATEWAY + " ")).toBe(true);
});

describe("ctx.rtpengineOfCall (what an onreply route keeps for the 32 s after a call was answered)", () => {
  const config = parseConfig({ SIP_DOMAIN: "sip.example.test", SIP_ALIASES: "" });
  const source = { transport: "ws" as const, ip: "198.51.100.7", flow: "0.f1", bridge: "bridge-b" };

  it("builds what rtpengineFor builds: the request's bridge, received-from only for a message from the request's source", async () => {
    const { client, frames } = bridgeLink(() => ({ ok: true, ng: { result: "ok", sdp: fixture("chromium-answer") }, instance: "i" }));
    const invite = sip(INVITE, fixture("chromium-offer")) as SipRequest;
    const ctx = new RequestContext(invite, source, config, log, { send: () => undefined }, { rtpengine: client });
    const ofCall = ctx.rtpengineOfCall();
    expect(await ofCall(sip(OK, fixture("gateway-offer")), invite).answer(TO_BROWSER)).toMatchObject({ ok: true });
    expect(await ofCall(invite, undefined, true).delete()).toMatchObject({ ok: true });
    expect(frames[0]?.ng).toMatchObject({ command: "answer", "from-tag": "alice1", "to-tag": "gw1" });
    expect(frames[0]?.ng).not.toHaveProperty("received-from");
    expect(frames[1]?.ng).toMatchObject({ command: "delete", "call-id": "call-1", "received-from": ["IP4", "198.51.100.7"] });
    const viaRequest = await ctx.rtpengineFor(invite).delete();
    expect(viaRequest).toMatchObject({ ok: true });
    expect(frames[2]?.ng).toEqual(frames[1]?.ng);
  });

  it("an answer against the copy tm keeps once the call finished (matchingCopy with the offer) sends what the first answer sent", async () => {
    const { client, frames } = bridgeLink(() => ({ ok: true, ng: { result: "ok", sdp: fixture("chromium-answer") }, instance: "i" }));
    const invite = sip([...INVITE, "Contact: <sip:alice@x.invalid;transport=ws>", "Record-Route: <sip:sip.example.test;transport=ws;lr>"], fixture("chromium-offer")) as SipRequest;
    const ofCall = new RequestContext(invite, source, config, log, { send: () => undefined }, { rtpengine: client }).rtpengineOfCall();
    await ofCall(sip(OK, fixture("gateway-offer")), invite).answer(TO_BROWSER + " via-branch=auto");
    await ofCall(sip(OK, fixture("gateway-offer")), matchingCopy(invite, true)).answer(TO_BROWSER + " via-branch=auto");
    expect(frames).toHaveLength(2);
    expect(frames[1]?.ng).toEqual(frames[0]?.ng);
  });
});

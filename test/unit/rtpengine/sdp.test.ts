import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkRewritten, describeSdp, sdpOf } from "../../../src/modules/rtpengine/sdp.ts";
import { parseMessage } from "../../../src/sip/parser.ts";

// The SDP the media module reads, on what real peers sent (test/fixtures/sdp, recorded from
// Chromium 156, JsSIP 3.13 and SIP.js 0.21 in Chromium, and rtpengine 10.5).

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, "../../fixtures/sdp", name + ".sdp"), "utf8");
const BROWSERS = ["chromium", "jssip", "sipjs"] as const;

describe("recorded browser SDP", () => {
  for (const who of BROWSERS) {
    it(`${who}'s offer: one audio section, ICE + DTLS-SRTP (actpass), rtcp-mux, Opus first, G.711 and RFC 4733 events`, () => {
      const [audio, ...rest] = describeSdp(fixture(`${who}-offer`));
      expect(rest).toEqual([]);
      expect(audio).toMatchObject({ type: "audio", proto: "UDP/TLS/RTP/SAVPF", ice: true, dtls: true, setup: "actpass", sdes: false, rtcpMux: true, direction: "sendrecv" });
      expect(audio?.codecs[0]).toBe("opus");
      expect(audio?.codecs).toEqual(expect.arrayContaining(["PCMU", "PCMA", "telephone-event"]));
    });

    it(`${who}'s answer to rtpengine's offer: DTLS active (rtpengine stays passive), only the gateway's G.711`, () => {
      const [audio] = describeSdp(fixture(`${who}-answer`));
      expect(audio).toMatchObject({ proto: "UDP/TLS/RTP/SAVPF", ice: true, dtls: true, setup: "active", rtcpMux: true });
      expect(audio?.codecs.every((c) => ["PCMU", "PCMA", "telephone-event"].includes(c))).toBe(true);
    });
  }

  it("rtpengine's offer to a browser, made from a G.711 gateway's: ICE, DTLS (actpass), rtcp-mux, a=mid, the gateway's codecs", () => {
    const sdp = fixture("rtpengine-offer-to-browser");
    expect(describeSdp(sdp)[0]).toMatchObject({ proto: "UDP/TLS/RTP/SAVPF", ice: true, dtls: true, setup: "actpass", rtcpMux: true, codecs: ["PCMU", "PCMA", "telephone-event"], address: "127.0.0.1" });
    expect(sdp).toMatch(/^a=mid:/m);
    expect(checkRewritten(fixture("gateway-offer"), sdp)).toEqual({ ok: true, value: true });
  });

  it("names static payload types without an rtpmap (RFC 3551) and reads the session-level c= line", () => {
    expect(describeSdp("v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0 8 18\r\na=recvonly\r\n")[0]).toMatchObject({ codecs: ["PCMU", "PCMA", "G729"], address: "192.0.2.1", direction: "recvonly" });
  });
});

describe("checkRewritten: rtpengine's SDP replaces the original whole, or not at all", () => {
  const original = fixture("chromium-offer");
  const rewritten = fixture("rtpengine-offer-to-browser");

  it("refuses a reply that is not a whole description or lost an m= section", () => {
    expect(checkRewritten(original, "")).toMatchObject({ ok: false, reason: expect.stringMatching(/v=0/) });
    expect(checkRewritten(original, rewritten.replace(/^s=.*\r\n/m, ""))).toMatchObject({ ok: false, reason: expect.stringMatching(/no s= line/) });
    expect(checkRewritten(original, rewritten.replace(/^m=audio[\s\S]*/m, ""))).toMatchObject({ ok: false, reason: expect.stringMatching(/m= sections none/) });
    expect(checkRewritten(original + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n", rewritten)).toMatchObject({ ok: false, reason: expect.stringMatching(/audio,video/) });
  });
});

describe("sdpOf", () => {
  const message = (contentType: string | undefined, body: string) => {
    const head = ["INVITE sip:bob@sip.example.test SIP/2.0", "Via: SIP/2.0/WSS x.invalid;branch=z9hG4bKa", "From: <sip:a@sip.example.test>;tag=1", "To: <sip:bob@sip.example.test>", "Call-ID: c", "CSeq: 1 INVITE", "Max-Forwards: 70"];
    if (contentType !== undefined) head.push(`Content-Type: ${contentType}`);
    const parsed = parseMessage([...head, `Content-Length: ${Buffer.byteLength(body)}`, "", body].join("\r\n"));
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.message;
  };

  it("is the body of an application/sdp message (any case, with parameters), nothing else", () => {
    expect(sdpOf(message("application/sdp", "v=0\r\n"))).toBe("v=0\r\n");
    expect(sdpOf(message("Application/SDP; charset=utf-8", "v=0\r\n"))).toBe("v=0\r\n");
    expect(sdpOf(message("multipart/mixed;boundary=x", "--x\r\n"))).toBeUndefined();
    expect(sdpOf(message("application/sdp", ""))).toBeUndefined();
    expect(sdpOf(message(undefined, ""))).toBeUndefined();
  });
});

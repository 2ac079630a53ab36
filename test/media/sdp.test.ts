import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RtpengineControl } from "../../bridge/rtpengine/control.ts";
import { NgSocket } from "../../bridge/rtpengine/ng.ts";
import { parseRtpengineSock, RtpenginePool } from "../../bridge/rtpengine/pool.ts";
import { startRtpengine } from "../../scripts/rtpengine.mjs";
import { createLogger } from "../../src/log.ts";
import { RtpengineClient } from "../../src/modules/rtpengine/client.ts";
import { describeSdp } from "../../src/modules/rtpengine/sdp.ts";
import { RtpengineScript } from "../../src/modules/rtpengine/script.ts";
import { OFFER_TO_GATEWAY, TO_BROWSER, TO_GATEWAY } from "../../src/routes/media.ts";
import type { SipMessage, SipRequest } from "../../src/sip/message.ts";
import { parseMessage } from "../../src/sip/parser.ts";

// The recorded offers and answers of Chromium, JsSIP and SIP.js (test/fixtures/sdp) through the
// real rtpengine with the shipped script's flags, along the real path minus the worker: the edge's
// ctx.rtpengine → control frame → the bridge's control handler and ng client → rtpengine.

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, "../fixtures/sdp", name + ".sdp"), "utf8");
const NG = "127.0.0.1:2243";
const log = createLogger("error");
let rtpengine: Awaited<ReturnType<typeof startRtpengine>>;
let socket: NgSocket;
let pool: RtpenginePool;
let client: RtpengineClient;

beforeAll(async () => {
  rtpengine = await startRtpengine({ ng: NG, portMin: 31000, portMax: 31999 });
  socket = new NgSocket({ log, timeoutMs: 1000, tries: 2 });
  const sets = parseRtpengineSock(`udp:${NG}`);
  if (!sets.ok) throw new Error(sets.reason);
  pool = new RtpenginePool({ sets: sets.value, socket, log, disableMs: 1000 });
  const control = new RtpengineControl(pool, log);
  client = new RtpengineClient(
    {
      hasRtpengine: () => true,
      sendControl(frame) {
        // The bridge side gets the frame as the link would carry it, and answers the same way.
        void control.handle(JSON.parse(frame) as Record<string, unknown>, (answer) => client.reply(JSON.parse(JSON.stringify(answer)) as Record<string, unknown>));
        return "local";
      },
    },
    { timeoutMs: 3000 },
  );
});

afterAll(async () => {
  pool?.stop();
  socket?.close();
  await rtpengine?.stop();
});

let calls = 0;
function invite(body: string): SipRequest {
  calls++;
  return message([`INVITE sip:15551234567@sip.example.test SIP/2.0`, "Via: SIP/2.0/WSS x.invalid;branch=z9hG4bKa", `From: <sip:alice@sip.example.test>;tag=caller${calls}`, "To: <sip:15551234567@sip.example.test>", `Call-ID: sdp-test-${calls}`, "CSeq: 1 INVITE", "Max-Forwards: 70"], body) as SipRequest;
}

function ok(to: SipRequest, body: string): SipMessage {
  const header = (name: string) => `${name}: ${to.headers.get(name)}`;
  return message(["SIP/2.0 200 OK", "Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK-se-1", header("Via"), header("From"), `${header("To")};tag=callee${calls}`, header("Call-ID"), "CSeq: 1 INVITE"], body);
}

function message(lines: string[], body: string): SipMessage {
  const parsed = parseMessage([...lines, "Content-Type: application/sdp", `Content-Length: ${Buffer.byteLength(body)}`, "", body].join("\r\n"));
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.message;
}

const rtpengineOf = (msg: SipMessage, request?: SipRequest) => new RtpengineScript(msg, request, { client, bridge: "local" }, log);

describe("recorded browser offers → a G.711 gateway and back, through rtpengine", () => {
  for (const who of ["chromium", "jssip", "sipjs"]) {
    it(`${who}: the gateway gets RTP/AVP with G.711 and RFC 4733 only; the browser gets ICE + DTLS-SRTP, rtpengine passive`, async () => {
      const call = invite(fixture(`${who}-offer`));
      expect(await rtpengineOf(call).offer(OFFER_TO_GATEWAY)).toEqual({ ok: true, command: "offer" });
      const [toGateway] = describeSdp(call.body);
      expect(toGateway).toMatchObject({ proto: "RTP/AVP", ice: false, dtls: false, sdes: false, rtcpMux: false, address: "127.0.0.1" });
      expect(toGateway?.codecs).toEqual(["PCMU", "PCMA", "telephone-event"]);
      expect(call.body).not.toMatch(/^a=(extmap:|fingerprint|ice-|candidate|setup|rtcp-mux)/m);

      const answer = ok(call, fixture("gateway-offer").replace("PCMU/8000\r\na=rtpmap:8 PCMA/8000", "PCMU/8000").replace(" 0 8 101", " 0 126").replace(/101/g, "126"));
      expect(await rtpengineOf(answer, call).answer(TO_BROWSER)).toEqual({ ok: true, command: "answer" });
      const [toBrowser] = describeSdp(answer.body);
      expect(toBrowser).toMatchObject({ proto: "UDP/TLS/RTP/SAVPF", ice: true, dtls: true, setup: "passive", rtcpMux: true, codecs: ["PCMU", "telephone-event"] });
    });
  }
});

describe("a G.711 gateway's offer → recorded browser answers, through rtpengine", () => {
  for (const who of ["chromium", "jssip", "sipjs"]) {
    it(`${who}: the browser is offered ICE + DTLS-SRTP; its answer goes to the gateway as RTP/AVP PCMU`, async () => {
      const call = invite(fixture("gateway-offer"));
      expect(await rtpengineOf(call).offer(TO_BROWSER)).toMatchObject({ ok: true });
      expect(describeSdp(call.body)[0]).toMatchObject({ proto: "UDP/TLS/RTP/SAVPF", ice: true, dtls: true, setup: "actpass", rtcpMux: true });
      const answer = ok(call, fixture(`${who}-answer`));
      expect(await rtpengineOf(answer, call).answer(TO_GATEWAY)).toMatchObject({ ok: true });
      const [toGateway] = describeSdp(answer.body);
      expect(toGateway).toMatchObject({ proto: "RTP/AVP", ice: false, dtls: false, address: "127.0.0.1" });
      expect(toGateway?.codecs[0]).toBe("PCMU");
      expect(answer.body).not.toMatch(/^a=(fingerprint|ice-|candidate|setup)/m);
    });
  }
});

it("rtpengine refuses an SDP it cannot read: the refusal comes back as 500 Media Relay Refused, the body untouched", async () => {
  const call = invite("v=0\r\nm=audio\r\n");
  expect(await rtpengineOf(call).offer(OFFER_TO_GATEWAY)).toMatchObject({ ok: false, error: "refused", status: 500, reason: "Media Relay Refused" });
  expect(call.body).toBe("v=0\r\nm=audio\r\n");
});

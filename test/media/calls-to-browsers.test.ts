import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { ROOT } from "../../scripts/stack.mjs";
import { describeSdp } from "../../src/modules/rtpengine/sdp.ts";
import { launchChromium, PhonePage } from "../helpers/browser.ts";
import { Sipp } from "../helpers/sipp.ts";
import { BRIDGE, DOMAIN, GATEWAYS, legsOf, startMediaStack, writeTone, type MediaStack } from "./media-stack.ts";

// Issue 11, "Done when": a sipp caller on the gateway side reaches the browser, with audio both
// ways through rtpengine; two /phone pages call each other with no rtpengine on the call.

const CALLER = GATEWAYS[1] as string;
const [CALLER_IP, CALLER_PORT] = CALLER.split(":") as [string, string];

let media: MediaStack;
let browser: Browser;

beforeAll(async () => {
  // The caller's audio: a 440 Hz tone as raw PCMU, which test/sipp/uac-media.xml streams.
  await writeTone(path.join(ROOT, ".sipedge/tone-pcmu.raw"));
  media = await startMediaStack({ gateways: [CALLER] });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await media?.stop();
});

describe("calls to browsers", () => {
  it("a PSTN caller reaches the browser: audio both ways, RTP/AVP PCMU to the caller, DTLS-SRTP to the browser", async () => {
    const bob = await PhonePage.open(browser, `${media.url}/phone`);
    await bob.register("bob", "bob123", DOMAIN);
    const caller = Sipp.uac(BRIDGE, "uac-media.xml", [
      "-i", CALLER_IP, "-p", CALLER_PORT, "-mi", CALLER_IP, "-mp", "6100", "-s", "bob", "-key", "domain", DOMAIN, "-m", "1", "-aa",
    ]);
    try {
      await bob.answer();
      await bob.waitText("#callstate", "in call");
      // The caller's tone arrives: packets and an audible level.
      const first = await bob.waitStats((s) => s.packetsReceived > 50 && s.audioLevel > 0.05, "the caller's tone");
      expect(first).toMatchObject({ dtls: "connected", ice: "connected", codec: "PCMU" });
      const later = await bob.waitStats((s) => s.packetsReceived > first.packetsReceived + 25, "inbound RTP growing");
      expect(later.packetsSent).toBeGreaterThan(first.packetsSent);
      expect(describeSdp((await bob.sdp()).remote ?? "")[0]).toMatchObject({ proto: "UDP/TLS/RTP/SAVPF", dtls: true, ice: true });

      // What the caller got back: rtpengine's plain RTP answer.
      const messages = await caller.messages();
      const ok = messages.find((m) => m.dir === "received" && m.status === 200);
      const callId = ok?.callId ?? "";
      const answer = describeSdp((ok?.text ?? "").slice((ok?.text ?? "").indexOf("\r\n\r\n") + 4))[0];
      expect(answer).toMatchObject({ proto: "RTP/AVP", dtls: false, ice: false, address: "127.0.0.1" });
      expect(answer?.codecs[0]).toBe("PCMU");

      // rtpengine saw packets from both sides.
      const legs = legsOf(await media.ng({ command: "query", "call-id": callId }));
      expect(legs.find((l) => l.protocol === "RTP/AVP")?.packets).toBeGreaterThan(50);
      expect(legs.find((l) => l.protocol === "UDP/TLS/RTP/SAVPF")?.packets).toBeGreaterThan(50);

      await bob.hangup();
      await bob.waitText("#callstate", "call ended");
      expect(await caller.exited).toBe(0); // the caller got its BYE and answered it
    } finally {
      await caller.stop();
      await bob.close();
    }
  });

  it("two /phone pages call each other directly: audio both ways, no rtpengine on the call", async () => {
    const calls = ((await media.ng({ command: "list" })).calls as string[]).length;
    const alice = await PhonePage.open(browser, `${media.url}/phone`);
    const carol = await PhonePage.open(browser, `${media.url}/phone`);
    try {
      await alice.register("alice", "alice123", DOMAIN);
      await carol.register("carol", "carol123", DOMAIN);
      await alice.call("carol");
      await carol.answer();
      await alice.waitText("#callstate", "in call");
      const a = await alice.waitStats((s) => s.packetsReceived > 50, "audio at alice");
      const c = await carol.waitStats((s) => s.packetsReceived > 50, "audio at carol");
      expect(a).toMatchObject({ dtls: "connected", codec: "opus" });
      expect(c).toMatchObject({ dtls: "connected", codec: "opus" });
      // Each browser's SDP is the other's, untouched: no rtpengine port range, no new session.
      const { remote } = await alice.sdp();
      expect(remote).not.toMatch(/^m=audio 30\d{3} /m);
      expect(remote).toMatch(/a=msid/); // Chromium's own description
      expect(((await media.ng({ command: "list" })).calls as string[]).length).toBe(calls);
      await alice.hangup();
      await carol.waitText("#callstate", "call ended");
    } finally {
      await alice.close();
      await carol.close();
    }
  });
});

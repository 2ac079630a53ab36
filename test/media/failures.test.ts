import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launchChromium, PhonePage } from "../helpers/browser.ts";
import { Sipp } from "../helpers/sipp.ts";
import { DOMAIN, GATEWAYS, RTPENGINE_RECHECK_S, startMediaStack, type MediaStack } from "./media-stack.ts";

// Issue 11, failure policy: rtpengine unreachable → the call fails with 503 "Media Relay
// Unavailable" and never reaches a gateway; rtpengine back → calls carry audio again; a 2xx whose
// answer cannot be anchored is not forwarded (the gateway's dialog is ended with ACK and BYE, the
// browser gets 500); a gateway's 500 fails over to the next with a new offer, and the call carries audio.

const ip = (g: string) => g.split(":")[0] as string;
const port = (g: string) => Number(g.split(":")[1]);
const [ECHO, SLOW, FAILING] = GATEWAYS as [string, string, string];
/** A gateway that rings until cancelled (test/sipp/uas-ring.xml), beside the others on its own address. */
const RINGING = "127.0.0.23:5060";
const NUMBER = "15551234567";

let media: MediaStack;
let browser: Browser;
const gateways: Sipp[] = [];

beforeAll(async () => {
  gateways.push(
    Sipp.gateway(ip(ECHO), port(ECHO), "uas-echo.xml", ["-rtp_echo", "-mi", ip(ECHO), "-mp", "6000"]),
    Sipp.gateway(ip(SLOW), port(SLOW), "uas-slow.xml", ["-mi", ip(SLOW), "-mp", "6200"]),
    Sipp.gateway(ip(FAILING), port(FAILING), "uas-500.xml"),
    Sipp.gateway(ip(RINGING), port(RINGING), "uas-ring.xml"),
  );
  media = await startMediaStack({ gateways: [ECHO] });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await media?.stop();
  await Promise.all(gateways.map((g) => g.stop()));
});

async function setGateways(list: string[]): Promise<void> {
  const body = list.map((g) => `1 sip:${g}`).join("\n") + "\n";
  const r = await fetch(`${media.url}/admin/import?file=dispatcher.list`, { method: "POST", headers: { Authorization: `Bearer ${media.adminToken}` }, body });
  expect(r.status).toBe(200);
  // The shards select from a snapshot at most a second old.
  await new Promise((r) => setTimeout(r, 1200));
}

async function registered(user: string, password: string): Promise<PhonePage> {
  const phone = await PhonePage.open(browser, `${media.url}/phone`);
  await phone.register(user, password, DOMAIN);
  return phone;
}

async function hangUp(phone: PhonePage): Promise<void> {
  await phone.hangup();
  await phone.waitText("#callstate", "call ended");
}

describe("media failure policy", () => {
  it("rtpengine stopped: a new call gets 503 Media Relay Unavailable and never reaches a gateway; started again: calls carry audio", async () => {
    const phone = await registered("alice", "alice123");
    const before = (await gateways[0]?.received("INVITE"))?.length ?? 0;
    await media.rtpengine.stop();
    await phone.call(NUMBER);
    await phone.waitText("#callstate", "(503 Media Relay Unavailable)");
    expect((await gateways[0]?.received("INVITE"))?.length).toBe(before);

    await media.restartRtpengine();
    // The bridge pings a silent rtpengine every RTPENGINE_RECHECK_S and uses it again once it answers.
    await new Promise((r) => setTimeout(r, RTPENGINE_RECHECK_S * 1000 + 500));
    await phone.call(NUMBER);
    await phone.waitText("#callstate", "in call");
    await phone.waitStats((s) => s.packetsReceived > 50 && s.dtls === "connected", "audio after rtpengine came back");
    await hangUp(phone);
    await phone.close();
  });

  it("a 2xx whose answer cannot be anchored is not forwarded: ACK and BYE end the gateway's dialog, the browser gets 500", async () => {
    await setGateways([SLOW]);
    const slow = gateways[1] as Sipp;
    const phone = await registered("alice", "alice123");
    await phone.call(NUMBER);
    // Offered and ringing; rtpengine goes away before the gateway answers (it waits 3 s).
    const deadline = Date.now() + 5000;
    while ((await slow.received("INVITE")).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const [callId] = await slow.received("INVITE");
    await media.rtpengine.stop();
    await phone.waitText("#callstate", "(500 Media Relay Unavailable)", 15_000);
    const received = (await slow.messages()).filter((m) => m.dir === "received" && m.callId === callId);
    expect(received.map((m) => m.method)).toEqual(expect.arrayContaining(["INVITE", "ACK", "BYE"]));
    const bye = received.find((m) => m.method === "BYE")?.text ?? "";
    expect(bye).toMatch(/^Reason: SIP;cause=500;text="Media Relay Unavailable"/m);
    expect(bye).toMatch(/^CSeq: \d+ BYE/m);
    await phone.close();
    await media.restartRtpengine();
    await new Promise((r) => setTimeout(r, RTPENGINE_RECHECK_S * 1000 + 500));
  });

  it("a call cancelled while it rings loses its media session (CANCEL → 487 → rtpengine_delete)", async () => {
    await setGateways([RINGING]);
    const ringing = gateways[3] as Sipp;
    const phone = await registered("alice", "alice123");
    await phone.call(NUMBER);
    await phone.waitText("#callstate", "calling");
    const deadline = Date.now() + 5000;
    while ((await ringing.received("INVITE")).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const [callId] = await ringing.received("INVITE");
    expect((await media.ng({ command: "query", "call-id": callId ?? "" })).result).toBe("ok"); // offered
    await new Promise((r) => setTimeout(r, 300)); // the 180 is through: a CANCEL may go now
    await phone.hangup();
    await phone.waitText("#callstate", "call ended: Canceled");
    await expect.poll(async () => (await media.ng({ command: "query", "call-id": callId ?? "" })).result, { timeout: 5000 }).toBe("error");
    expect(await ringing.received("CANCEL")).toEqual([callId]);
    await phone.close();
  });

  it("a gateway's 500 fails over to the next gateway with a new offer, and the call carries audio", async () => {
    await setGateways([FAILING, ECHO]);
    const failing = gateways[2] as Sipp;
    const echo = gateways[0] as Sipp;
    const phone = await registered("alice", "alice123");
    // Round robin: within two calls one starts at the failing gateway.
    for (let attempt = 0; attempt < 2; attempt++) {
      await phone.call(NUMBER);
      await phone.waitText("#callstate", "in call");
      await phone.waitStats((s) => s.packetsReceived > 50, "audio on the call");
      await hangUp(phone);
      const failed = await failing.received("INVITE");
      const answered = await echo.received("INVITE");
      const failedOver = failed.filter((id) => answered.includes(id));
      if (failedOver.length > 0) {
        // The failing gateway and the one that answered were offered rtpengine's plain RTP.
        const offers = (await failing.messages()).concat(await echo.messages()).filter((m) => m.method === "INVITE" && m.callId === failedOver[0]);
        for (const o of offers) expect(o.text).toMatch(/^m=audio \d+ RTP\/AVP /m);
        await phone.close();
        return;
      }
    }
    throw new Error("no call started at the failing gateway in two round-robin calls");
  });
});

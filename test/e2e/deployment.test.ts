import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  BRIDGE, BRIDGE_HOST, CARRIER, DOMAIN, GATEWAYS, NUMBER, clientAddress, gatewayUri, startDeployment, waitForDestinations, type Deployment,
} from "../helpers/deployment.ts";
import { SipUa, header } from "../helpers/sip-ua.ts";
import { JssipPhone, installFakeWebRtc, sessionEvent, within } from "../helpers/softphone.ts";
import { Sipp, hangUp } from "../helpers/sipp.ts";

// Every call flow through a stack shaped like a deployment (test/helpers/deployment.ts): the SIP
// domain sip.example.test with no aliases, the edge behind TLS (wss, Via WSS), the bridge on
// 127.0.0.9:5060 advertising itself, gateways on 127.0.0.20-22:5060, a carrier on 127.0.0.23,
// each client on an address of its own. Nothing here can pass because 127.0.0.1 is "myself".

const STEP_MS = 5000;
let dep: Deployment;
let gateways: Sipp[] = [];
let nextClient = 0;

beforeAll(async () => {
  installFakeWebRtc();
  dep = await startDeployment({ vars: { DS_PING_INTERVAL: "1" } });
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await dep?.destroy();
});

/** Runs `scenarios[i]` (or the one scenario) on each gateway address, port 5060. */
async function startGateways(...scenarios: string[]): Promise<Sipp[]> {
  await Promise.all(gateways.map((g) => g.stop()));
  gateways = GATEWAYS.map((ip, i) => Sipp.uas(5060, scenarios[i] ?? scenarios[0], [], ip));
  // Each answers the edge's OPTIONS keepalives (-aa): calls go out once probing saw them up.
  await waitForDestinations(dep, GATEWAYS.map(gatewayUri), "active");
  return gateways;
}

/**
 * The gateway that received the call with `callId`, and what it received in it, once it has
 * received `expected` messages (sipp writes its log as messages arrive) or STEP_MS passed.
 */
async function gatewayOf(callId: string, expected = 1): Promise<{ gateway: Sipp; received: string[] }> {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    for (const gateway of gateways) {
      const messages = (await gateway.messages()).filter((m) => m.callId === callId);
      const received = messages.filter((m) => m.dir === "received").map((m) => m.method || String(m.status));
      if (received.length >= expected || (received.length > 0 && Date.now() > deadline)) return { gateway, received };
    }
    if (Date.now() > deadline) throw new Error(`no gateway saw call ${callId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function ua(user: string): Promise<SipUa> {
  return SipUa.connect(dep.wsUrl, { user, password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert });
}

async function phone(user: string): Promise<JssipPhone> {
  return JssipPhone.start({ wsUrl: dep.wsUrl, username: user, password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert });
}

describe("a deployment: WebSocket callers to PSTN gateways", () => {
  beforeAll(async () => {
    await startGateways("uas.xml");
  });

  it("the edge serves wss: a REGISTER over TLS from the client's own address is answered 200", async () => {
    expect(dep.wsUrl).toMatch(/^wss:\/\/127\.0\.0\.8:\d+\/$/);
    const alice = await ua("user0401");
    expect((await alice.register()).response.status).toBe(200);
    await alice.close();
  });

  it("a caller dials a number: the gateway gets the INVITE through the bridge's address, then the ACK and the caller's BYE", async () => {
    const alice = await ua("user0402");
    const call = await alice.invite(NUMBER);
    expect(`${call.response.status} ${call.response.reason}`).toBe("200 OK");
    const callId = header(call.response, "call-id") ?? "";
    const bye = await hangUp(alice, call.response, call.cseq);
    expect(bye.status).toBe(200);
    const { gateway, received } = await gatewayOf(callId, 3);
    expect(received).toEqual(["INVITE", "ACK", "BYE"]);
    const invite = (await gateway.messages()).find((m) => m.dir === "received" && m.method === "INVITE" && m.callId === callId)?.text ?? "";
    // The proxy's Via and Record-Route on the UDP side name the bridge's advertised address.
    expect(invite).toMatch(new RegExp(`^Via: SIP/2\\.0/UDP ${BRIDGE.replace(/\./g, "\\.")};branch=`, "m"));
    expect(invite).toMatch(new RegExp(`^Record-Route: <sip:${BRIDGE_HOST.replace(/\./g, "\\.")}:5060;`, "m"));
    await alice.close();
  });

  it("a JsSIP caller over wss calls a number and hangs up: its ACK and BYE reach the gateway", async () => {
    const caller = await phone("user0403");
    try {
      const session = caller.call(NUMBER);
      await sessionEvent(session, "confirmed", STEP_MS * 2, caller.trace);
      const ended = sessionEvent(session, "ended", STEP_MS, caller.trace);
      session.terminate();
      await ended;
      await caller.trace.waitFor((e) => e.dir === "<" && e.method === "BYE" && e.status === 200, "200 to BYE", STEP_MS);
      const sent = caller.trace.requests(">", "INVITE")[0]?.text ?? "";
      expect(sent).toMatch(/^Via: SIP\/2\.0\/WSS /m);
      const callId = /^Call-ID: (\S+)/im.exec(sent)?.[1] ?? "";
      expect((await gatewayOf(callId, 3)).received).toEqual(["INVITE", "ACK", "BYE"]);
    } finally {
      await caller.stop();
    }
  });
});

describe("a deployment: the gateway ends, the caller cancels, re-INVITE, failover", () => {
  afterEach(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    gateways = [];
  });

  it("the gateway hangs up: its BYE reaches the JsSIP caller, whose 200 reaches the gateway", async () => {
    await startGateways("uas-hangup.xml");
    const caller = await phone("user0404");
    try {
      const session = caller.call(NUMBER);
      await sessionEvent(session, "confirmed", STEP_MS * 2, caller.trace);
      const ended = await sessionEvent<{ originator: string }>(session, "ended", STEP_MS, caller.trace);
      expect(ended.originator).toBe("remote");
      const callId = /^Call-ID: (\S+)/im.exec(caller.trace.requests(">", "INVITE")[0]?.text ?? "")?.[1] ?? "";
      const { received } = await gatewayOf(callId, 3);
      expect(received).toEqual(["INVITE", "ACK", "200"]);
    } finally {
      await caller.stop();
    }
  });

  it("the caller cancels a ringing call: the gateway gets the CANCEL and the ACK of its 487; the caller gets 487", async () => {
    await startGateways("uas-ring.xml");
    const caller = await phone("user0405");
    try {
      const session = caller.call(NUMBER);
      await sessionEvent(session, "progress", STEP_MS * 2, caller.trace);
      const failed = sessionEvent<{ cause: string }>(session, "failed", STEP_MS, caller.trace);
      session.terminate();
      expect((await failed).cause).toBe("Canceled");
      await caller.trace.waitFor((e) => e.dir === "<" && e.method === "INVITE" && e.status === 487, "487 to the INVITE", STEP_MS);
      const callId = /^Call-ID: (\S+)/im.exec(caller.trace.requests(">", "INVITE")[0]?.text ?? "")?.[1] ?? "";
      const { received } = await gatewayOf(callId, 3);
      expect(received).toEqual(["INVITE", "CANCEL", "ACK"]);
    } finally {
      await caller.stop();
    }
  });

  it("the caller re-INVITEs during the call: the gateway answers it and gets its ACK, then the BYE", async () => {
    await startGateways("uas-reinvite.xml");
    const caller = await phone("user0406");
    try {
      const session = caller.call(NUMBER);
      await sessionEvent(session, "confirmed", STEP_MS * 2, caller.trace);
      const renegotiated = new Promise<void>((resolve, reject) => {
        if (!session.renegotiate({}, () => resolve())) reject(new Error("JsSIP refused to renegotiate"));
      });
      await within(renegotiated, STEP_MS, "re-INVITE answered", caller.trace);
      const ended = sessionEvent(session, "ended", STEP_MS, caller.trace);
      session.terminate();
      await ended;
      await caller.trace.waitFor((e) => e.dir === "<" && e.method === "BYE" && e.status === 200, "200 to BYE", STEP_MS);
      expect(caller.trace.responses("INVITE").filter((s) => s === 200)).toHaveLength(2);
      const callId = /^Call-ID: (\S+)/im.exec(caller.trace.requests(">", "INVITE")[0]?.text ?? "")?.[1] ?? "";
      expect((await gatewayOf(callId, 5)).received).toEqual(["INVITE", "ACK", "INVITE", "ACK", "BYE"]);
    } finally {
      await caller.stop();
    }
  });

  it("a gateway answering 500 is failed over to the next (RTF_DISPATCH): every call completes", async () => {
    await startGateways("uas-500.xml", "uas.xml", "uas.xml");
    const alice = await ua("user0407");
    const failedOver: string[] = [];
    for (let i = 0; i < 3; i++) {
      const call = await alice.invite(NUMBER);
      expect(call.response.status).toBe(200);
      const callId = header(call.response, "call-id") ?? "";
      expect((await hangUp(alice, call.response, call.cseq)).status).toBe(200);
      const bad = (await gateways[0]?.messages())?.filter((m) => m.callId === callId && m.dir === "received").map((m) => m.method) ?? [];
      if (bad.includes("INVITE")) {
        expect(bad).toEqual(["INVITE", "ACK"]); // the 500's hop-by-hop ACK, from the bridge
        failedOver.push(callId);
      }
    }
    // Round robin over three gateways: one of three consecutive calls meets the 500 first.
    expect(failedOver.length).toBeGreaterThanOrEqual(1);
    await alice.close();
  });
});

describe("a deployment: a carrier calls WebSocket users", () => {
  let callee: JssipPhone;
  let user: string;

  beforeAll(async () => {
    user = "user0408";
    callee = await phone(user);
    await callee.register();
  });

  afterAll(async () => {
    await callee?.stop();
  });

  /** The carrier (a dispatcher destination, so trusted) calls the user at `domain`. */
  async function carrierCall(scenario: string, domain: string) {
    const uac = Sipp.uac(BRIDGE, scenario, ["-p", "5060", "-aa", "-s", user, "-key", "domain", domain, "-m", "1", "-timeout", "15s"], CARRIER);
    const session = await callee.nextSession(STEP_MS).catch(async (e: unknown) => {
      await uac.stop();
      throw new Error(`${String(e)}\n${uac.log}`);
    });
    const confirmed = sessionEvent(session, "confirmed", STEP_MS, callee.trace);
    session.answer({ mediaConstraints: { audio: false, video: false } });
    await confirmed;
    return { uac, session };
  }

  it("addressed to the bridge's own address, the call reaches the user; the carrier hangs up", async () => {
    const { uac, session } = await carrierCall("uac-call-user.xml", BRIDGE);
    try {
      // RFC 7118 §5: the proxy's Via toward a client that connected over TLS says WSS.
      const invite = callee.trace.requests("<", "INVITE").at(-1)?.text ?? "";
      expect(invite).toMatch(new RegExp(`^Via: SIP/2\\.0/WSS ${DOMAIN.replace(/\./g, "\\.")};branch=z9hG4bK-se-`, "m"));
      await sessionEvent(session, "ended", STEP_MS, callee.trace);
      expect(await within(uac.exited, STEP_MS, "sipp UAC exit", callee.trace)).toBe(0);
      expect(callee.trace.requests("<", "ACK").length).toBeGreaterThan(0);
      expect(callee.trace.requests("<", "BYE").length).toBeGreaterThan(0);
    } finally {
      await uac.stop();
    }
  });

  it("addressed to the SIP domain, the call reaches the user; the user hangs up and the BYE reaches the carrier", async () => {
    const { uac, session } = await carrierCall("uac-call-user-callee-bye.xml", DOMAIN);
    try {
      const ended = sessionEvent(session, "ended", STEP_MS, callee.trace);
      session.terminate();
      await ended;
      expect(await within(uac.exited, STEP_MS, "sipp UAC exit", callee.trace)).toBe(0);
      expect(await uac.received("BYE")).toHaveLength(1);
      expect(callee.trace.responses("BYE").at(-1)).toBe(200);
    } finally {
      await uac.stop();
    }
  });
});

import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBridge, startStack } from "../../scripts/stack.mjs";
import { SipUa, parseMessage, type SipMessage } from "../helpers/sip-ua.ts";
import { JssipPhone, installFakeWebRtc, sessionEvent, within } from "../helpers/softphone.ts";
import { Sipp, gatewayPort, hangUp } from "../helpers/sipp.ts";

// Calls to PSTN numbers through the dispatcher and the bridge to real sipp gateways (the seed's
// set 1: 127.0.0.1:7070/7072/7074), as the seed's Kamailio DISPATCH route does it, and calls from
// a gateway to a registered user (issue 4, "Done when"). Failover is in gateway-failover.test.ts.

type Stack = Awaited<ReturnType<typeof startStack>>;
type Bridge = Awaited<ReturnType<typeof startBridge>>;

const GATEWAYS = [7070, 7072, 7074];
const NUMBER = "sip:15551234567@localhost";
const STEP_MS = 5000;

let stack: Stack;
let stateDir: string;
let restartedBridge: Bridge | undefined;
const gateways = new Map<number, Sipp>();
const bridgePort = 15000 + Math.floor(Math.random() * 4000);
const vars = { DS_PING_INTERVAL: "1", LOG_LEVEL: "warn" };

beforeAll(async () => {
  installFakeWebRtc();
  for (const port of GATEWAYS) gateways.set(port, Sipp.uas(port));
  stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-dispatch-"));
  stack = await startStack({ port: 0, stateDir, build: false, bridge: { listen: `127.0.0.1:${bridgePort}` }, vars });
});

afterAll(async () => {
  await restartedBridge?.stop();
  await stack?.stop();
  await Promise.all([...gateways.values()].map((g) => g.stop()));
  await rm(stateDir, { recursive: true, force: true });
});

/** One call to a number from a raw WebSocket UA: INVITE (407, INVITE) → final, then ACK and BYE. */
async function callNumber(ua: SipUa): Promise<{ status: number; gateway?: number; bye?: number }> {
  const call = await ua.invite(NUMBER);
  if (call.response.status !== 200) return { status: call.response.status };
  const bye = await hangUp(ua, call.response, call.cseq);
  return { status: 200, gateway: gatewayPort(call.response), bye: bye.status };
}

describe("calls to gateways through the dispatcher and the bridge", () => {
  it("a WebSocket caller dials a number: 407, then 100/180/200 from a sipp gateway, ACK and BYE", async () => {
    const alice = await SipUa.connect(stack.wsUrl, { user: "user0201", password: "pw" });
    expect((await alice.register()).response.status).toBe(200);
    const call = await alice.invite(NUMBER);
    expect(call.challenges.map((c) => c.status)).toEqual([407]);
    expect(`${call.response.status} ${call.response.reason}`).toBe("200 OK");
    expect(GATEWAYS).toContain(gatewayPort(call.response));
    expect((await hangUp(alice, call.response, call.cseq)).status).toBe(200);
    await alice.close();
  });

  it("a JsSIP caller dials a number: it answers the 407 itself, a gateway answers 200, JsSIP's ACK and BYE reach it", async () => {
    const phone = await JssipPhone.start({ wsUrl: stack.wsUrl, username: "user0301", password: "pw" });
    try {
      const session = phone.call(NUMBER);
      const confirmed = sessionEvent(session, "confirmed", STEP_MS * 2, phone.trace);
      await confirmed;
      const ended = sessionEvent(session, "ended", STEP_MS, phone.trace);
      session.terminate(); // BYE along the gateway's route set
      await ended;
      const trace = phone.trace.dump();
      const invites = phone.trace.responses("INVITE");
      expect(invites[0], trace).toBe(407);
      expect(invites.at(-1), trace).toBe(200);
      expect(phone.trace.requests(">", "ACK").length, trace).toBeGreaterThanOrEqual(2); // the 407's and the 200's
      const ok = phone.trace.entries.find((e) => e.dir === "<" && e.method === "INVITE" && e.status === 200);
      expect(GATEWAYS, trace).toContain(gatewayPort(parseMessage(ok?.text ?? "")));
      await within(phone.trace.waitFor((e) => e.dir === "<" && e.method === "BYE" && e.status === 200, "200 to BYE"), STEP_MS, "200 to BYE", phone.trace);
    } finally {
      await phone.stop();
    }
  });

  it("calls from one caller go round robin over the three gateways (ds_select_dst(\"1\", \"4\"))", async () => {
    const ua = await SipUa.connect(stack.wsUrl, { user: "user0302", password: "pw" });
    const answered: (number | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const call = await callNumber(ua);
      expect(call).toMatchObject({ status: 200, bye: 200 });
      answered.push(call.gateway);
    }
    expect([...answered].sort()).toEqual(GATEWAYS);
    await ua.close();
  });
});

/** Sends one datagram from `socket` to the bridge and resolves with the first final response. */
function udpRequest(socket: dgram.Socket, text: string): Promise<SipMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no final response through the bridge")), STEP_MS);
    socket.on("message", (data) => {
      const msg = parseMessage(data.toString());
      if (msg.status < 200) return;
      clearTimeout(timer);
      resolve(msg);
    });
    socket.send(text, bridgePort, "127.0.0.1");
  });
}

describe("in-dialog requests toward the UDP side", () => {
  it("a Route set naming the proxy from a client outside the dialog is challenged first, and never aims the bridge at an address that is not a gateway", async () => {
    // A client can write a Route naming the edge and then any next hop. It owns no flow of that
    // "dialog", so it must authenticate like any caller (407), and even then the edge follows
    // such a set through the bridge only to a dispatcher destination (404 otherwise).
    const probe = dgram.createSocket("udp4");
    await new Promise<void>((r) => probe.bind(0, "127.0.0.1", () => r()));
    const port = (probe.address() as { port: number }).port;
    const received: string[] = [];
    probe.on("message", (m) => received.push(m.toString()));
    const ua = await SipUa.connect(stack.wsUrl, { user: "user0399", password: "pw" });
    const bye = await ua.request({
      method: "BYE",
      ruri: `sip:victim@127.0.0.1:${port}`,
      to: `<sip:victim@127.0.0.1:${port}>;tag=t`,
      callId: "forged-route",
      cseq: 1,
      fromTag: "f",
      extraHeaders: ["Route: <sip:localhost;transport=ws;lr>"],
    });
    expect(bye.challenges.map((c) => c.status)).toEqual([407]);
    expect([bye.response.status, bye.response.reason]).toEqual([404, "Not here"]);
    // The 404 came after the edge decided; a datagram it had sent would have arrived by now.
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toEqual([]);
    probe.close();
    await ua.close();
  });
});

describe("calls from gateways to registered users", () => {
  // The trust rule is ds_is_from_list(): the source ip:port must be a set destination. The caller
  // takes the place of the gateway on 7074 for these calls.
  const UAC_PORT = 7074;
  let phone: JssipPhone;

  beforeAll(async () => {
    await gateways.get(UAC_PORT)?.stop();
    gateways.delete(UAC_PORT);
    phone = await JssipPhone.start({ wsUrl: stack.wsUrl, username: "user0303", password: "pw" });
    await phone.register();
  });

  afterAll(async () => {
    await phone?.stop();
    gateways.set(UAC_PORT, Sipp.uas(UAC_PORT));
  });

  async function gatewayCalls(scenario: string) {
    const uac = Sipp.uac(`127.0.0.1:${bridgePort}`, scenario, ["-p", String(UAC_PORT), "-aa", "-s", "user0303", "-key", "domain", "localhost", "-m", "1", "-timeout", "15s"]);
    const session = await phone.nextSession(STEP_MS).catch(async (e: unknown) => {
      await uac.stop();
      throw new Error(`${String(e)}\n${uac.log}`);
    });
    const confirmed = sessionEvent(session, "confirmed", STEP_MS, phone.trace);
    session.answer({ mediaConstraints: { audio: false, video: false } });
    await confirmed;
    return { uac, session };
  }

  it("a sipp gateway calls a registered JsSIP user: the user answers, the gateway's ACK arrives and its BYE is answered 200", async () => {
    const { uac, session } = await gatewayCalls("uac-call-user.xml");
    const ended = sessionEvent(session, "ended", STEP_MS, phone.trace);
    await ended;
    const code = await within(uac.exited, STEP_MS, "sipp UAC exit", phone.trace);
    const messages = await uac.messages();
    expect(code, `${uac.log}\n${messages.map((m) => m.text).join("\n\n")}`).toBe(0);
    const invite = phone.trace.requests("<", "INVITE").at(-1)?.text ?? "";
    expect(invite).toMatch(/^From: "PSTN" <sip:15550001111@127\.0\.0\.1:7074>/m);
    expect(phone.trace.requests("<", "ACK").length).toBeGreaterThan(0);
    expect(messages.filter((m) => m.dir === "received" && m.status === 200).length).toBeGreaterThanOrEqual(2); // INVITE, BYE
    await uac.stop();
  });

  it("a sipp gateway calls a registered JsSIP user and the user hangs up: the BYE reaches the gateway through the bridge", async () => {
    const { uac, session } = await gatewayCalls("uac-call-user-callee-bye.xml");
    const ended = sessionEvent(session, "ended", STEP_MS, phone.trace);
    session.terminate();
    await ended;
    const code = await within(uac.exited, STEP_MS, "sipp UAC exit", phone.trace);
    expect(code, uac.log).toBe(0);
    expect(await uac.received("BYE")).toHaveLength(1);
    expect(phone.trace.responses("BYE").at(-1)).toBe(200);
    await uac.stop();
  });

  it("a request through the bridge from an address that is not a dispatcher destination is refused 403", async () => {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    const { port } = socket.address();
    const callId = randomBytes(8).toString("hex");
    const branch = `z9hG4bK${randomBytes(8).toString("hex")}`;
    const head = (method: string) =>
      [
        `${method} sip:user0303@localhost SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch}`,
        "Max-Forwards: 70",
        `From: <sip:15550002222@127.0.0.1:${port}>;tag=spoof`,
        "To: <sip:user0303@localhost>",
        `Call-ID: ${callId}`,
        `CSeq: 1 ${method}`,
        `Contact: <sip:15550002222@127.0.0.1:${port}>`,
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n");
    try {
      const answer = await udpRequest(socket, head("INVITE"));
      expect(`${answer.status} ${answer.reason}`).toBe("403 Forbidden");
      socket.send(head("ACK").replace(/^Contact:.*\r\n/m, ""), bridgePort, "127.0.0.1");
      expect(phone.trace.requests("<", "INVITE").filter((e) => e.text.includes(callId))).toEqual([]);
    } finally {
      socket.close();
    }
  });
});

describe("the bridge and the edge restarted", () => {
  /** Calls until one completes (or `ms` pass): a link may need a moment to say hello. */
  async function callUntilAnswered(ms: number): Promise<{ status: number; gateway?: number; bye?: number; tries: number }> {
    const deadline = Date.now() + ms;
    for (let tries = 1; ; tries++) {
      const ua = await SipUa.connect(stack.wsUrl, { user: "user0304", password: "pw" }).catch(() => undefined);
      const call = ua && (await callNumber(ua).catch(() => ({ status: 0 })));
      await ua?.close();
      if ((call && call.status === 200) || Date.now() > deadline) return { ...(call ?? { status: 0 }), tries };
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  it("while the bridge is down a call to a number is refused at once; a new bridge process on the same port carries calls again", async () => {
    await stack.bridge?.stop();
    const ua = await SipUa.connect(stack.wsUrl, { user: "user0304", password: "pw" });
    const started = Date.now();
    const down = await ua.invite(NUMBER);
    expect(down.response.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);
    await ua.close();
    // Resolves once it listens on UDP; its links to the shards come up just after.
    restartedBridge = await startBridge({ edgeUrl: stack.url, secret: stack.bridgeSecret, listen: `127.0.0.1:${bridgePort}` });
    expect(await callUntilAnswered(10_000)).toMatchObject({ status: 200, bye: 200 });
  });

  it("an edge restart under a running bridge: the bridge reconnects by itself and calls work again", async () => {
    const port = Number(new URL(stack.url).port);
    await stack.mf.dispose();
    const bridgeSecret = stack.bridgeSecret;
    stack = await startStack({ port, stateDir, build: false, vars: { ...vars, BRIDGE_SECRET: bridgeSecret } });
    const after = await callUntilAnswered(20_000);
    expect(after).toMatchObject({ status: 200, bye: 200 });
  }, 40_000);
});

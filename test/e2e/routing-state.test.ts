import dgram from "node:dgram";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BRIDGE_HOST, DOMAIN, GATEWAYS, NUMBER, clientAddress, gatewayReceived, gatewayUri, startDeployment, waitForDestinations, type Deployment } from "../helpers/deployment.ts";
import { SipUa, header, parseMessage, type SipMessage } from "../helpers/sip-ua.ts";
import { Sipp, hangUp } from "../helpers/sipp.ts";
import { callerRouteSet, contactUri, respond } from "../helpers/uas.ts";

// Issue 8 §2: routing state the proxy hands out is signed, and a dialog's flows belong to its
// parties. Every attack here reached the victim's socket on 33abd8f; each must now be refused,
// while the parties' own requests — also after a reconnect — still get through.

const DIALOG_FLOW_TIMEOUT = 2; // s: how long a gateway call's WebSocket side may be gone
let dep: Deployment;
let nextClient = 0;
const gateways: Sipp[] = [];

beforeAll(async () => {
  dep = await startDeployment({ vars: { DS_PING_INTERVAL: "1", DIALOG_FLOW_TIMEOUT: String(DIALOG_FLOW_TIMEOUT) } });
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await dep?.destroy();
});

function ua(user: string, extra: { instance?: string; regId?: number } = {}): Promise<SipUa> {
  return SipUa.connect(dep.wsUrl, { user, password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert, ...extra });
}

const aorUri = (user: string): string => `sip:${user}@${DOMAIN}`;

/** `caller` calls `callee` (both registered) and `callee` answers 200: the 200 as the caller got it, and the INVITE as the callee got it. */
async function call(caller: SipUa, callee: SipUa, calleeUser: string): Promise<{ ok: SipMessage; invite: SipMessage; cseq: number }> {
  const calling = caller.invite(aorUri(calleeUser));
  const invite = await callee.nextRequest("INVITE");
  respond(callee, invite, 200, "OK");
  const outcome = await calling;
  expect(outcome.response.status).toBe(200);
  return { ok: outcome.response, invite, cseq: outcome.cseq };
}

/** An in-dialog request of the caller's side, with `routes` as its Route set (default: the dialog's). */
function inDialog(from: SipUa, ok: SipMessage, method: string, cseq: number, routes = callerRouteSet(ok), callId = header(ok, "call-id") ?? "") {
  return from.request({
    method,
    ruri: contactUri(ok),
    to: header(ok, "to") ?? "",
    callId,
    cseq,
    fromTag: /;tag=([^;>\s]+)/.exec(header(ok, "from") ?? "")?.[1],
    extraHeaders: routes.map((r) => `Route: ${r}`),
  });
}

/**
 * Proves that nothing reached `victim` before now: a MESSAGE sent to it now is the first request
 * it receives (a forged request delivered earlier would be first).
 */
async function nothingReached(victim: SipUa, victimUser: string): Promise<void> {
  const sender = await ua("user0599");
  const sending = sender.request({ method: "MESSAGE", ruri: aorUri(victimUser), to: `<${aorUri(victimUser)}>`, callId: randomBytes(8).toString("hex"), cseq: 1, body: "probe" });
  const first = await victim.nextRequest(undefined, 5000);
  expect(`${first.method} ${first.body}`).toBe("MESSAGE probe");
  respond(victim, first, 200, "OK");
  expect((await sending).response.status).toBe(200);
  await sender.close();
}

describe("signed Record-Route entries: forged, altered and replayed route sets", () => {
  let alice: SipUa;
  let mallory: SipUa;
  let dialog: { ok: SipMessage; invite: SipMessage; cseq: number };

  beforeAll(async () => {
    alice = await ua("user0501");
    mallory = await ua("user0502");
    expect((await alice.register()).response.status).toBe(200);
    expect((await mallory.register()).response.status).toBe(200);
    // Mallory calls Alice: he learns the dialog's route set, Alice's flow token in it.
    dialog = await call(mallory, alice, "user0501");
  });

  afterAll(async () => {
    await alice?.close();
    await mallory?.close();
  });

  it("the route set names Alice's flow, signed; a party of the dialog uses it as it is (INFO reaches Alice)", async () => {
    expect(callerRouteSet(dialog.ok).join(",")).toMatch(/;flow=[^;>]+.*;sg=[A-Za-z0-9_-]{16}/);
    const sending = inDialog(mallory, dialog.ok, "INFO", dialog.cseq + 1);
    const info = await alice.nextRequest("INFO");
    respond(alice, info, 200, "OK");
    expect((await sending).response.status).toBe(200);
  });

  it("an altered flow token, a stripped signature and the set of another call are refused 403, and reach nobody", async () => {
    const routes = callerRouteSet(dialog.ok);
    const forged = routes.map((r) => r.replace(/;flow=([^;>]+)/, (_m, f: string) => `;flow=${f.slice(0, -4)}dead`));
    expect((await inDialog(mallory, dialog.ok, "INFO", dialog.cseq + 2, forged)).response.status).toBe(403);
    const unsigned = routes.map((r) => r.replace(/;sg=[A-Za-z0-9_-]+/, ""));
    expect((await inDialog(mallory, dialog.ok, "INFO", dialog.cseq + 3, unsigned)).response.status).toBe(403);
    const elsewhere = await inDialog(mallory, dialog.ok, "INFO", dialog.cseq + 4, routes, `other-${randomBytes(4).toString("hex")}`);
    expect(elsewhere.response.status).toBe(403);
    await nothingReached(alice, "user0501");
  });

  it("a finished call's route set, replayed from a socket that never authenticated, is challenged and reaches nobody", async () => {
    const bye = inDialog(mallory, dialog.ok, "BYE", dialog.cseq + 5);
    respond(alice, await alice.nextRequest("BYE"), 200, "OK");
    expect((await bye).response.status).toBe(200);
    const eve = await ua("user0503");
    const replay = eve.request({
      method: "BYE",
      ruri: contactUri(dialog.ok),
      to: header(dialog.ok, "to") ?? "",
      callId: header(dialog.ok, "call-id") ?? "",
      cseq: dialog.cseq + 6,
      extraHeaders: callerRouteSet(dialog.ok).map((r) => `Route: ${r}`),
      password: "not eve's password",
    });
    const outcome = await replay;
    expect(outcome.challenges.map((c) => c.status)).toEqual([407]);
    expect(outcome.response.status).toBe(407); // the wrong password gets nowhere either
    await eve.close();
    await nothingReached(alice, "user0501");
  });

  it("the same replay as UDP from an address that is no gateway is refused 403 before any routing; so is an OPTIONS to the proxy", async () => {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((r) => socket.bind(0, "127.0.0.50", () => r()));
    const { port } = socket.address();
    const answers: SipMessage[] = [];
    socket.on("message", (m) => answers.push(parseMessage(m.toString())));
    const datagram = (method: string, ruri: string, extra: string[]) =>
      [
        `${method} ${ruri} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.50:${port};branch=z9hG4bK${randomBytes(6).toString("hex")};rport`,
        "Max-Forwards: 70",
        ...extra,
        `From: ${header(dialog.ok, "from")}`,
        `To: ${method === "OPTIONS" ? `<sip:${DOMAIN}>` : header(dialog.ok, "to")}`,
        `Call-ID: ${method === "OPTIONS" ? randomBytes(6).toString("hex") : header(dialog.ok, "call-id")}`,
        `CSeq: ${dialog.cseq + 7} ${method}`,
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n");
    socket.send(datagram("BYE", contactUri(dialog.ok), callerRouteSet(dialog.ok).map((r) => `Route: ${r}`)), 5060, BRIDGE_HOST);
    socket.send(datagram("OPTIONS", `sip:${DOMAIN}`, []), 5060, BRIDGE_HOST);
    const deadline = Date.now() + 5000;
    while (answers.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    socket.close();
    expect(answers.map((a) => `${a.method} ${a.status} ${a.reason}`).sort()).toEqual(["BYE 403 Forbidden", "OPTIONS 403 Forbidden"]);
    await nothingReached(alice, "user0501");
  });

  it("a closed flow's token presented on someone else's socket is challenged first", async () => {
    const bob = await ua("user0504");
    expect((await bob.register()).response.status).toBe(200);
    const bobCall = await call(mallory, bob, "user0504");
    await bob.terminate();
    const eve = await ua("user0505");
    const outcome = await eve.request({
      method: "INFO",
      ruri: contactUri(bobCall.ok),
      to: header(bobCall.ok, "to") ?? "",
      callId: header(bobCall.ok, "call-id") ?? "",
      cseq: 99,
      extraHeaders: callerRouteSet(bobCall.ok).map((r) => `Route: ${r}`),
      password: "wrong",
    });
    expect(outcome.challenges.map((c) => c.status)).toEqual([407]);
    await eve.close();
  });
});

describe("calls survive a reconnect (RFC 5626: the same instance and reg-id)", () => {
  const instance = `urn:uuid:${crypto.randomUUID()}`;

  it("the caller's BYE reaches the callee's new flow after the callee reconnected and registered again", async () => {
    const alice = await ua("user0511", { instance, regId: 1 });
    const bob = await ua("user0512");
    expect((await alice.register()).response.status).toBe(200);
    expect((await bob.register()).response.status).toBe(200);
    const { ok, cseq } = await call(bob, alice, "user0511");
    await alice.terminate(); // a deploy, a network change: the socket is gone
    const again = await ua("user0511", { instance, regId: 1 });
    expect((await again.register()).response.status).toBe(200);
    const bye = inDialog(bob, ok, "BYE", cseq + 1);
    respond(again, await again.nextRequest("BYE"), 200, "OK");
    expect((await bye).response.status).toBe(200);
    await again.close();
    await bob.close();
  });

  it("the reconnected client's own in-dialog request is routed without a challenge (its instance owns the dialog)", async () => {
    const alice = await ua("user0513", { instance: `urn:uuid:${crypto.randomUUID()}`, regId: 1 });
    const bob = await ua("user0514");
    expect((await alice.register()).response.status).toBe(200);
    expect((await bob.register()).response.status).toBe(200);
    const calling = alice.invite(aorUri("user0514"));
    const invite = await bob.nextRequest("INVITE");
    respond(bob, invite, 200, "OK");
    const { response: ok, cseq } = await calling;
    await alice.terminate();
    const again = await ua("user0513", alice.options);
    expect((await again.register()).response.status).toBe(200);
    const bye = inDialog(again, ok, "BYE", cseq + 1);
    respond(bob, await bob.nextRequest("BYE"), 200, "OK");
    const outcome = await bye;
    expect(outcome.challenges).toEqual([]);
    expect(outcome.response.status).toBe(200);
    await again.close();
    await bob.close();
  });

  it("without a reconnect, a request for the closed flow fails with 430 Flow Failed", async () => {
    const alice = await ua("user0515", { instance: `urn:uuid:${crypto.randomUUID()}`, regId: 1 });
    const bob = await ua("user0516");
    expect((await alice.register()).response.status).toBe(200);
    expect((await bob.register()).response.status).toBe(200);
    const { ok, cseq } = await call(bob, alice, "user0515");
    await alice.terminate();
    const outcome = await inDialog(bob, ok, "INFO", cseq + 1);
    expect(`${outcome.response.status} ${outcome.response.reason}`).toBe("430 Flow Failed");
    await bob.close();
  });
});

describe(`a gateway call whose WebSocket side is gone for DIALOG_FLOW_TIMEOUT (${DIALOG_FLOW_TIMEOUT} s)`, () => {
  beforeAll(async () => {
    // Gateways that wait for the caller's BYE (uas.xml), and one that hangs up itself after 4 s.
    gateways.push(Sipp.uas(5060, "uas.xml", [], GATEWAYS[0]), Sipp.uas(5060, "uas.xml", [], GATEWAYS[1]), Sipp.uas(5060, "uas.xml", [], GATEWAYS[2]));
    await waitForDestinations(dep, GATEWAYS.map(gatewayUri), "active");
  });


  it("is ended toward the gateway with a BYE the gateway answers", async () => {
    const alice = await ua("user0521", { instance: `urn:uuid:${crypto.randomUUID()}`, regId: 1 });
    expect((await alice.register()).response.status).toBe(200);
    const placed = await alice.invite(NUMBER);
    expect(placed.response.status).toBe(200);
    const callId = header(placed.response, "call-id") ?? "";
    await alice.terminate();
    const gone = Date.now();
    // Polled every timeout/10 (at least 250 ms): the BYE comes within the timeout and two polls.
    const received = await gatewayReceived(gateways, callId, 2, DIALOG_FLOW_TIMEOUT * 1000 + 3000);
    const bye = received.find((m) => m.method === "BYE");
    expect(bye, received.map((m) => m.raw).join("\n")).toBeDefined();
    expect(header(bye as SipMessage, "reason")).toMatch(/^SIP;cause=480/);
    expect(header(bye as SipMessage, "to")).toBe(header(placed.response, "to"));
    expect(Date.now() - gone).toBeGreaterThanOrEqual(DIALOG_FLOW_TIMEOUT * 1000);
  });

  it("lives on when the caller reconnects in time: the caller's BYE from its new flow reaches the gateway, and no other does", async () => {
    const options = { instance: `urn:uuid:${crypto.randomUUID()}`, regId: 1 };
    const alice = await ua("user0522", options);
    expect((await alice.register()).response.status).toBe(200);
    const placed = await alice.invite(NUMBER);
    expect(placed.response.status).toBe(200);
    const callId = header(placed.response, "call-id") ?? "";
    await alice.terminate();
    const again = await ua("user0522", options);
    expect((await again.register()).response.status).toBe(200);
    // Longer than the timeout: the edge must have followed the call to the new flow.
    await new Promise((r) => setTimeout(r, DIALOG_FLOW_TIMEOUT * 1000 + 1500));
    expect((await hangUp(again, placed.response, placed.cseq)).status).toBe(200);
    const byes = (await gatewayReceived(gateways, callId, 3, 2000)).filter((m) => m.method === "BYE");
    expect(byes.map((b) => header(b, "reason"))).toEqual([undefined]);
    await again.close();
  });
});

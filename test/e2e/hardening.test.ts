import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOMAIN, GATEWAYS, NUMBER, admin, clientAddress, startDeployment, waitForDestinations, type Deployment } from "../helpers/deployment.ts";
import { SipUa } from "../helpers/sip-ua.ts";
import { Sipp, hangUp } from "../helpers/sipp.ts";
import { respond } from "../helpers/uas.ts";

// Issue 8 §3-§4 on a deployment-shaped stack: faults a new user and an attacker hit on 33abd8f.

let nextClient = 0;
function ua(dep: Deployment, user: string): Promise<SipUa> {
  return SipUa.connect(dep.wsUrl, { user, password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert });
}

describe("the messages of one flow are handled in arrival order", () => {
  let dep: Deployment;
  beforeAll(async () => {
    dep = await startDeployment();
  });
  afterAll(async () => {
    await dep?.destroy();
  });

  it("a CANCEL sent right behind its INVITE, while the INVITE awaits its lookups, cancels it: 200 to the CANCEL, 487 to the INVITE", async () => {
    const alice = await ua(dep, "user0601");
    const bob = await ua(dep, "user0602");
    expect((await alice.register()).response.status).toBe(200);
    // One challenged request first: from then on bob's requests carry credentials at once.
    const warmUp = bob.request({ method: "MESSAGE", ruri: `sip:user0601@${DOMAIN}`, to: `<sip:user0601@${DOMAIN}>`, callId: "warm-up", cseq: 1, body: "hi" });
    respond(alice, await alice.nextRequest("MESSAGE"), 200, "OK");
    expect((await warmUp).response.status).toBe(200);
    // The CANCEL leaves in the same tick as the INVITE (same branch, RFC 3261 §9.1).
    const send = bob.send.bind(bob);
    let cancel = "";
    bob.send = (text: string) => {
      send(text);
      if (!text.startsWith("INVITE ")) return;
      const line = (name: string) => text.split("\r\n").find((l) => l.toLowerCase().startsWith(name + ":")) ?? "";
      const cseq = /\d+/.exec(line("cseq"))?.[0];
      cancel = [`CANCEL ${text.slice(7, text.indexOf(" SIP/2.0"))} SIP/2.0`, line("via"), "Max-Forwards: 70", line("from"), line("to"), line("call-id"), `CSeq: ${cseq} CANCEL`, "Content-Length: 0", "", ""].join("\r\n");
      send(cancel);
    };
    const inviting = bob.request({ method: "INVITE", ruri: `sip:user0601@${DOMAIN}`, to: `<sip:user0601@${DOMAIN}>`, callId: "cancel-race", cseq: 1, fromTag: "race" });
    const invite = await alice.nextRequest("INVITE");
    respond(alice, invite, 180, "Ringing", "alice1");
    const cancelled = await alice.nextRequest("CANCEL");
    respond(alice, cancelled, 200, "OK", "alice1");
    respond(alice, invite, 487, "Request Terminated", "alice1");
    const final = await inviting;
    expect(`${final.response.status} ${final.response.reason}`).toBe("487 Request Terminated");
    expect(cancel).toMatch(/^CANCEL /);
    await alice.close();
    await bob.close();
  });

  it("responses count toward pike: an address that floods responses is banned and its socket closed (1008)", async () => {
    const flooder = await ua(dep, "user0603");
    const closed = flooder.closed;
    for (let i = 0; i < 60 && flooder.ws.readyState === flooder.ws.OPEN; i++) {
      flooder.send(
        ["SIP/2.0 200 OK", `Via: SIP/2.0/WSS ${DOMAIN};branch=z9hG4bK-se-${i % 16}.x.y${i}.0`, "From: <sip:a@x>;tag=1", "To: <sip:b@x>;tag=2", `Call-ID: flood-${i}`, "CSeq: 1 OPTIONS", "Content-Length: 0", "", ""].join("\r\n"),
      );
    }
    expect((await closed).code).toBe(1008);
    const status = (await (await admin(dep, `/guard/${clientAddress(nextClient - 1)}`)).json()) as { bannedUntil?: number };
    expect(status.bannedUntil).toBeGreaterThan(Date.now());
  });
});

describe("a bridge that cannot deliver, and gateways nobody answers for", () => {
  let dep: Deployment;
  let gateway: Sipp;
  const FR_TIMER = 3000;

  beforeAll(async () => {
    // gw.invalid resolves through a DNS server that is not there (port 9 refuses at once): the
    // bridge reports `unreachable` for every datagram to it.
    const list = ["1 sip:gw.invalid:5060 0 0", `1 sip:${GATEWAYS[0]}:5060 0 0`, `2 sip:${GATEWAYS[1]}:5060 0 0`, `2 sip:${GATEWAYS[2]}:5060 0 0`, ""].join("\n");
    dep = await startDeployment({ dispatcherList: list, bridgeArgs: ["--dns", "127.0.0.1:9"], vars: { FR_TIMER: String(FR_TIMER), DS_PING_INTERVAL: "1", DS_PROBE_TIMEOUT: "1" } });
    gateway = Sipp.uas(5060, "uas.xml", [], GATEWAYS[0]);
  });
  afterAll(async () => {
    await gateway?.stop();
    await dep?.destroy();
  });

  it("a branch to a destination the bridge cannot reach ends at once and fails over (RTF_DISPATCH), far below fr_timer", async () => {
    const alice = await ua(dep, "user0611");
    // Round robin over two destinations: of two calls, one meets gw.invalid first.
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const call = await alice.invite(NUMBER);
      expect(call.response.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(FR_TIMER / 2);
      expect((await hangUp(alice, call.response, call.cseq)).status).toBe(200);
    }
    await waitForDestinations(dep, ["sip:gw.invalid:5060"], "down");
    await alice.close();
  });
});

describe("right after start, with nothing listening on the gateways (as a new user tries it)", () => {
  let dep: Deployment;
  const FR_TIMER = 3000;

  beforeAll(async () => {
    dep = await startDeployment({ vars: { FR_TIMER: String(FR_TIMER), DS_PING_INTERVAL: "1", DS_PROBE_TIMEOUT: "1" } });
  });
  afterAll(async () => {
    await dep?.destroy();
  });

  it("the caller gets one 408 after one fr_timer, not one per gateway (probing marked the others down meanwhile), and its ACK ends it", async () => {
    const alice = await ua(dep, "user0621");
    let finals = 0;
    alice.ws.on("message", (data) => {
      if (/^SIP\/2\.0 408 /.test(data.toString())) finals++;
    });
    const started = Date.now();
    const call = await alice.invite(NUMBER);
    const elapsed = Date.now() - started;
    expect(`${call.response.status} ${call.response.reason}`).toBe("408 Request Timeout");
    expect(elapsed).toBeGreaterThanOrEqual(FR_TIMER - 100);
    expect(elapsed).toBeLessThan(2 * FR_TIMER);
    // SipUa ACKs the 408 (RFC 3261 §17.1.1.3); over WebSocket a final response is sent once
    // (§17.2.1: no retransmission on a reliable transport), so none follows in the next seconds.
    await new Promise((r) => setTimeout(r, 2000));
    expect(finals).toBe(1);
    const states = (await (await admin(dep, "/dispatcher")).json()) as { sets: { destinations: { state: string }[] }[] };
    expect(states.sets.flatMap((set) => set.destinations.map((d) => d.state)).filter((state) => state === "active")).toEqual([]);
    await alice.close();
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOMAIN, GATEWAYS, NUMBER, clientAddress, gatewayReceived, gatewayUri, startDeployment, waitForDestinations, type Deployment } from "../helpers/deployment.ts";
import { SipUa, header, type SipMessage } from "../helpers/sip-ua.ts";
import { Sipp, hangUp } from "../helpers/sipp.ts";

// Every deploy drops every socket and restarts every object (issue 8 §2): an answered gateway
// call survives when its client comes back as the same instance, and is ended toward the gateway
// when it does not, so PSTN minutes do not run on.

const DIALOG_FLOW_TIMEOUT = 2;
let dep: Deployment;
let nextClient = 0;
const gateways: Sipp[] = [];

beforeAll(async () => {
  dep = await startDeployment({ vars: { DS_PING_INTERVAL: "1", DIALOG_FLOW_TIMEOUT: String(DIALOG_FLOW_TIMEOUT) } });
  for (const ip of GATEWAYS) gateways.push(Sipp.uas(5060, "uas.xml", [], ip));
  await waitForDestinations(dep, GATEWAYS.map(gatewayUri), "active");
});

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await dep?.destroy();
});

function ua(user: string, instance: string): Promise<SipUa> {
  return SipUa.connect(dep.wsUrl, { user, password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert, instance, regId: 1 });
}

/** Retries `connect` while the restarted edge comes up. */
async function reconnect(user: string, instance: string): Promise<SipUa> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await ua(user, instance);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}


describe("a deploy in the middle of gateway calls", () => {
  it("the call of a client that never comes back gets a BYE toward the gateway; the call of one that does lives on", async () => {
    const goneInstance = `urn:uuid:${crypto.randomUUID()}`;
    const backInstance = `urn:uuid:${crypto.randomUUID()}`;
    const gone = await ua("user0701", goneInstance);
    const back = await ua("user0702", backInstance);
    expect((await gone.register()).response.status).toBe(200);
    expect((await back.register()).response.status).toBe(200);
    const lost = await gone.invite(NUMBER);
    const kept = await back.invite(NUMBER);
    expect([lost.response.status, kept.response.status]).toEqual([200, 200]);
    const lostId = header(lost.response, "call-id") ?? "";
    const keptId = header(kept.response, "call-id") ?? "";

    // The call records reach storage within DIALOG_DB_UPDATE_PERIOD (1 s) of the answer; a deploy
    // sooner than that loses them (README: dialog).
    await new Promise((r) => setTimeout(r, 1500));
    await dep.restartEdge();
    const restartedAt = Date.now();
    const again = await reconnect("user0702", backInstance);
    expect((await again.register()).response.status).toBe(200);

    // The lost call: a BYE from the edge (with its Reason) after the timeout, once a bridge link is back.
    const toLost = await gatewayReceived(gateways, lostId, 3, DIALOG_FLOW_TIMEOUT * 1000 + 15_000);
    const bye = toLost.find((m) => m.method === "BYE");
    expect(bye, toLost.map((m) => m.raw).join("\n")).toBeDefined();
    expect(header(bye as SipMessage, "reason")).toMatch(/^SIP;cause=480/);
    expect(Date.now() - restartedAt).toBeGreaterThanOrEqual(DIALOG_FLOW_TIMEOUT * 1000);

    // The kept call: no BYE of the edge's; the client's own BYE, from its new flow, is answered.
    expect((await hangUp(again, kept.response, kept.cseq)).status).toBe(200);
    const toKept = (await gatewayReceived(gateways, keptId, 3, 3000)).filter((m) => m.method === "BYE");
    expect(toKept.map((m) => header(m, "reason"))).toEqual([undefined]);
    await again.close();
  }, 60_000);
});

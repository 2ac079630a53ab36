import { createSocket, type Socket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAYS, admin, gatewayUri, startDeployment, waitFor, waitForDestinations, type Deployment } from "../helpers/deployment.ts";

// The bridge SIGKILLed while the Dispatcher object's keepalives are in flight through it. The
// OPTIONS died with the bridge, not at the gateways: they must not count as unanswered (408), or
// every gateway is marked inactive a probe timeout after the kill, and calls placed as the
// restarted bridge dials in get 404 "No destination" until the next round of probes succeeds.

/** How long the gateways here take to answer an OPTIONS: a window to kill the bridge in. */
const ANSWER_DELAY_MS = 1500;
/** DS_PROBE_TIMEOUT of this stack, s: longer than the answer delay, so the gateways are active. */
const PROBE_TIMEOUT_S = 3;
let dep: Deployment;
const gateways: SlowGateway[] = [];

beforeAll(async () => {
  dep = await startDeployment({
    superviseBridge: true,
    vars: { DS_PING_INTERVAL: "1", DS_PROBE_TIMEOUT: String(PROBE_TIMEOUT_S), CALLS_PER_MINUTE: "0" },
  });
  for (const ip of GATEWAYS) gateways.push(await SlowGateway.bind(ip));
  await waitForDestinations(dep, GATEWAYS.map(gatewayUri), "active", 15_000);
}, 60_000);

afterAll(async () => {
  for (const g of gateways) g.close();
  await dep?.destroy();
});

/** A gateway that answers OPTIONS with 200 after ANSWER_DELAY_MS, to the address it came from. */
class SlowGateway {
  /** OPTIONS received and not answered yet. */
  pending = 0;
  answered = 0;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private constructor(private readonly socket: Socket) {
    socket.on("message", (data, from) => {
      const text = data.toString("utf8");
      if (!text.startsWith("OPTIONS ")) return;
      const head = text.slice(0, text.indexOf("\r\n\r\n")).split("\r\n");
      const copied = head.filter((l) => /^(via|v|from|f|to|t|call-id|i|cseq):/i.test(l));
      const answer = ["SIP/2.0 200 OK", ...copied, "Content-Length: 0", "", ""].join("\r\n");
      this.pending++;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.pending--;
        this.answered++;
        socket.send(answer, from.port, from.address);
      }, ANSWER_DELAY_MS);
      this.timers.add(timer);
    });
  }

  static async bind(ip: string): Promise<SlowGateway> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(5060, ip, () => resolve());
    });
    return new SlowGateway(socket);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.socket.close();
  }
}

async function states(): Promise<Record<string, string>> {
  const body = (await (await admin(dep, "/dispatcher")).json()) as { sets: { destinations: { uri: string; state: string }[] }[] };
  return Object.fromEntries(body.sets.flatMap((s) => s.destinations.filter((d) => GATEWAYS.some((ip) => d.uri === gatewayUri(ip))).map((d) => [d.uri, d.state])));
}

describe("the bridge SIGKILLed with keepalives in flight", () => {
  it("leaves the gateways active: a keepalive lost with its link is no verdict on its gateway", async () => {
    await waitFor(async () => gateways.every((g) => g.pending > 0), 10_000, "keepalives waiting at every gateway");
    const before = dep.bridge!.process.pid;
    const answeredBefore = gateways.map((g) => g.answered);
    process.kill(before!, "SIGKILL");
    await waitFor(async () => (await dep.bridgeLinks()).up === 0, 5000, "bridge links seen down");

    // From the kill until well past the probe timeout, and until every gateway has answered a
    // keepalive of the restarted bridge, the gateways never leave "active".
    const seen = new Set<string>();
    const until = Date.now() + (PROBE_TIMEOUT_S + 2) * 1000;
    const reprobed = () => gateways.every((g, i) => g.answered > answeredBefore[i]! + 1);
    while (Date.now() < until || !reprobed()) {
      for (const [uri, state] of Object.entries(await states())) seen.add(`${uri} ${state}`);
      if (Date.now() > until + 15_000) throw new Error("the restarted bridge's keepalives were not answered within 15 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(dep.bridge!.process.pid).not.toBe(before);
    expect([...seen].sort()).toEqual(GATEWAYS.map((ip) => `${gatewayUri(ip)} active`).sort());
    console.info(`bridge SIGKILL with keepalives in flight: gateways active throughout, ${gateways.map((g) => g.answered).join("/")} keepalives answered`);
  }, 40_000);
});

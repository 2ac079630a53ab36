import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBridge } from "../../scripts/stack.mjs";
import { DOMAIN, GATEWAYS, NUMBER, admin, clientAddress, gatewayUri, startDeployment, waitFor, waitForDestinations, type Deployment } from "../helpers/deployment.ts";
import { SipUa } from "../helpers/sip-ua.ts";
import { Sipp, ackOk, byeOk } from "../helpers/sipp.ts";

// The bridge frozen (SIGSTOP: a paused VM, a host out of memory, a debugger): its process holds
// its sockets, so every link still looks open to the edge and nothing comes back through it. The
// Dispatcher object's keepalives must not count that silence as 408 (every gateway marked
// inactive, and still inactive for a probe round after the bridge wakes); the bridge's links are
// closed once it leaves a liveness ping unanswered, in every shard, so calls leave through the
// deployment's second bridge meanwhile; the frozen one dials them all again when it wakes.

/** DS_PROBE_TIMEOUT of this stack, s: how long a keepalive, and the bridge's pong, may take. */
const PROBE_TIMEOUT_S = 2;
/** The second bridge: its own id and UDP address, linked to every shard as the first is. */
const SECOND_BRIDGE = "127.0.0.10:5060";
let second: Awaited<ReturnType<typeof startBridge>> | undefined;
let dep: Deployment;
const gateways: Sipp[] = [];
let caller: SipUa;
let frozen: number | undefined;

beforeAll(async () => {
  dep = await startDeployment({
    vars: { DS_PING_INTERVAL: "1", DS_PROBE_TIMEOUT: String(PROBE_TIMEOUT_S), CALLS_PER_MINUTE: "0" },
  });
  for (const ip of GATEWAYS) gateways.push(Sipp.gateway(ip, 5060, "uas.xml"));
  await waitForDestinations(dep, GATEWAYS.map(gatewayUri), "active", 15_000);
  const { shards } = await dep.bridgeLinks();
  second = await startBridge({
    edgeUrl: dep.url, secret: dep.bridgeSecret, listen: SECOND_BRIDGE, id: "second", shards,
    extraArgs: ["--advertise", SECOND_BRIDGE], env: { NODE_EXTRA_CA_CERTS: dep.ca.certPath },
  });
  await waitFor(async () => (await dep.bridgeLinks()).up >= 2 * shards, 10_000, "both bridges' links");
  caller = await SipUa.connect(dep.wsUrl, { user: "user0300", password: "pw", domain: DOMAIN, localAddress: clientAddress(0), ca: dep.ca.cert });
  expect((await caller.register()).response.status).toBe(200);
}, 60_000);

afterAll(async () => {
  if (frozen !== undefined) process.kill(frozen, "SIGCONT");
  await caller?.close().catch(() => undefined);
  await second?.stop();
  await Promise.all(gateways.map((g) => g.stop()));
  await dep?.destroy();
});

async function states(): Promise<string[]> {
  const body = (await (await admin(dep, "/dispatcher")).json()) as { sets: { destinations: { uri: string; state: string }[] }[] };
  return body.sets.flatMap((s) => s.destinations.filter((d) => GATEWAYS.some((ip) => d.uri === gatewayUri(ip))).map((d) => `${d.uri} ${d.state}`));
}

describe("the bridge frozen (SIGSTOP)", () => {
  it("keeps the gateways active, closes the frozen bridge's links in every shard, calls leave through the other bridge", async () => {
    const { shards } = await dep.bridgeLinks();
    const pid = dep.bridge!.process.pid!;
    process.kill(pid, "SIGSTOP");
    frozen = pid;
    const frozenAt = Date.now();

    // The first round after the freeze leaves its ping unanswered: within one probe interval plus
    // the probe timeout every link of the bridge is closed, by every shard; the second's stay.
    const seen = new Set<string>();
    const watch = async () => {
      for (const s of await states()) seen.add(s);
    };
    while ((await dep.bridgeLinks()).up > shards) {
      await watch();
      if (Date.now() - frozenAt > (PROBE_TIMEOUT_S + 4) * 1000) throw new Error(`frozen bridge's links still up: ${JSON.stringify(await dep.bridgeLinks())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const closedMs = Date.now() - frozenAt;
    // While it stays frozen, a call is answered through the second bridge, and the keepalives
    // (through it now) keep finding the gateways.
    const during = await call();
    const until = Date.now() + (PROBE_TIMEOUT_S + 2) * 1000;
    while (Date.now() < until) {
      await watch();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await dep.bridgeLinks()).up).toBe(shards);

    process.kill(pid, "SIGCONT");
    frozen = undefined;
    await waitFor(async () => (await dep.bridgeLinks()).up >= 2 * shards, 15_000, "the woken bridge's links back");
    await watch();
    expect([...seen].sort()).toEqual(GATEWAYS.map((ip) => `${gatewayUri(ip)} active`).sort());
    expect(during).toBe(200);
    expect(await call()).toBe(200);
    console.info(`bridge SIGSTOP: its ${shards} links closed ${closedMs} ms after the freeze; gateways active throughout; calls answered during the freeze and after SIGCONT`);
  }, 60_000);
});

/** A call to a gateway, hung up once answered; its final status. */
async function call(): Promise<number> {
  const placed = await caller.invite(NUMBER);
  if (placed.response.status !== 200) return placed.response.status;
  ackOk(caller, placed.response, placed.cseq);
  expect((await byeOk(caller, placed.response, placed.cseq)).status).toBe(200);
  return 200;
}

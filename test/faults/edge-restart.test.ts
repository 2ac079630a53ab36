import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOMAIN, GATEWAYS, NUMBER, admin, clientAddress, gatewayUri, startDeployment, waitForDestinations, type Deployment } from "../helpers/deployment.ts";
import { SipUa, type SipMessage } from "../helpers/sip-ua.ts";
import { Sipp, hangUp } from "../helpers/sipp.ts";

// A deploy under load: workerd stops (every socket drops, every object restarts) and starts again
// on the same state. What the edge learned must survive it: bindings (their flows are dead: 430
// until the client registers again), bans, auth blocks and destination states (a dead gateway
// must not be "active" until the first keepalive after the restart).

const CLIENTS = 16;
const AUTH_BLOCK_THRESHOLD = 3;
let dep: Deployment;
const gateways: Sipp[] = [];
const instances: string[] = [];
let uas: SipUa[] = [];
const DEAD_GATEWAY = gatewayUri(GATEWAYS[2]);
/** An address of its own for the flooder and for the password guesser. */
const FLOODER = clientAddress(CLIENTS);
const GUESSER = clientAddress(CLIENTS + 1);

const user = (i: number) => `user${String(300 + i).padStart(4, "0")}`;
const connect = (i: number) => SipUa.connect(dep.wsUrl, { user: user(i), password: "pw", domain: DOMAIN, localAddress: clientAddress(i), ca: dep.ca.cert, instance: instances[i], regId: 1 });

beforeAll(async () => {
  dep = await startDeployment({
    vars: { DS_PING_INTERVAL: "1", CALLS_PER_MINUTE: "0", AUTH_BLOCK_THRESHOLD: String(AUTH_BLOCK_THRESHOLD), DIALOG_FLOW_TIMEOUT: "0" },
  });
  // Two gateways answer; the third address has nothing on it (a dead gateway).
  for (const ip of GATEWAYS.slice(0, 2)) gateways.push(Sipp.gateway(ip, 5060, "uas.xml"));
  await waitForDestinations(dep, GATEWAYS.slice(0, 2).map(gatewayUri), "active");
  await waitForDestinations(dep, [DEAD_GATEWAY], "down");
  for (let i = 0; i < CLIENTS; i++) instances.push(`urn:uuid:${crypto.randomUUID()}`);
  uas = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => connect(i)));
  for (const ua of uas) expect((await ua.register()).response.status).toBe(200);
}, 60_000);

afterAll(async () => {
  await Promise.all(uas.map((u) => u.close().catch(() => undefined)));
  await Promise.all(gateways.map((g) => g.stop()));
  await dep?.destroy();
});

async function json<T>(route: string): Promise<T> {
  return (await (await admin(dep, route)).json()) as T;
}

/** Sends OPTIONS from `address` until the edge closes the socket (pike, then ipban). */
async function floodFrom(address: string): Promise<void> {
  const ua = await SipUa.connect(dep.wsUrl, { user: "flood", password: "x", domain: DOMAIN, localAddress: address, ca: dep.ca.cert });
  for (let n = 0; n < 400; n++) {
    try {
      ua.send(`OPTIONS sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/WSS f.invalid;branch=z9hG4bKf${n}\r\nMax-Forwards: 70\r\nFrom: <sip:f@x.test>;tag=f\r\nTo: <sip:${DOMAIN}>\r\nCall-ID: f${n}\r\nCSeq: ${n} OPTIONS\r\nContent-Length: 0\r\n\r\n`);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await ua.close().catch(() => undefined);
}

describe("the edge restarted under load (a deploy)", () => {
  it("bindings, bans, auth blocks and destination states survive; dead flows answer 430 until their clients register again", async () => {
    await floodFrom(FLOODER);
    const guesser = await SipUa.connect(dep.wsUrl, { user: user(0), password: "wrong", domain: DOMAIN, localAddress: GUESSER, ca: dep.ca.cert });
    for (let i = 0; i < AUTH_BLOCK_THRESHOLD; i++) await guesser.register({ callId: `guess-${i}` });
    const blocked = await guesser.register({ password: "pw", callId: "guess-right" });
    expect(blocked.response.status).toBe(403);
    await guesser.close();
    const bansBefore = await json<{ ipban: { address: string }[] }>("/bans");
    expect(bansBefore.ipban.map((b) => b.address)).toContain(FLOODER);
    const blocksBefore = await json<{ entries: { expires: string }[] }>("/htable/auth_block_list");
    expect(blocksBefore.entries.length).toBeGreaterThan(0);

    const restartStarted = Date.now();
    await dep.restartEdge();
    const restartMs = Date.now() - restartStarted;

    // Before any keepalive of the new instance could finish (a silent gateway takes the probe timeout), it is down.
    const after = await json<{ sets: { destinations: { uri: string; state: string }[] }[] }>("/dispatcher");
    const dead = after.sets.flatMap((s) => s.destinations).find((d) => d.uri === DEAD_GATEWAY);
    expect(["inactive", "probing"]).toContain(dead?.state);
    expect((await json<{ ipban: { address: string }[] }>("/bans")).ipban.map((b) => b.address)).toContain(FLOODER);
    const guessAgain = await SipUa.connect(dep.wsUrl, { user: user(0), password: "pw", domain: DOMAIN, localAddress: GUESSER, ca: dep.ca.cert });
    expect((await guessAgain.register({ callId: "guess-after" })).response.status).toBe(403);
    await guessAgain.close();
    // The block lives in the address's Guard; the admin listing finds it through the shards' copy of the directory.
    const blocksAfter = await json<{ entries: { address: string; user: string; blocked: boolean; expires: string }[] }>("/htable/auth_block_list");
    expect(blocksAfter.entries.map((e) => [e.address, e.user, e.blocked])).toEqual([[GUESSER, user(0), true]]);
    expect(Math.abs(Date.parse(blocksAfter.entries[0]!.expires) - Date.parse(blocksBefore.entries[0]!.expires))).toBeLessThan(1000);
    await expect(SipUa.connect(dep.wsUrl, { user: "flood", password: "x", domain: DOMAIN, localAddress: FLOODER, ca: dep.ca.cert }).then((u) => u.register({ callId: "flood-after" }))).rejects.toThrow();

    // Every binding is still there; its flow is dead until the client comes back.
    for (let i = 0; i < CLIENTS; i++) expect((await json<{ bindings: unknown[] }>(`/location/${user(i)}@${DOMAIN}`)).bindings, user(i)).toHaveLength(1);
    const first = await connect(0);
    const toDeadFlow = await first.invite(`sip:${user(1)}@${DOMAIN}`);
    expect([toDeadFlow.response.status, toDeadFlow.response.reason]).toEqual([430, "Flow Failed"]);

    // The clients come back (jittered, as JsSIP's connection recovery does) and reg-id replaces their old flows.
    const reconnectStarted = Date.now();
    uas = [first, ...(await Promise.all(Array.from({ length: CLIENTS - 1 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, Math.random() * 1000));
      return connect(i + 1);
    })))];
    const statuses = await Promise.all(uas.map(async (ua) => (await ua.register()).response.status));
    expect(statuses).toEqual(Array(CLIENTS).fill(200));
    const reboundMs = Date.now() - reconnectStarted;
    for (let i = 0; i < CLIENTS; i++) expect((await json<{ bindings: unknown[] }>(`/location/${user(i)}@${DOMAIN}`)).bindings, user(i)).toHaveLength(1);

    // Calls work again: between users (to the new flow) and to the gateways that are up, never the dead one.
    const callee = uas[1]!;
    const ringing = callee.nextRequest("INVITE", 5000);
    const between = first.invite(`sip:${user(1)}@${DOMAIN}`);
    const invite: SipMessage = await ringing;
    expect(invite.method).toBe("INVITE");
    callee.send(okFor(invite));
    expect((await between).response.status).toBe(200);
    const calls = await Promise.all(uas.slice(2, 10).map((ua) => ua.invite(NUMBER)));
    expect(calls.map((c) => c.response.status)).toEqual(Array(8).fill(200));
    await Promise.all(calls.map((c, i) => hangUp(uas[2 + i]!, c.response, c.cseq)));
    console.info(`edge restart: ${restartMs} ms to restart; ${CLIENTS} clients bound again ${reboundMs} ms after reconnecting began; dead gateway ${dead?.state} at once`);
  }, 90_000);
});

/** A 200 to an INVITE the callee received (enough of a UAS for the caller to see the answer). */
function okFor(invite: SipMessage): string {
  const lines = invite.raw.split("\r\n");
  const keep = lines.filter((l) => /^(via|v|from|f|to|t|call-id|i|cseq|record-route):/i.test(l));
  return ["SIP/2.0 200 OK", ...keep.map((l) => (/^(to|t):/i.test(l) ? `${l};tag=callee` : l)), "Content-Length: 0", "", ""].join("\r\n");
}

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SNAPSHOT_MAX_AGE_MS } from "../../src/modules/dispatcher/client.ts";
import { createSelectState, parseDispatcherList, select } from "../../src/modules/dispatcher/index.ts";
import { BRIDGE, DOMAIN, PROXIES, clientAddress, gatewayUri, startDeployment, waitForDestinations, type Deployment } from "../helpers/deployment.ts";
import { SipUa, header } from "../helpers/sip-ua.ts";
import { JssipPhone, installFakeWebRtc, sessionEvent, within } from "../helpers/softphone.ts";
import { Sipp } from "../helpers/sipp.ts";

// ROUTE_SCRIPT=opensips-balancer (the seed's "OpenSIPS as SIP gateway") in a deployment's
// topology: WebSocket clients on addresses of their own, the bridge on 127.0.0.9, and the seed's
// two proxies of set 2 (its 127.0.0.1:5080/5082) as real sipp processes on 127.0.0.24-25:5060.
// Requests are forwarded statelessly (no 100 Trying of the balancer's own) by a hash over the
// Call-ID; responses come back by the Via.

const STEP_MS = 5000;
const LIST = ["# set 2: the proxies the balancer spreads calls over", ...PROXIES.map((ip) => `2 sip:${ip}:5060 0 0`), ""].join("\n");
const PROXY_URIS = PROXIES.map(gatewayUri);

let dep: Deployment;
let proxies: Sipp[] = [];
let nextClient = 0;

/** The proxy address Kamailio's algorithm 0 picks for a Call-ID over the same list (golden-tested hash). */
function expectedProxy(callId: string, up: readonly string[] = PROXIES): string {
  const list = parseDispatcherList(LIST);
  if (!list.ok) throw new Error(list.error.reason);
  const set = list.value.sets.get(2)!;
  for (const d of set.destinations) if (!up.includes(d.host)) d.state = "inactive";
  const chosen = select(set, 0, { method: "OPTIONS", callId, fromUri: "", toUri: "", ruri: "" }, createSelectState());
  if (!chosen.selected) throw new Error("no proxy selected");
  return chosen.destinations[0]!.host;
}

function startProxy(ip: string): Sipp {
  return Sipp.uas(5060, "proxy-uas.xml", [], ip);
}

/** Which proxy received a request of `method` with this Call-ID, once one did. */
async function proxyOf(callId: string, method: string): Promise<string> {
  const deadline = Date.now() + STEP_MS;
  while (Date.now() < deadline) {
    for (const [i, proxy] of proxies.entries()) {
      if ((await proxy.messages()).some((m) => m.dir === "received" && m.method === method && m.callId === callId)) return PROXIES[i]!;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no proxy received ${method} ${callId}`);
}

async function ua(user: string): Promise<SipUa> {
  return SipUa.connect(dep.wsUrl, { user, password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert });
}

beforeAll(async () => {
  installFakeWebRtc();
  dep = await startDeployment({ vars: { ROUTE_SCRIPT: "opensips-balancer", DS_PING_INTERVAL: "1" }, dispatcherList: LIST });
  proxies = PROXIES.map(startProxy);
  await waitForDestinations(dep, PROXY_URIS, "active");
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await dep?.destroy();
});

describe("opensips-balancer: ds_select_dst(\"2\", \"0\") and a stateless forward()", () => {
  it("sends each Call-ID to the proxy Kamailio's hash picks, every time, and the proxies' answers come back by Via", async () => {
    const alice = await ua("user0501");
    try {
      const callIds = Array.from({ length: 8 }, (_, i) => `balance-${i}-${Date.now()}@test`);
      for (const round of [1, 2]) {
        for (const callId of callIds) {
          const options = await alice.request({ method: "OPTIONS", ruri: `sip:${DOMAIN}`, to: `<sip:${DOMAIN}>`, callId, cseq: round });
          expect(options.response.status).toBe(200);
          // The balancer's Via is gone; the client's own is on top, as it sent it.
          expect(options.response.headers.get("via")).toHaveLength(1);
        }
      }
      const landed = await Promise.all(callIds.map(async (callId) => [callId, await proxyOf(callId, "OPTIONS")] as const));
      for (const [callId, proxy] of landed) expect(proxy).toBe(expectedProxy(callId));
      expect(new Set(landed.map(([, p]) => p)).size).toBe(2); // both proxies share the load
      for (const [i, proxy] of proxies.entries()) {
        const got = (await proxy.messages()).filter((m) => m.dir === "received" && m.method === "OPTIONS" && callIds.includes(m.callId));
        // Both rounds of a Call-ID at the same proxy, each with the balancer's Via on the bridge's address.
        for (const m of got) expect(m.text).toMatch(new RegExp(`^Via: SIP/2\\.0/UDP ${BRIDGE.replace(/\./g, "\\.")};branch=z9hG4bK-se-`, "m"));
        expect(got.length % 2).toBe(0);
        expect(got.every((m) => expectedProxy(m.callId) === PROXIES[i])).toBe(true);
      }
    } finally {
      await alice.close();
    }
  });

  it("a JsSIP caller's INVITE, ACK and BYE reach the proxy its Call-ID hashes to; the balancer record-routes the WebSocket side", async () => {
    const caller = await JssipPhone.start({ wsUrl: dep.wsUrl, username: "user0502", password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert });
    try {
      const session = caller.call(`sip:bob@${DOMAIN}`);
      await sessionEvent(session, "confirmed", STEP_MS * 2, caller.trace);
      const ended = sessionEvent(session, "ended", STEP_MS, caller.trace);
      session.terminate();
      await ended;
      await caller.trace.waitFor((e) => e.dir === "<" && e.method === "BYE" && e.status === 200, "200 to BYE", STEP_MS);
      const callId = /^Call-ID: (\S+)/im.exec(caller.trace.requests(">", "INVITE")[0]?.text ?? "")?.[1] ?? "";
      const proxy = await proxyOf(callId, "BYE");
      expect(proxy).toBe(expectedProxy(callId));
      const at = proxies[PROXIES.indexOf(proxy as (typeof PROXIES)[number])]!;
      const seen = (await at.messages()).filter((m) => m.callId === callId && m.dir === "received").map((m) => m.method);
      expect(seen).toEqual(["INVITE", "ACK", "BYE"]);
      const invite = (await at.messages()).find((m) => m.callId === callId && m.method === "INVITE")?.text ?? "";
      // Two entries (double record-routing): the bridge's address toward the proxy, the edge's name toward the client's flow.
      expect(invite).toMatch(/^Record-Route: <sip:127\.0\.0\.9:5060;transport=udp;lr;r2=on;shard=\d+;sg=/m);
      expect(invite).toMatch(new RegExp(`^Record-Route: <sip:${DOMAIN.replace(/\./g, "\\.")};transport=ws;lr;r2=on;flow=`, "m"));
      // Stateless: no 100 Trying of the balancer's own; the caller got the proxy's.
      expect(caller.trace.responses("INVITE")).toEqual([100, 180, 200]);
    } finally {
      await caller.stop();
    }
  });

  it("a proxy calls a registered JsSIP user: the REGISTER carried the balancer's Path, and OPTIONS, INVITE, ACK and BYE find the user's socket", async () => {
    const user = "user0503";
    const callee = await JssipPhone.start({ wsUrl: dep.wsUrl, username: user, password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert });
    let caller: Sipp | undefined;
    try {
      await callee.register();
      const registerCallId = /^Call-ID: (\S+)/im.exec(callee.trace.requests(">", "REGISTER")[0]?.text ?? "")?.[1] ?? "";
      const registrar = proxies[PROXIES.indexOf((await proxyOf(registerCallId, "REGISTER")) as (typeof PROXIES)[number])]!;
      const register = (await registrar.messages()).find((m) => m.method === "REGISTER" && m.callId === registerCallId)?.text ?? "";
      const path = /^Path: (.+)$/im.exec(register)?.[1]?.trim() ?? "";
      const contact = /^Contact: <([^>]+)>/im.exec(register)?.[1] ?? "";
      expect(path).toMatch(/^<sip:127\.0\.0\.9:5060;transport=udp;lr;flow=[^;>]+;ob;sg=[A-Za-z0-9_-]{16}>$/);
      // The other proxy (stopped for the moment, its address then free) plays the registrar that found the binding.
      const other = registrar === proxies[0] ? 1 : 0;
      await proxies[other]!.stop();
      caller = Sipp.uac(BRIDGE, "proxy-uac-path.xml", ["-p", "5060", "-aa", "-key", "contact", contact, "-key", "route", path, "-key", "aor", `sip:${user}@${DOMAIN}`, "-m", "1", "-timeout", "15s"], PROXIES[other]);
      const session = await callee.nextSession(STEP_MS).catch(async (e: unknown) => {
        throw new Error(`${String(e)}\nsipp: ${caller?.log}\n${(await caller?.messages())?.map((m) => m.text).join("\n---\n")}`);
      });
      const confirmed = sessionEvent(session, "confirmed", STEP_MS, callee.trace);
      session.answer({ mediaConstraints: { audio: false, video: false } });
      await confirmed;
      await sessionEvent(session, "ended", STEP_MS, callee.trace);
      expect(await within(caller.exited, STEP_MS, "sipp UAC exit", callee.trace)).toBe(0);
      // The sipp UAC exits 0 only when each of its requests got its 200 back: OPTIONS, INVITE, BYE.
      expect(callee.trace.requests("<", "OPTIONS")).toHaveLength(1);
      expect(callee.trace.requests("<", "ACK")).toHaveLength(1);
      const answered = callee.trace.entries.filter((e) => e.dir === ">" && e.status === 200).map((e) => e.method);
      expect(answered).toEqual(expect.arrayContaining(["OPTIONS", "INVITE", "BYE"]));
      const got = (await caller.messages()).filter((m) => m.dir === "received" && m.status === 200).map((m) => /^CSeq: \d+ (\w+)/m.exec(m.text)?.[1]);
      expect(got).toEqual(expect.arrayContaining(["OPTIONS", "INVITE", "BYE"]));
    } finally {
      await caller?.stop();
      await callee.stop();
      proxies = proxies.map((p, i) => (p.process.exitCode === null && p.process.signalCode === null ? p : startProxy(PROXIES[i]!)));
      await waitForDestinations(dep, PROXY_URIS, "active");
    }
  });

  it("a proxy that stops answering is marked inactive by probing and skipped: its Call-IDs go to the other", async () => {
    const alice = await ua("user0504");
    try {
      await proxies[0]!.stop();
      await waitForDestinations(dep, [PROXY_URIS[0]!], "down");
      // A shard selects from its copy of the states, which takes up to 2 × its refresh period to
      // follow the Dispatcher object; a stateless forward to the stopped proxy meanwhile is lost
      // (no answer, no retransmission), as with any stateless proxy.
      await new Promise((r) => setTimeout(r, 2 * SNAPSHOT_MAX_AGE_MS + 200));
      const callIds = Array.from({ length: 12 }, (_, i) => `skip-${i}-${Date.now()}@test`).filter((id) => expectedProxy(id) === PROXIES[0]);
      expect(callIds.length).toBeGreaterThan(0);
      for (const callId of callIds) {
        const options = await alice.request({ method: "OPTIONS", ruri: `sip:${DOMAIN}`, to: `<sip:${DOMAIN}>`, callId, cseq: 1 });
        expect(options.response.status).toBe(200);
        expect(header(options.response, "call-id")).toBe(callId);
        expect(await proxyOf(callId, "OPTIONS")).toBe(PROXIES[1]);
        expect(expectedProxy(callId, [PROXIES[1]])).toBe(PROXIES[1]);
      }
    } finally {
      await alice.close();
      proxies[0] = startProxy(PROXIES[0]);
      await waitForDestinations(dep, PROXY_URIS, "active");
    }
  });

  it("only the dispatcher's destinations may send through the bridge: another UDP source gets 403, and nothing reaches a proxy", async () => {
    const stranger = Sipp.uac(BRIDGE, "uac-call-user.xml", ["-p", "5060", "-s", "user0503", "-key", "domain", DOMAIN, "-m", "1", "-timeout", "5s", "-recv_timeout", "4000"], "127.0.0.27");
    try {
      await within(stranger.exited, STEP_MS * 2, "stranger's sipp exit");
      const answers = (await stranger.messages()).filter((m) => m.dir === "received").map((m) => m.status);
      expect(answers).toContain(403);
      const callId = (await stranger.messages()).find((m) => m.dir === "sent")?.callId ?? "";
      for (const proxy of proxies) expect((await proxy.messages()).some((m) => m.callId === callId)).toBe(false);
    } finally {
      await stranger.stop();
    }
  });
});

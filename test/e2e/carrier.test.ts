import { randomBytes, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, BRIDGE, CARRIER, DOMAIN, admin, clientAddress, gatewayUri, startDeployment, waitForDestinations, type Deployment } from "../helpers/deployment.ts";
import { SipUa, header, type SipMessage } from "../helpers/sip-ua.ts";
import { JssipPhone, installFakeWebRtc, sessionEvent, within } from "../helpers/softphone.ts";
import { Sipp } from "../helpers/sipp.ts";
import { callerRouteSet, contactUri } from "../helpers/uas.ts";

// Carrier trunks end to end (src/modules/uac), on a stack shaped like a deployment: a carrier
// (sipp, 127.0.0.20, the only PSTN gateway) that challenges every request of a call with digest
// and verifies the answers itself; a registrar (sipp, 127.0.0.24) that demands a digest REGISTER
// and grants 4 s; one that answers 503 (127.0.0.25); the carrier's signalling (127.0.0.23, a
// dispatcher destination) calling in to the registered contact and to a DID.

const CHALLENGER = "127.0.0.20";
const REGISTRAR = "127.0.0.24";
const DOWN_REGISTRAR = "127.0.0.25";
const GRANTED_S = 4;
const RETRY_S = 1;
const STEP_MS = 8000;

let dep: Deployment;
let carrier: Sipp;
let registrar: Sipp;
let down: Sipp;
let next = 0;

const SUBSCRIBERS = [
  "username(string) domain(string) password(string) rpid(string)",
  `user0501:${DOMAIN}:pw:+15550001234`,
  `user0502:${DOMAIN}:pw:`,
].join("\n");
const DIDS = ["alias_username(string) username(string)", "+15557654321:user0502"].join("\n");
// Kamailio's own db_text header for uacreg (kamailio/dbtext/uacreg), as `kamctl` writes it.
const UACREG = [
  "id(int,auto) l_uuid(string) l_username(string) l_domain(string) r_username(string) r_domain(string) realm(string) auth_username(string) auth_password(string) auth_ha1(string) auth_proxy(string) expires(int) flags(int) reg_delay(int) contact_addr(string) socket(string)",
  `1:trunk-out:pbx:${DOMAIN}:pbx-trunk:carrier.test:carrier.test:pbx-trunk:s3cret-trunk::sip\\:${CHALLENGER}\\:5060:0:0:0::`,
  `2:trunk-in-9f2:+15557654321:${DOMAIN}:acct-9f2:carrier.test:carrier.test:acct-9f2:reg-s3cret::sip\\:${REGISTRAR}\\:5060:60:0:0::`,
  `3:trunk-down:pbx:${DOMAIN}:acct-down:down.test::acct-down:nope::sip\\:${DOWN_REGISTRAR}\\:5060:60:0:0::`,
].join("\n");

async function importTable(table: string, body: string): Promise<void> {
  const res = await admin(dep, `/import?table=${table}`, { method: "POST", body });
  expect(res.status, await res.clone().text()).toBe(200);
}

beforeAll(async () => {
  installFakeWebRtc();
  dep = await startDeployment({
    dispatcherList: [`1 ${gatewayUri(CHALLENGER)} 0 0`, `2 ${gatewayUri(CARRIER)} 0 0`, ""].join("\n"),
    vars: { LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? "warn", DS_PING_INTERVAL: "1", UAC_REG_RETRY_INTERVAL: String(RETRY_S), UAC_REG_RETRY_MAX: "8" },
  });
  carrier = Sipp.uas(5060, "uas-auth.xml", [], CHALLENGER);
  registrar = Sipp.uas(5060, "uas-registrar.xml", [], REGISTRAR);
  down = Sipp.uas(5060, "uas-registrar-503.xml", [], DOWN_REGISTRAR);
  await importTable("subscriber", SUBSCRIBERS);
  await importTable("dbaliases", DIDS);
  await importTable("uacreg", UACREG);
  await waitForDestinations(dep, [gatewayUri(CHALLENGER)], "active");
});

afterAll(async () => {
  await Promise.all([carrier, registrar, down].map((s) => s?.stop()));
  await dep?.destroy();
});

async function ua(user: string): Promise<SipUa> {
  return SipUa.connect(dep.wsUrl, { user, password: "pw", domain: DOMAIN, localAddress: clientAddress(next++), ca: dep.ca.cert });
}

const SDP = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", "m=audio 9 RTP/AVP 0", "a=rtpmap:0 PCMU/8000", ""].join("\r\n");

/** A call from `caller` to `number` (with extra headers), answering only the edge's own 407. */
async function call(caller: SipUa, number: string, extra: string[] = []) {
  const target = `sip:${number}@${DOMAIN}`;
  const fromTag = randomBytes(5).toString("hex");
  const callId = randomUUID();
  const outcome = await caller.request({
    method: "INVITE", ruri: target, to: `<${target}>`, callId, cseq: 1, fromTag,
    extraHeaders: [`Contact: <${caller.contactUri};ob>`, "Content-Type: application/sdp", ...extra], body: SDP,
  });
  return { ...outcome, callId, fromTag };
}

function ack(caller: SipUa, ok: SipMessage, fromTag: string, cseq: number): void {
  caller.send([
    `ACK ${contactUri(ok)} SIP/2.0`, `Via: SIP/2.0/WSS x.invalid;branch=z9hG4bK${randomBytes(8).toString("hex")}`, "Max-Forwards: 70",
    ...callerRouteSet(ok).map((r) => `Route: ${r}`), `From: <sip:${caller.aor}>;tag=${fromTag}`, `To: ${header(ok, "to")}`,
    `Call-ID: ${header(ok, "call-id")}`, `CSeq: ${cseq} ACK`, "Content-Length: 0", "", "",
  ].join("\r\n"));
}

/** An in-dialog request of the caller along the 200's route set. */
function inDialog(caller: SipUa, ok: SipMessage, fromTag: string, method: string, cseq: number) {
  return caller.request({
    method, ruri: contactUri(ok), to: header(ok, "to") ?? "", callId: header(ok, "call-id") ?? "", cseq, fromTag,
    extraHeaders: [...callerRouteSet(ok).map((r) => `Route: ${r}`), ...(method === "INVITE" ? [`Contact: <${caller.contactUri};ob>`, "Content-Type: application/sdp"] : [])],
    ...(method === "INVITE" ? { body: SDP } : {}),
  });
}

/** What sipp received in a call, once it has received `count` messages (or STEP_MS passed). */
async function carrierReceived(callId: string, count: number, sipp = carrier) {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const got = (await sipp.messages()).filter((m) => m.callId === callId && m.dir === "received");
    if (got.length >= count || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cseqOf = (text: string): string => /^CSeq:\s*(.+)$/im.exec(text)?.[1]?.trim() ?? "";
const headerOf = (text: string, name: string): string | undefined => new RegExp(`^${name}:\\s*(.+)$`, "im").exec(text)?.[1]?.trim();

describe("uac_auth: a carrier that challenges every request of a call", () => {
  it("the INVITE, a re-INVITE and the BYE are answered with the trunk's credentials (sipp verifies them); the caller sees only the edge's own 407", async () => {
    const alice = await ua("user0501");
    const first = await call(alice, "15552220001");
    expect(`${first.response.status} ${first.response.reason}`).toBe("200 OK");
    // The edge's challenge (its realm), then the 200: the carrier's 401 never reached the phone.
    expect(first.challenges.map((c) => `${c.status} ${/realm="([^"]+)"/.exec(header(c, "proxy-authenticate") ?? "")?.[1]}`)).toEqual([`407 ${DOMAIN}`]);
    expect(header(first.response, "cseq")).toBe("2 INVITE");
    ack(alice, first.response, first.fromTag, 2);
    const reinvite = await inDialog(alice, first.response, first.fromTag, "INVITE", 3);
    expect(`${reinvite.response.status} ${header(reinvite.response, "cseq")}`).toBe("200 3 INVITE");
    expect(reinvite.challenges).toEqual([]);
    // The ACK follows the dialog's route set, which only the first 2xx sets (RFC 3261 §12.2.1.1).
    ack(alice, first.response, first.fromTag, 3);
    const bye = await inDialog(alice, first.response, first.fromTag, "BYE", 4);
    expect(`${bye.response.status} ${header(bye.response, "cseq")}`).toBe("200 4 BYE");
    expect(bye.challenges).toEqual([]);
    // The carrier's side counts one higher after each challenge answered: INVITE 2 → 3, re-INVITE
    // 3 → 4 → 5, BYE 4 → 6 → 7; each ACK carries its INVITE's number.
    const got = await carrierReceived(first.callId, 10);
    expect(got.map((m) => `${m.method} ${cseqOf(m.text)}`)).toEqual([
      "INVITE 2 INVITE", "ACK 2 ACK", "INVITE 3 INVITE", "ACK 3 ACK",
      "INVITE 4 INVITE", "ACK 4 ACK", "INVITE 5 INVITE", "ACK 5 ACK",
      "BYE 6 BYE", "BYE 7 BYE",
    ]);
    const authorized = got.filter((m) => /^Authorization:/im.test(m.text));
    expect(authorized.map((m) => m.method)).toEqual(["INVITE", "INVITE", "BYE"]);
    expect(headerOf(authorized[0]?.text ?? "", "Authorization")).toMatch(/^Digest username="pbx-trunk", realm="carrier.test", .*qop=auth, nc=00000001/);
    // The edge's own credentials never go to the carrier.
    expect(got.some((m) => /^Proxy-Authorization:/im.test(m.text))).toBe(false);
    await alice.close();
  });
});

describe("caller ID toward the carrier", () => {
  async function invitedWith(extra: string[]): Promise<string> {
    const alice = await ua("user0501");
    const placed = await call(alice, "15552220002", extra);
    expect(placed.response.status).toBe(200);
    ack(alice, placed.response, placed.fromTag, placed.cseq);
    expect((await inDialog(alice, placed.response, placed.fromTag, "BYE", placed.cseq + 1)).response.status).toBe(200);
    await alice.close();
    const got = await carrierReceived(placed.callId, 6);
    return got.filter((m) => m.method === "INVITE").at(-1)?.text ?? "";
  }

  it("From and P-Asserted-Identity carry the subscriber's rpid, never the number the phone claims; the number dialled arrives in E.164", async () => {
    const invite = await invitedWith(["P-Preferred-Identity: <sip:+15559999999@sip.example.test>", "P-Asserted-Identity: <sip:+15558888888@sip.example.test>"]);
    expect(invite).toMatch(/^INVITE sip:\+15552220002@sip\.example\.test SIP\/2\.0/);
    expect(headerOf(invite, "From")).toMatch(/^<sip:\+15550001234@sip\.example\.test>;tag=\w+$/);
    expect(headerOf(invite, "P-Asserted-Identity")).toBe("<sip:+15550001234@sip.example.test>");
    expect(invite).not.toMatch(/\+1555(9999999|8888888)/);
    expect(invite).not.toMatch(/^P-Preferred-Identity:/im);
  });

  it("Privacy: id hides the caller from the callee: an anonymous From, the asserted number for the carrier alone, Privacy passed on", async () => {
    const invite = await invitedWith(["Privacy: id"]);
    expect(headerOf(invite, "From")).toMatch(/^"Anonymous" <sip:anonymous@anonymous\.invalid>;tag=\w+$/);
    expect(headerOf(invite, "P-Asserted-Identity")).toBe("<sip:+15550001234@sip.example.test>");
    expect(headerOf(invite, "Privacy")).toBe("id");
  });
});

describe("toll-fraud limits", () => {
  it("a premium-rate number is refused 403 with its reason and never reaches the carrier; an emergency number goes through", async () => {
    const alice = await ua("user0501");
    const premium = await call(alice, "19005550100");
    expect(`${premium.response.status} ${premium.response.reason}`).toBe("403 Premium Rate Numbers Not Allowed");
    const international = await call(alice, "011442079460000");
    expect(`${international.response.status} ${international.response.reason}`).toBe("403 International Calls Not Allowed");
    const emergency = await call(alice, "911");
    expect(emergency.response.status).toBe(200);
    ack(alice, emergency.response, emergency.fromTag, emergency.cseq);
    expect((await inDialog(alice, emergency.response, emergency.fromTag, "BYE", emergency.cseq + 1)).response.status).toBe(200);
    const invites = (await carrierReceived(emergency.callId, 6)).filter((m) => m.method === "INVITE");
    expect(invites.at(-1)?.text).toMatch(/^INVITE sip:911@sip\.example\.test /);
    const seen = new Set((await carrier.messages()).map((m) => m.callId));
    expect(seen.has(premium.callId) || seen.has(international.callId)).toBe(false);
    await alice.close();
  });
});

/** The arrival times (ms) of the REGISTERs `sipp` received, from its message log. */
async function registerTimes(sipp: Sipp, authorized: boolean): Promise<number[]> {
  const text = await readFile(sipp.messageFile, "utf8").catch(() => "");
  const times: number[] = [];
  for (const block of text.split(/^(?=-{20,} )/m)) {
    const stamp = /^-{20,} (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d+)/.exec(block);
    if (!stamp || !/message received/.test(block) || !/^REGISTER /m.test(block)) continue;
    if (/^Authorization:/im.test(block) !== authorized) continue;
    times.push(Date.parse(`${stamp[1]}T${stamp[2]?.slice(0, 12)}`));
  }
  return times;
}

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface DumpEntry {
  l_uuid: string;
  auth_password: string;
  registration: { state: string; failures: number; lastStatus?: number; expires?: number; expiresAt?: number; nextAttemptAt?: number; flags: number };
}

async function dump(): Promise<DumpEntry[]> {
  const res = await admin(dep, "/uac/registrations");
  const text = await res.text();
  // Passwords never leave D1: not in the dump, whatever shape it takes.
  expect(text).not.toMatch(/s3cret|nope/);
  return (JSON.parse(text) as { registrations: DumpEntry[] }).registrations;
}

describe("uac_reg: registrations to carriers", () => {
  it("a registrar that demands digest registers the account (sipp verifies it), and every refresh arrives before the granted time runs out", async () => {
    const times = await waitFor("three authorized REGISTERs", 4 * GRANTED_S * 1000, async () => {
      const t = await registerTimes(registrar, true);
      return t.length >= 3 ? t : undefined;
    });
    for (let i = 1; i < times.length; i++) expect((times[i] as number) - (times[i - 1] as number)).toBeLessThan(GRANTED_S * 1000);
    const entry = (await dump()).find((d) => d.l_uuid === "trunk-in-9f2");
    expect(entry?.auth_password).toBe("[set]");
    expect(entry?.registration).toMatchObject({ state: "registered", expires: GRANTED_S, failures: 0, lastStatus: 200, flags: 16 | 4 });
    const register = (await registrar.messages()).find((m) => m.dir === "received" && /^Authorization:/im.test(m.text))?.text ?? "";
    expect(headerOf(register, "Contact")).toBe(`<sip:trunk-in-9f2@${BRIDGE}>`);
    expect(headerOf(register, "To")).toBe("<sip:acct-9f2@carrier.test>");
    // Kamailio's uac counters as Prometheus gauges, beside /admin/uac/stats.
    const stats = (await (await admin(dep, "/uac/stats")).json()) as { regtotal: number; regactive: number; regdisabled: number };
    const scrape = await (await dep.mf.dispatchFetch("http://127.0.0.1/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    expect(stats.regactive).toBeGreaterThanOrEqual(1);
    expect(scrape).toContain(`sipedge_uac_regtotal ${stats.regtotal}\n`);
    expect(scrape).toMatch(/^sipedge_uac_regactive [1-9]\d*$/m);
    expect(scrape).toContain(`sipedge_uac_regdisabled ${stats.regdisabled}\n`);
  });

  it("a registration that fails is retried with a doubling backoff, and the dump says why", async () => {
    const times = await waitFor("four REGISTERs at the failing registrar", 14_000, async () => {
      const t = await registerTimes(down, false);
      return t.length >= 4 ? t : undefined;
    });
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // RETRY_S × 1, 2, 4 (±10 % jitter): each wait clearly longer than the one before.
    expect(gaps[0]).toBeGreaterThan(RETRY_S * 1000 * 0.85);
    expect(gaps[1] as number).toBeGreaterThan((gaps[0] as number) * 1.4);
    expect(gaps[2] as number).toBeGreaterThan((gaps[1] as number) * 1.4);
    const entry = (await dump()).find((d) => d.l_uuid === "trunk-down");
    expect(entry?.registration).toMatchObject({ state: "failed", lastStatus: 503 });
    expect(entry?.registration.failures).toBeGreaterThanOrEqual(3);
  });
});

describe("inbound calls from the carrier", () => {
  let callee: JssipPhone;

  beforeAll(async () => {
    callee = await JssipPhone.start({ wsUrl: dep.wsUrl, username: "user0502", password: "pw", domain: DOMAIN, localAddress: clientAddress(next++), ca: dep.ca.cert });
    await callee.register();
  });

  afterAll(async () => {
    await callee?.stop();
  });

  /** The carrier calls `user` at the bridge; the callee answers; then the carrier hangs up, or the callee does. */
  async function carrierCalls(user: string, calleeHangsUp = false): Promise<Sipp> {
    const scenario = calleeHangsUp ? "uac-call-user-callee-bye.xml" : "uac-call-user.xml";
    const uac = Sipp.uac(BRIDGE, scenario, ["-p", "5060", "-aa", "-s", user, "-key", "domain", BRIDGE, "-m", "1", "-timeout", "15s"], CARRIER);
    try {
      const session = await callee.nextSession(STEP_MS).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${uac.log}`);
      });
      const confirmed = sessionEvent(session, "confirmed", STEP_MS, callee.trace);
      session.answer({ mediaConstraints: { audio: false, video: false } });
      await confirmed;
      const ended = sessionEvent(session, "ended", STEP_MS, callee.trace);
      if (calleeHangsUp) session.terminate();
      await ended;
      expect(await within(uac.exited, STEP_MS, "sipp UAC exit", callee.trace)).toBe(0);
      return uac;
    } catch (e) {
      await uac.stop();
      throw e;
    }
  }

  it("a call to the registered contact (its user is the row's l_uuid) reaches the DID's WebSocket user, who sees the calling number in E.164", async () => {
    await (await carrierCalls("trunk-in-9f2")).stop();
    const invite = callee.trace.requests("<", "INVITE").at(-1)?.text ?? "";
    expect(headerOf(invite, "To")).toBe("<sip:trunk-in-9f2@127.0.0.9:5060>");
    expect(headerOf(invite, "From")).toMatch(/<sip:\+15550001111@/);
  });

  it("a call to the DID dialled nationally reaches the same user; the callee's BYE names the calling number to the carrier as it wrote it", async () => {
    const before = callee.trace.requests("<", "INVITE").length;
    const uac = await carrierCalls("15557654321", true);
    try {
      expect(callee.trace.requests("<", "INVITE").length).toBe(before + 1);
      const bye = (await uac.messages()).find((m) => m.dir === "received" && m.method === "BYE")?.text ?? "";
      // The callee's phone saw +15550001111; the carrier gets back the number it sent.
      expect(headerOf(bye, "To")).toMatch(/<sip:15550001111@127\.0\.0\.23:5060>;tag=/);
    } finally {
      await uac.stop();
    }
  });
});

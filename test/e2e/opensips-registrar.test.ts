import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/stack.mjs";
import { ADMIN_TOKEN, BRIDGE, FOREIGN, clientAddress, startDeployment, type Deployment } from "../helpers/deployment.ts";
import { SipUa } from "../helpers/sip-ua.ts";
import type { RTCSession } from "jssip/lib/RTCSession";
import { JssipPhone, installFakeWebRtc, sessionEvent, type SipTrace } from "../helpers/softphone.ts";
import { Sipp } from "../helpers/sipp.ts";

// ROUTE_SCRIPT=opensips-registrar (the seed's OpenSIPS db_text registrar) in a deployment's
// topology, with the seed's own domain (alpha.org) and its own db_text files imported through
// `npx sipedge import`: the seed's subscriber `suser` registers with its password, calls between
// users carry the seed's P-hint headers to the far end, and aliases resolve to a registered user
// or, for authenticated callers, to a host of another domain in the relay address group
// (127.0.0.26, a real sipp UAS behind the bridge).

const STEP_MS = 5000;
const DOMAIN = "alpha.org";
const SEED = path.join(ROOT, "test/fixtures/seed");
const FIXTURES = path.join(ROOT, "test/fixtures/registrar");

let dep: Deployment;
let foreign: Sipp | undefined;
let nextClient = 0;
let workDir: string;

/** `npx sipedge import` as a child process, over the edge's TLS with the test CA trusted. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, SIPEDGE_ADMIN_TOKEN: ADMIN_TOKEN, NODE_EXTRA_CA_CERTS: dep.ca.certPath };
  const child = spawn(process.execPath, [path.join(ROOT, "bin/sipedge.mjs"), ...args, "--url", dep.url], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

function phone(username: string, password = "pw"): Promise<JssipPhone> {
  return JssipPhone.start({ wsUrl: dep.wsUrl, username, password, domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert });
}

/** The first request of `method` a phone received, as text. */
function received(trace: SipTrace, method: string): string {
  return trace.requests("<", method)[0]?.text ?? "";
}

/** What the foreign sipp received, by method, for the call with this Call-ID. */
async function foreignSaw(callId: string, method: string): Promise<string> {
  const deadline = Date.now() + STEP_MS;
  while (Date.now() < deadline) {
    const m = (await foreign?.messages())?.find((x) => x.dir === "received" && x.method === method && x.callId === callId);
    if (m) return m.text;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the foreign host did not receive ${method} of ${callId}`);
}

const callIdOf = (trace: SipTrace) => /^Call-ID: (\S+)/im.exec(trace.requests(">", "INVITE")[0]?.text ?? "")?.[1] ?? "";

beforeAll(async () => {
  installFakeWebRtc();
  workDir = await mkdtemp(path.join(tmpdir(), "sipedge-registrar-"));
  dep = await startDeployment({ vars: { ROUTE_SCRIPT: "opensips-registrar", SIP_DOMAIN: DOMAIN } });
});

afterAll(async () => {
  await foreign?.stop();
  await dep?.destroy();
  await rm(workDir, { recursive: true, force: true });
});

describe("opensips-registrar: the seed's db_text files", () => {
  it("the seed's files import unchanged with npx sipedge import", async () => {
    const files = ["tables/version", "minimal/subscriber", "tables/subscriber", "minimal/location", "tables/location", "tables/aliases", "tables/dispatcher", "dispatcher.list"];
    const r = await cli(["import", ...files.map((f) => path.join(SEED, f))]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => l.replace(/ in \d+ ms/, "").replace(SEED + "/", ""));
    expect(lines).toEqual([
      "tables/version: 3 rows into version",
      "minimal/subscriber: 1 rows into subscriber",
      // rpid is imported (the caller ID a carrier sees, src/modules/uac); the rest are not sipedge's.
      expect.stringMatching(/^tables\/subscriber: 0 rows into subscriber \(columns ignored: first_name, last_name, (?!.*rpid).*timezone\)$/),
      "minimal/location: 0 rows into location",
      expect.stringMatching(/^tables\/location: 0 rows into location/),
      expect.stringMatching(/^tables\/aliases: 0 rows into aliases/),
      "tables/dispatcher: 2 rows into dispatcher",
      "dispatcher.list: 5 rows into dispatcher",
    ]);
  });

  it("a version row for a table or version sipedge has no column mapping for is refused, naming file, line and field", async () => {
    const file = path.join(workDir, "version");
    await writeFile(file, "table_name(str) table_version(int)\nsubscriber:3\nlocation:1014\n");
    const r = await cli(["import", file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("sipedge: version:3: table_version: sipedge has no column mapping for location version 1014; it reads 6 (the seed (OpenSIPS db_text)), 9 (Kamailio 5.x-6.x), 1013 (OpenSIPS 3.x)");
  });

  it("the test's aliases (in the seed's layout) and relay group (Kamailio address, group 2) import", async () => {
    const r = await cli(["import", path.join(FIXTURES, "aliases"), path.join(FIXTURES, "address")]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/aliases: 2 rows into aliases/);
    expect(r.stdout).toMatch(/address: 1 rows into address/);
  });
});

describe("opensips-registrar: registrations and calls", () => {
  let suser: JssipPhone;

  beforeAll(async () => {
    // The seed's subscriber row: suser, password supasswd, domain alpha.org.
    suser = await phone("suser", "supasswd");
    await suser.register();
  });

  afterAll(async () => {
    await suser?.stop();
  });

  afterEach(async () => {
    await foreign?.stop();
    foreign = undefined;
  });

  /** suser's next incoming call, answered; resolves once confirmed. */
  async function answer(): Promise<RTCSession> {
    const session = await suser.nextSession(STEP_MS);
    const confirmed = sessionEvent(session, "confirmed", STEP_MS, suser.trace);
    session.answer({ mediaConstraints: { audio: false, video: false } });
    await confirmed;
    return session;
  }

  it("REGISTER: www_challenge, then www_authorize against the seed's subscriber row and save(\"location\")", async () => {
    expect(suser.trace.responses("REGISTER")).toEqual([401, 200]);
  });

  it("a REGISTER for another user's AOR with valid credentials is refused (403): the seed's www_authorize alone would take it", async () => {
    const mallory = await SipUa.connect(dep.wsUrl, { user: "user0601", password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert });
    try {
      const outcome = await mallory.request({
        method: "REGISTER",
        ruri: `sip:${DOMAIN}`,
        to: `<sip:suser@${DOMAIN}>`,
        callId: mallory.registerCallId,
        cseq: 1,
        extraHeaders: [`Contact: <${mallory.contactUri}>`],
      });
      expect(outcome.challenges.map((c) => c.status)).toEqual([401]);
      expect(outcome.response.status).toBe(403);
    } finally {
      await mallory.close();
    }
  });

  it("a call to a registered user: lookup(\"location\"), P-hint: usrloc applied at the callee; the caller's BYE carries P-hint: rr-enforced", async () => {
    const caller = await phone("user0602");
    try {
      const session = caller.call(`sip:suser@${DOMAIN}`);
      const confirmed = sessionEvent(session, "confirmed", STEP_MS, caller.trace);
      const callee = await answer();
      await confirmed;
      const ended = sessionEvent(callee, "ended", STEP_MS, suser.trace);
      session.terminate();
      await ended;
      const invite = suser.trace.requests("<", "INVITE").find((e) => e.text.includes(callIdOf(caller.trace)))?.text ?? "";
      expect(invite).toMatch(/^P-hint: usrloc applied$/m);
      expect(invite).toMatch(/^Record-Route: <sip:alpha\.org;transport=ws;lr;r2=on;flow=/m);
      const bye = suser.trace.requests("<", "BYE").find((e) => e.text.includes(callIdOf(caller.trace)))?.text ?? "";
      expect(bye).toMatch(/^P-hint: rr-enforced$/m);
      // The seed authenticates REGISTER only: a call to a local user is not challenged.
      expect(caller.trace.responses("INVITE")).not.toContain(407);
    } finally {
      await caller.stop();
    }
  });

  it("an alias resolved to a registered user: sip:support@alpha.org rings suser, with P-hint: usrloc applied", async () => {
    const caller = await phone("user0603");
    try {
      const session = caller.call(`sip:support@${DOMAIN}`);
      const confirmed = sessionEvent(session, "confirmed", STEP_MS, caller.trace);
      const callee = await answer();
      await confirmed;
      const invite = suser.trace.requests("<", "INVITE").find((e) => e.text.includes(callIdOf(caller.trace)))?.text ?? "";
      expect(invite).toMatch(/^INVITE sip:\S+\.invalid;transport=ws SIP\/2\.0/); // suser's registered Contact
      expect(invite).toMatch(/^To: <sip:support@alpha\.org>/m);
      expect(invite).toMatch(/^P-hint: usrloc applied$/m);
      expect(invite).not.toMatch(/^P-hint: outbound/m);
      const ended = sessionEvent(callee, "ended", STEP_MS, suser.trace);
      session.terminate();
      await ended;
    } finally {
      await caller.stop();
    }
  });

  it("an alias resolved to a foreign URI: the caller authenticates (407), the far end gets P-hint: outbound alias, the BYE P-hint: rr-enforced", async () => {
    foreign = Sipp.uas(5060, "uas.xml", [], FOREIGN);
    const caller = await phone("user0604");
    try {
      const session = caller.call(`sip:pstn@${DOMAIN}`);
      await sessionEvent(session, "confirmed", STEP_MS * 2, caller.trace);
      expect(caller.trace.responses("INVITE")[0]).toBe(407);
      const callId = callIdOf(caller.trace);
      const invite = await foreignSaw(callId, "INVITE");
      expect(invite).toMatch(/^INVITE sip:carrier@127\.0\.0\.26:5060 SIP\/2\.0/);
      expect(invite).toMatch(/^P-hint: outbound alias$/m);
      expect(invite).not.toMatch(/^Proxy-Authorization:/m); // credentials consumed
      expect(invite).toMatch(new RegExp(`^Via: SIP/2\\.0/UDP ${BRIDGE.replace(/\./g, "\\.")};branch=`, "m"));
      const ended = sessionEvent(session, "ended", STEP_MS, caller.trace);
      session.terminate();
      await ended;
      expect(await foreignSaw(callId, "BYE")).toMatch(/^P-hint: rr-enforced$/m);
    } finally {
      await caller.stop();
    }
  });

  it("an unauthenticated caller gets no relay: 407 to an alias of another domain, and wrong credentials never reach it", async () => {
    foreign = Sipp.uas(5060, "uas.xml", [], FOREIGN);
    const caller = await phone("user0605", "wrong-password");
    try {
      const session = caller.call(`sip:pstn@${DOMAIN}`);
      const failed = await sessionEvent<{ cause: string }>(session, "failed", STEP_MS, caller.trace);
      expect(failed.cause).toBe("Authentication Error");
      expect(caller.trace.responses("INVITE")).toEqual([407, 407]);
      expect((await foreign.messages()).some((m) => m.callId === callIdOf(caller.trace))).toBe(false);
    } finally {
      await caller.stop();
    }
  });

  it("another domain: relayed with P-hint: outbound to the relay group only; the far end's BYE reaches the caller with P-hint: rr-enforced", async () => {
    foreign = Sipp.uas(5060, "uas-hangup.xml", [], FOREIGN);
    const caller = await phone("user0606");
    try {
      const session = caller.call(`sip:someone@${FOREIGN}:5060`);
      await sessionEvent(session, "confirmed", STEP_MS * 2, caller.trace);
      const invite = await foreignSaw(callIdOf(caller.trace), "INVITE");
      expect(invite).toMatch(/^P-hint: outbound$/m);
      await sessionEvent(session, "ended", STEP_MS, caller.trace);
      expect(received(caller.trace, "BYE")).toMatch(/^P-hint: rr-enforced$/m);
      const outside = caller.call("sip:someone@127.0.0.27:5060");
      const failed = await sessionEvent<{ message?: { status_code?: number; reason_phrase?: string } }>(outside, "failed", STEP_MS, caller.trace);
      expect([failed.message?.status_code, failed.message?.reason_phrase]).toEqual([403, "Relaying forbidden"]);
    } finally {
      await caller.stop();
    }
  });

  it("lookup(\"location\") finds nobody: 404 Not Found", async () => {
    const caller = await phone("user0607");
    try {
      const failed = await sessionEvent<{ message?: { status_code?: number } }>(caller.call(`sip:nobody@${DOMAIN}`), "failed", STEP_MS, caller.trace);
      expect(failed.message?.status_code).toBe(404);
    } finally {
      await caller.stop();
    }
  });
});

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWorker, startStack } from "../../scripts/stack.mjs";
import { DOMAIN, clientAddress, startDeployment, type Deployment } from "../helpers/deployment.ts";
import { SipUa, header } from "../helpers/sip-ua.ts";
import { JssipPhone, installFakeWebRtc, sessionEvent } from "../helpers/softphone.ts";

// A route script of a user's own (test/fixtures/custom-script: `acme.ts` and the Worker entry
// `index.ts` that adds it to the shipped scripts), built by wrangler exactly as a deploy would
// bundle it, chosen with ROUTE_SCRIPT = "acme", and serving registrations and calls between
// JsSIP phones in a deployment's topology. Nothing in src/ or durable-objects/ was edited for it.

const STEP_MS = 5000;
const ENTRY = "test/fixtures/custom-script/index.ts";
let outdir: string;
let dep: Deployment;
let nextClient = 0;

beforeAll(async () => {
  installFakeWebRtc();
  outdir = await mkdtemp(path.join(tmpdir(), "sipedge-custom-build-"));
  await buildWorker(outdir, ENTRY);
  dep = await startDeployment({ outdir, vars: { ROUTE_SCRIPT: "acme" } });
}, 120_000);

afterAll(async () => {
  await dep?.destroy();
  await rm(outdir, { recursive: true, force: true });
});

function phone(username: string): Promise<JssipPhone> {
  return JssipPhone.start({ wsUrl: dep.wsUrl, username, password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert });
}

describe("a route script of one's own", () => {
  it("answers what only it answers: OPTIONS to sip:ping@ gets its 200 Acme Pong", async () => {
    const ua = await SipUa.connect(dep.wsUrl, { user: "user0701", password: "pw", domain: DOMAIN, localAddress: clientAddress(nextClient++), ca: dep.ca.cert });
    try {
      const pong = await ua.request({ method: "OPTIONS", ruri: `sip:ping@${DOMAIN}`, to: `<sip:ping@${DOMAIN}>`, callId: `ping-${Date.now()}`, cseq: 1 });
      expect(`${pong.response.status} ${pong.response.reason}`).toBe("200 Acme Pong");
      expect(header(pong.response, "x-acme-script")).toBe("ping");
    } finally {
      await ua.close();
    }
  });

  it("registers JsSIP users with digest and relays a call between them, its header at the callee, BYE along the route set", async () => {
    const callee = await phone("user0702");
    const caller = await phone("user0703");
    try {
      await callee.register();
      expect(callee.trace.responses("REGISTER")).toEqual([401, 200]);
      const session = caller.call(`sip:user0702@${DOMAIN}`);
      const confirmed = sessionEvent(session, "confirmed", STEP_MS * 2, caller.trace);
      const incoming = await callee.nextSession(STEP_MS);
      const answered = sessionEvent(incoming, "confirmed", STEP_MS, callee.trace);
      incoming.answer({ mediaConstraints: { audio: false, video: false } });
      await Promise.all([confirmed, answered]);
      expect(caller.trace.responses("INVITE")).toEqual([407, 100, 180, 200]);
      expect(callee.trace.requests("<", "INVITE")[0]?.text).toMatch(/^X-Acme-Script: routed$/m);
      const ended = sessionEvent(incoming, "ended", STEP_MS, callee.trace);
      session.terminate();
      await ended;
      expect(callee.trace.entries.some((e) => e.dir === ">" && e.method === "BYE" && e.status === 200)).toBe(true);
    } finally {
      await caller.stop();
      await callee.stop();
    }
  });

  it("an unknown ROUTE_SCRIPT stops the worker at startup, naming the variable and every script of the build", async () => {
    const failure = await startStack({ port: 0, build: false, outdir, seed: false, vars: { ROUTE_SCRIPT: "acme2" } }).then(
      async (stack) => (await stack.stop(), "started"),
      (error: unknown) => String(error).replaceAll('\\"', '"'),
    );
    expect(failure).toContain('wrangler.toml [vars]: ROUTE_SCRIPT: unknown route script "acme2"; choose one of kamailio-sbc, opensips-balancer, opensips-registrar, acme');
  });
});

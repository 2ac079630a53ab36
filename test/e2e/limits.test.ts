// Issue 8 §3, end to end on a deployment's topology (sip.example.test, no aliases): an AOR cannot
// hoard bindings (MAX_CONTACTS ships 10, where Kamailio ships no limit), and a per-user cap on
// concurrent calls (MAX_CALLS_PER_USER, off by default) that a final failure or a BYE releases.
import { describe, expect, it, vi } from "vitest";
import { startStack } from "../../scripts/stack.mjs";
import { answer, answeringCallee, hangUp, hangUpAsCallee } from "../helpers/callee.ts";
import { SipUa, adminBindings, header } from "../helpers/sip-ua.ts";

const TOKEN = "limits-e2e-token";
const PASSWORD = "pw"; // seeded users user0000..user0999 (src/provisioning/seed.ts)
const DOMAIN = "sip.example.test";
const DEPLOYED = { ADMIN_TOKEN: TOKEN, LOG_LEVEL: "error", SIP_DOMAIN: DOMAIN, SIP_ALIASES: "" };
/** Room for an RPC that ends a call's count after the BYE's 200 went back. */
const MARGIN_MS = 1000;

describe("an AOR cannot hoard bindings: MAX_CONTACTS ships 10 (Kamailio: unlimited)", () => {
  it("ten contacts register; one more gets 503 as Kamailio's max_contacts answers, and the ten stay", async () => {
    const stack = await startStack({ port: 0, build: false, vars: DEPLOYED });
    const ua = await SipUa.connect(stack.wsUrl, { user: "user0610", password: PASSWORD, domain: DOMAIN, localAddress: "127.0.0.60" });
    try {
      const contact = (i: number) => ({ uri: `sip:user0610-${i}@127.0.0.60;transport=ws`, instance: null, regId: null });
      const ten = await ua.register({ contacts: Array.from({ length: 10 }, (_, i) => contact(i)) });
      expect(ten.response.status).toBe(200);
      const eleventh = await ua.register({ contacts: [contact(10)] });
      expect([eleventh.response.status, eleventh.response.reason]).toEqual([503, "Service Unavailable"]);
      expect(header(eleventh.response, "p-registrar-error")).toBe("Too many registered contacts");
      expect((await adminBindings(stack.url, TOKEN, `user0610@${DOMAIN}`)).map((b) => b.contact).sort()).toEqual(Array.from({ length: 10 }, (_, i) => contact(i).uri).sort());
    } finally {
      await ua.close();
      await stack.stop();
    }
  });
});

describe("a per-user cap on concurrent calls (MAX_CALLS_PER_USER, off by default)", () => {
  it("with a cap of 2, a third call gets 403 Too Many Calls until a BYE or a final failure ends one", async () => {
    const stack = await startStack({ port: 0, build: false, vars: { ...DEPLOYED, MAX_CALLS_PER_USER: "2" } });
    const callee = await answeringCallee(stack.wsUrl, { user: "user0621", password: PASSWORD, domain: DOMAIN, localAddress: "127.0.0.62" });
    const busy = await answeringCallee(stack.wsUrl, { user: "user0622", password: PASSWORD, domain: DOMAIN, localAddress: "127.0.0.63" }, "486 Busy Here");
    const caller = await SipUa.connect(stack.wsUrl, { user: "user0620", password: PASSWORD, domain: DOMAIN, localAddress: "127.0.0.61" });
    const status = async (target: string) => (await caller.invite(`sip:${target}`)).response.status;
    try {
      const first = await caller.invite(`sip:${callee.ua.aor}`);
      const second = await caller.invite(`sip:${callee.ua.aor}`);
      expect([first.response.status, second.response.status]).toEqual([200, 200]);
      const third = (await caller.invite(`sip:${callee.ua.aor}`)).response;
      expect([third.status, third.reason]).toEqual([403, "Too Many Calls"]);
      // The count ends after the BYE's 200 went back: allow it a moment.
      expect(await hangUp(caller, first)).toBe(200);
      await vi.waitFor(async () => expect(await status(busy.ua.aor)).toBe(486), { timeout: MARGIN_MS, interval: 100 });
      // That call failed (486): its place is free again at once, and so is the offline callee's (480).
      expect(await status("user0623@" + DOMAIN)).toBe(480);
      const again = await caller.invite(`sip:${callee.ua.aor}`);
      expect(again.response.status).toBe(200);
      expect(await status(callee.ua.aor)).toBe(403);
      // The callee hangs up the second call: that BYE, from the other side, frees a place too.
      const secondAnswered = callee.answered.find((a) => header(a.invite, "call-id") === header(second.response, "call-id"));
      expect(secondAnswered).toBeDefined();
      const [byeStatus] = await Promise.all([hangUpAsCallee(callee.ua, secondAnswered!), caller.nextRequest("BYE").then((bye) => caller.send(answer(bye, undefined)))]);
      expect(byeStatus).toBe(200);
      await vi.waitFor(async () => expect(await status(busy.ua.aor)).toBe(486), { timeout: MARGIN_MS, interval: 100 });
      // Another user is not affected by this one's calls.
      const other = await SipUa.connect(stack.wsUrl, { user: "user0624", password: PASSWORD, domain: DOMAIN, localAddress: "127.0.0.64" });
      expect((await other.invite(`sip:${callee.ua.aor}`)).response.status).toBe(200);
      await other.close();
    } finally {
      await Promise.all([caller.close(), callee.stop(), busy.stop()]);
      await stack.stop();
    }
  });
});


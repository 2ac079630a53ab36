import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { createRegistrar, formatQ, Q_UNSPECIFIED, type Binding } from "../../../src/modules/registrar/index.ts";

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

function binding(contact: string, fields: Partial<Binding> = {}): Binding {
  return { aor: "alice@localhost", contact, expires: T0 + 3_600_000, q: Q_UNSPECIFIED, callId: "c", cseq: 1, lastModified: T0, ...fields };
}

interface JsSipNameAddr {
  uri: { toString(): string };
  getParam(name: string): string | null | undefined;
}
const require = createRequire(import.meta.url);
const JsSipGrammar = require("jssip/lib/Grammar.js") as { parse(input: string, rule: string): unknown };

describe("the 200's Contact list (RFC 3261 §10.3 step 8)", () => {
  const r = createRegistrar();

  it("lists every current binding with its remaining expires, q when given, instance and reg-id", () => {
    const bindings = [
      binding("sip:a@198.51.100.1;transport=ws", { q: 0.5, expires: T0 + 600_000, instance: "urn:uuid:1", regId: 1 }),
      binding("sip:b@198.51.100.2;transport=ws", { expires: T0 + 90_500 }),
      binding("sip:gone@198.51.100.3", { expires: T0 - 1 }),
    ];
    const reply = r.saveReply(bindings, { aor: "alice@localhost", callId: "c", cseq: 1, contacts: [] }, T0);
    expect(reply.contacts).toEqual([
      '<sip:a@198.51.100.1;transport=ws>;q=0.5;expires=600;+sip.instance="<urn:uuid:1>";reg-id=1',
      "<sip:b@198.51.100.2;transport=ws>;expires=90",
    ]);
  });

  it("is understood by JsSIP's grammar the way its Registrator looks for its own binding", () => {
    const bindings = [binding("sip:x@y.invalid;transport=ws", { instance: "urn:uuid:6a0f2bd1-5a4b-4f6f-9d0e-0a1b2c3d4e5f", regId: 1 })];
    const [value] = r.saveReply(bindings, { aor: "alice@localhost", callId: "c", cseq: 1, contacts: [] }, T0).contacts;
    const parsed = JsSipGrammar.parse(value!, "Contact") as { parsed: JsSipNameAddr }[];
    const contact = parsed[0]!.parsed;
    // JsSIP: this._sipInstance = `"<urn:uuid:${instance_id}>"`; this._reg_id = 1.
    expect(contact.getParam("+sip.instance")).toBe('"<urn:uuid:6a0f2bd1-5a4b-4f6f-9d0e-0a1b2c3d4e5f>"');
    expect(Number(contact.getParam("reg-id"))).toBe(1);
    expect(Number(contact.getParam("expires"))).toBe(3600);
    expect(contact.uri.toString()).toBe("sip:x@y.invalid;transport=ws");
  });

  it("carries Require: outbound and Flow-Timer for an outbound registration, and echoes Path when supported", () => {
    const flow = createRegistrar({ flowTimer: 25 });
    const input = {
      aor: "alice@localhost",
      callId: "c",
      cseq: 1,
      outbound: true,
      pathSupported: true,
      path: ["<sip:p1.example;lr>"],
      contacts: [{ uri: "sip:x@y.invalid", instance: '"<urn:uuid:1>"', regId: 1 }],
    };
    expect(flow.saveReply([], input, T0).headers).toEqual([
      ["Require", "outbound"],
      ["Flow-Timer", "25"],
      ["Path", "<sip:p1.example;lr>"],
    ]);
    expect(flow.saveReply([], { ...input, outbound: false, pathSupported: false }, T0).headers).toEqual([]);
  });

  it("prints q with at most three decimals", () => {
    expect([0, 0.1, 0.333333, 0.5, 1].map(formatQ)).toEqual(["0", "0.1", "0.333", "0.5", "1"]);
  });
});

describe("lookup (Kamailio lookup(\"location\"))", () => {
  const r = createRegistrar();

  it("orders by q, highest first, then most recently modified first; an unspecified q last", () => {
    const bindings = [
      binding("sip:low", { q: 0.1 }),
      binding("sip:none"),
      binding("sip:high-old", { q: 0.9, lastModified: T0 - 5000 }),
      binding("sip:high-new", { q: 0.9, lastModified: T0 - 1000 }),
    ];
    const result = r.lookup(bindings, T0);
    expect(result.found && result.contacts.map((c) => c.uri)).toEqual(["sip:high-new", "sip:high-old", "sip:low", "sip:none"]);
  });

  it("returns each target with its flow token and Path", () => {
    const result = r.lookup([binding("sip:a", { flowToken: "f1", path: ["<sip:p;lr>"], received: "sip:203.0.113.7:5000" })], T0);
    expect(result).toEqual({ found: true, contacts: [{ uri: "sip:a", q: Q_UNSPECIFIED, flowToken: "f1", path: ["<sip:p;lr>"], received: "sip:203.0.113.7:5000" }] });
  });

  it("puts one flow per instance in the target set and keeps the others as 430 alternates (RFC 5626 §5.3)", () => {
    const bindings = [
      binding("sip:flow1", { instance: "urn:uuid:1", regId: 1, flowToken: "f1", lastModified: T0 - 2000 }),
      binding("sip:flow2", { instance: "urn:uuid:1", regId: 2, flowToken: "f2", lastModified: T0 - 1000 }),
      binding("sip:other", { flowToken: "f3", lastModified: T0 - 3000 }),
    ];
    const result = r.lookup(bindings, T0);
    if (!result.found) throw new Error("expected contacts");
    expect(result.contacts.map((c) => c.flowToken)).toEqual(["f2", "f3"]);
    expect(result.contacts[0]!.alternates?.map((c) => c.flowToken)).toEqual(["f1"]);
  });

  it("finds nothing when every binding expired or there are none", () => {
    expect(r.lookup([], T0)).toEqual({ found: false, reason: "not-found" });
    expect(r.lookup([binding("sip:a", { expires: T0 })], T0)).toEqual({ found: false, reason: "not-found" });
  });
});

describe("flows and expiry", () => {
  const r = createRegistrar();

  it("removeFlow drops exactly the bindings of the closed flow (handle_lost_tcp)", () => {
    const bindings = [binding("sip:a", { flowToken: "f1" }), binding("sip:b", { flowToken: "f2" }), binding("sip:c", { flowToken: "f1" })];
    const { bindings: kept, removed } = r.removeFlow(bindings, "f1");
    expect(kept.map((b) => b.contact)).toEqual(["sip:b"]);
    expect(removed.map((b) => b.contact)).toEqual(["sip:a", "sip:c"]);
  });

  it("expire drops bindings at their expiry and nextExpiry names the next alarm", () => {
    const bindings = [binding("sip:a", { expires: T0 + 1000 }), binding("sip:b", { expires: T0 + 5000 })];
    expect(r.nextExpiry(bindings)).toBe(T0 + 1000);
    const { bindings: kept, removed } = r.expire(bindings, T0 + 1000);
    expect(kept.map((b) => b.contact)).toEqual(["sip:b"]);
    expect(removed.map((b) => b.contact)).toEqual(["sip:a"]);
    expect(r.nextExpiry(kept)).toBe(T0 + 5000);
    expect(r.nextExpiry([])).toBeUndefined();
  });

  it("refuses a configuration whose min_expires is above max_expires", () => {
    expect(() => createRegistrar({ minExpires: 600, maxExpires: 300 })).toThrow(/min_expires/);
  });
});

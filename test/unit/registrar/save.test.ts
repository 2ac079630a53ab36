import { describe, expect, it } from "vitest";
import {
  aorOf,
  createRegistrar,
  type Binding,
  type RegisterInput,
  type SaveResult,
} from "../../../src/modules/registrar/index.ts";

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const AOR = "alice@localhost";
const A = "sip:alice@198.51.100.1:5060;transport=ws";
const B = "sip:alice@198.51.100.2:5060;transport=ws";

function register(input: Partial<RegisterInput> = {}): RegisterInput {
  return { aor: AOR, callId: "call-1", cseq: 1, contacts: [{ uri: A }], flowToken: "flow-1", ...input };
}

function ok(result: SaveResult): Extract<SaveResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected success, got ${result.status} ${result.error}`);
  return result;
}

function saved(r: ReturnType<typeof createRegistrar>, input: Partial<RegisterInput>, bindings: readonly Binding[] = [], now = T0): Binding[] {
  return ok(r.save(bindings, register(input), now)).bindings;
}

describe("expiry of a binding (RFC 3261 §10.3 step 7, Kamailio registrar)", () => {
  const r = createRegistrar();

  it("takes the Contact expires parameter over the Expires header", () => {
    const [b] = saved(r, { expiresHeader: 300, contacts: [{ uri: A, expires: 600 }] });
    expect(b!.expires).toBe(T0 + 600_000);
  });

  it("takes the Expires header when the Contact has no expires", () => {
    expect(saved(r, { expiresHeader: 300 })[0]!.expires).toBe(T0 + 300_000);
  });

  it("uses default_expires 3600 when neither says", () => {
    expect(saved(r, {})[0]!.expires).toBe(T0 + 3_600_000);
    expect(saved(createRegistrar({ defaultExpires: 120 }), {})[0]!.expires).toBe(T0 + 120_000);
  });

  it("raises an expiry below min_expires (60) to the minimum by default", () => {
    expect(saved(r, { contacts: [{ uri: A, expires: 30 }] })[0]!.expires).toBe(T0 + 60_000);
  });

  it("answers 423 Interval Too Brief with Min-Expires when min_expires_mode is 1", () => {
    const strict = createRegistrar({ minExpiresMode: 1, minExpires: 120 });
    const result = strict.save([], register({ contacts: [{ uri: A, expires: 30 }] }), T0);
    expect(result).toMatchObject({ ok: false, status: 423, reason: "Interval Too Brief", error: "interval-too-brief" });
    expect(!result.ok && result.headers).toContainEqual(["Min-Expires", "120"]);
    // A removal (expires 0) is never "too brief".
    expect(strict.save([], register({ contacts: [{ uri: A, expires: 0 }] }), T0).ok).toBe(true);
  });

  it("lowers an expiry above max_expires to the maximum", () => {
    const capped = createRegistrar({ maxExpires: 1800 });
    expect(saved(capped, { contacts: [{ uri: A, expires: 7200 }] })[0]!.expires).toBe(T0 + 1_800_000);
  });

  it("refuses a negative or fractional expires parameter and a malformed Expires header with 400", () => {
    for (const expires of [-1, 1.5, Number.NaN]) {
      expect(r.save([], register({ contacts: [{ uri: A, expires }] }), T0)).toMatchObject({ ok: false, status: 400, error: "invalid-expires" });
    }
    expect(r.save([], register({ expiresHeader: -5 }), T0)).toMatchObject({ ok: false, status: 400, error: "invalid-expires-header" });
  });

  it("removes a binding whose Contact comes with expires=0, and ignores expires=0 for an unknown one", () => {
    const bindings = saved(r, {});
    const removal = ok(r.save(bindings, register({ cseq: 2, contacts: [{ uri: A, expires: 0 }] }), T0 + 1000));
    expect(removal.bindings).toEqual([]);
    expect(removal.removed).toHaveLength(1);
    expect(removal.changed).toBe(true);
    const nothing = ok(r.save([], register({ contacts: [{ uri: B, expires: 0 }] }), T0));
    expect(nothing).toMatchObject({ bindings: [], changed: false, added: [] });
  });

  it("drops expired bindings: they are not listed, not counted, and reported as removed", () => {
    const bindings = saved(r, { contacts: [{ uri: A, expires: 60 }] });
    const later = ok(r.save(bindings, register({ callId: "call-2", contacts: [] }), T0 + 61_000));
    expect(later.bindings).toEqual([]);
    expect(later.removed).toHaveLength(1);
  });
});

describe("Contact: * (RFC 3261 §10.3 step 6)", () => {
  const r = createRegistrar();
  const two = saved(r, { contacts: [{ uri: A }, { uri: B }] });

  it("with Expires: 0 removes every binding of the AOR", () => {
    const result = ok(r.save(two, register({ cseq: 2, star: true, contacts: [], expiresHeader: 0 }), T0 + 1000));
    expect(result.bindings).toEqual([]);
    expect(result.removed).toHaveLength(2);
  });

  it("without Expires: 0 is a 400", () => {
    expect(r.save(two, register({ cseq: 2, star: true, contacts: [], expiresHeader: 60 }), T0)).toMatchObject({ status: 400, error: "star-expires" });
    expect(r.save(two, register({ cseq: 2, star: true, contacts: [] }), T0)).toMatchObject({ status: 400, error: "star-expires" });
  });

  it("next to other Contacts is a 400", () => {
    expect(r.save(two, register({ cseq: 2, star: true, expiresHeader: 0 }), T0)).toMatchObject({ status: 400, error: "star-contacts" });
  });

  it("with the bindings' Call-ID and a CSeq not higher fails and removes nothing", () => {
    const result = r.save(two, register({ cseq: 1, star: true, contacts: [], expiresHeader: 0 }), T0 + 60_000);
    expect(result).toMatchObject({ ok: false, status: 500, error: "invalid-cseq" });
  });

  it("from another Call-ID removes regardless of CSeq", () => {
    expect(ok(r.save(two, register({ callId: "other", cseq: 1, star: true, contacts: [], expiresHeader: 0 }), T0)).bindings).toEqual([]);
  });
});

describe("Call-ID and CSeq ordering (RFC 3261 §10.3 step 7)", () => {
  const r = createRegistrar();
  const first = saved(r, { cseq: 5 });

  it("a higher CSeq with the same Call-ID updates the binding", () => {
    const result = ok(r.save(first, register({ cseq: 6, expiresHeader: 120 }), T0 + 1000));
    expect(result.bindings).toHaveLength(1);
    expect(result.bindings[0]).toMatchObject({ cseq: 6, expires: T0 + 1000 + 120_000 });
  });

  it("a lower CSeq with the same Call-ID aborts the whole request with 500", () => {
    const result = r.save(first, register({ cseq: 4 }), T0 + 1000);
    expect(result).toMatchObject({ ok: false, status: 500, reason: "Server Internal Error", error: "invalid-cseq" });
    expect(!result.ok && result.headers).toContainEqual(["P-Registrar-Error", "Out of order CSeq"]);
  });

  it("the same CSeq within cseq_delay (20 s) is a retransmission: accepted, nothing changes", () => {
    const result = ok(r.save(first, register({ cseq: 5, expiresHeader: 60 }), T0 + 5000));
    expect(result.bindings).toEqual(first);
    expect(result).toMatchObject({ changed: false, refreshed: false });
  });

  it("the same CSeq after cseq_delay is out of order (500)", () => {
    expect(r.save(first, register({ cseq: 5 }), T0 + 21_000)).toMatchObject({ ok: false, status: 500 });
  });

  it("a different Call-ID updates whatever its CSeq (a restarted client)", () => {
    expect(ok(r.save(first, register({ callId: "call-2", cseq: 1 }), T0 + 1000)).bindings[0]).toMatchObject({ callId: "call-2", cseq: 1 });
  });

  it("is all or nothing: one out-of-order Contact leaves every binding as it was", () => {
    const both = saved(r, { cseq: 5, contacts: [{ uri: A }, { uri: B }] });
    const copy = structuredClone(both);
    const mixed = { callId: "call-1", cseq: 4, contacts: [{ uri: "sip:new@198.51.100.9" }, { uri: B, expires: 0 }] };
    expect(r.save(both, register(mixed), T0 + 1000).ok).toBe(false);
    expect(both).toEqual(copy);
  });
});

describe("max_contacts", () => {
  const r = createRegistrar({ maxContacts: 2, retryAfter: 30 });
  const two = saved(r, { contacts: [{ uri: A }, { uri: B }] });

  it("refuses a registration that would exceed it with 503 and Retry-After", () => {
    const result = r.save(two, register({ cseq: 2, contacts: [{ uri: "sip:alice@198.51.100.3" }] }), T0 + 1000);
    expect(result).toMatchObject({ ok: false, status: 503, reason: "Service Unavailable", error: "too-many-contacts" });
    expect(!result.ok && result.headers).toEqual([
      ["Retry-After", "30"],
      ["P-Registrar-Error", "Too many registered contacts"],
    ]);
  });

  it("still refreshes the bindings already there", () => {
    expect(ok(r.save(two, register({ cseq: 2, contacts: [{ uri: A }, { uri: B }] }), T0 + 1000)).bindings).toHaveLength(2);
  });

  it("accepts a new contact that replaces a removed one in the same request", () => {
    const swap = register({ cseq: 2, contacts: [{ uri: A, expires: 0 }, { uri: "sip:alice@198.51.100.3" }] });
    expect(ok(r.save(two, swap, T0 + 1000)).bindings.map((b) => b.contact)).toEqual([B, "sip:alice@198.51.100.3"]);
  });
});

describe("q values and other Contact checks", () => {
  const r = createRegistrar();

  it("stores q and leaves it unspecified without one", () => {
    const [withQ, without] = saved(r, { contacts: [{ uri: A, q: 0.5 }, { uri: B }] });
    expect(withQ!.q).toBe(0.5);
    expect(without!.q).toBe(-1);
    expect(saved(createRegistrar({ defaultQ: 1 }), {})[0]!.q).toBe(1);
  });

  it("refuses q outside 0..1 with 400", () => {
    expect(r.save([], register({ contacts: [{ uri: A, q: 1.5 }] }), T0)).toMatchObject({ status: 400, error: "invalid-q" });
  });

  it("refuses a Contact URI longer than contact_max_size with 400", () => {
    const long = `sip:${"x".repeat(300)}@localhost`;
    expect(r.save([], register({ contacts: [{ uri: long }] }), T0)).toMatchObject({ status: 400, error: "contact-too-long" });
  });

  it("answers a REGISTER without Contact (a query) with the current bindings, unchanged", () => {
    const bindings = saved(r, {});
    expect(ok(r.save(bindings, register({ cseq: 2, contacts: [] }), T0 + 1000))).toMatchObject({ bindings, changed: false });
  });

  it("normalises the AOR to lowercase unless case_sensitive", () => {
    expect(aorOf("Alice", "LocalHost")).toBe("alice@localhost");
    expect(aorOf("Alice", "LocalHost", 1)).toBe("Alice@LocalHost");
  });
});

describe("RFC 5626 outbound: reg-id and +sip.instance", () => {
  const r = createRegistrar();
  const instance = '"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"';
  const flow1 = register({ outbound: true, contacts: [{ uri: A, instance, regId: 1 }], flowToken: "flow-1" });

  it("a reconnecting client (new Contact URI, new flow) replaces its binding instead of adding one", () => {
    const before = saved(r, flow1);
    const reconnect = register({ outbound: true, cseq: 2, contacts: [{ uri: B, instance, regId: 1 }], flowToken: "flow-2" });
    const result = ok(r.save(before, reconnect, T0 + 30_000));
    expect(result.bindings).toHaveLength(1);
    expect(result.bindings[0]).toMatchObject({ contact: B, flowToken: "flow-2", instance: "urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF", regId: 1 });
    expect(result.changed).toBe(true);
  });

  it("also after a page reload (new Call-ID, CSeq starting again)", () => {
    const before = saved(r, { ...flow1, cseq: 40 });
    const reload = register({ outbound: true, callId: "fresh", cseq: 1, contacts: [{ uri: B, instance, regId: 1 }], flowToken: "flow-3" });
    expect(ok(r.save(before, reload, T0 + 30_000)).bindings.map((b) => b.flowToken)).toEqual(["flow-3"]);
  });

  it("a second reg-id of the same instance is a second flow", () => {
    const before = saved(r, flow1);
    const second = register({ outbound: true, callId: "call-b", contacts: [{ uri: B, instance, regId: 2 }], flowToken: "flow-2" });
    expect(ok(r.save(before, second, T0 + 1000)).bindings).toHaveLength(2);
  });

  it("a refresh on the same flow changes nothing but timers", () => {
    const before = saved(r, flow1);
    const result = ok(r.save(before, { ...flow1, cseq: 2 }, T0 + 300_000));
    expect(result).toMatchObject({ changed: false, refreshed: true });
    expect(result.bindings[0]!.expires).toBe(T0 + 300_000 + 3_600_000);
  });

  it("ignores reg-id when the REGISTER does not support outbound (regid_mode 0), and uses it with regid_mode 1", () => {
    const plain = { ...flow1, outbound: false };
    expect(saved(r, plain)[0]!.regId).toBeUndefined();
    expect(saved(createRegistrar({ regIdMode: 1 }), plain)[0]!.regId).toBe(1);
  });

  it("refuses more than one Contact with reg-id with 400", () => {
    const two = register({ outbound: true, contacts: [{ uri: A, instance, regId: 1 }, { uri: B, instance, regId: 2 }] });
    expect(r.save([], two, T0)).toMatchObject({ ok: false, status: 400, error: "multiple-reg-id" });
  });

  it("stores Path, received, flow token and User-Agent of the request", () => {
    const [b] = saved(r, { ...flow1, path: ["<sip:edge.example;lr;ob>"], received: "sip:203.0.113.7:52044;transport=ws", userAgent: "JsSIP 3.13.8" });
    expect(b).toMatchObject({ path: ["<sip:edge.example;lr;ob>"], received: "sip:203.0.113.7:52044;transport=ws", flowToken: "flow-1", userAgent: "JsSIP 3.13.8" });
  });
});

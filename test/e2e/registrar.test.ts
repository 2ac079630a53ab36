// Every registrar rule of issue 3, through the running stack over real WebSockets: a raw UA
// (test/helpers/sip-ua.ts) registers with digest auth and the tests read both the 200's Contact
// list (what the client is told) and the Location object (admin API: what the proxy will use).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../scripts/stack.mjs";
import { adminBindings, contactsOf, header, parseChallenge, SipUa, type AdminBinding, type SipMessage, type UaOptions } from "../helpers/sip-ua.ts";

const TOKEN = "registrar-e2e-token";
const PASSWORD = "pw"; // the seeded benchmark users user0000… (src/provisioning/seed.ts)

// Each test registers its own AOR, so no test sees another's bindings.
let nextUser = 100;
const freshUser = (): string => `user${String(nextUser++).padStart(4, "0")}`;

const open: SipUa[] = [];
async function ua(stack: Stack, options: Partial<UaOptions> & { user: string }): Promise<SipUa> {
  const client = await SipUa.connect(stack.wsUrl, { password: PASSWORD, ...options });
  open.push(client);
  return client;
}

/** The expires the 200 grants the UA's own Contact (RFC 3261 §10.3 step 8). */
function grantedExpires(res: SipMessage, uri: string): number | undefined {
  const c = contactsOf(res).find((x) => x.uri === uri);
  return c === undefined ? undefined : Number(c.params.get("expires"));
}

const shardOf = (b: AdminBinding | undefined): string | undefined => b?.flowToken?.split(".")[0];

async function startRegistrarStack(vars: Record<string, string>): Promise<Stack> {
  return startStack({ port: 0, build: false, vars: { ADMIN_TOKEN: TOKEN, LOG_LEVEL: "error", ...vars } });
}

afterAll(async () => {
  await Promise.all(open.map((c) => c.close().catch(() => undefined)));
});

describe("registrar with the default configuration (and MAX_EXPIRES=7200)", () => {
  let stack: Stack;
  const bindings = (aor: string) => adminBindings(stack.url, TOKEN, aor);

  beforeAll(async () => {
    stack = await startRegistrarStack({ MAX_EXPIRES: "7200" });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("a REGISTER is challenged with 401 and then accepted with 200 listing the binding", async () => {
    const alice = await ua(stack, { user: freshUser() });
    const { response, challenges } = await alice.register();
    expect(challenges.map((c) => c.status)).toEqual([401]);
    expect(response.status).toBe(200);
    expect(contactsOf(response).map((c) => c.uri)).toEqual([alice.contactUri]);
    expect((await bindings(alice.aor)).map((b) => b.contact)).toEqual([alice.contactUri]);
  });

  it("without expires in Contact or Expires header the binding gets default_expires 3600", async () => {
    const u = await ua(stack, { user: freshUser() });
    const { response } = await u.register();
    expect(grantedExpires(response, u.contactUri)).toBe(3600);
  });

  it("the Expires header applies to a Contact without an expires parameter", async () => {
    const u = await ua(stack, { user: freshUser() });
    expect(grantedExpires((await u.register({ expires: 900 })).response, u.contactUri)).toBe(900);
  });

  it("a Contact expires parameter beats the Expires header", async () => {
    const u = await ua(stack, { user: freshUser() });
    const { response } = await u.register({ contacts: [{ expires: 1800 }], expires: 900 });
    expect(grantedExpires(response, u.contactUri)).toBe(1800);
  });

  it("min_expires_mode 0: an expiry below MIN_EXPIRES (60) is raised to it and the 200 says so", async () => {
    const u = await ua(stack, { user: freshUser() });
    const { response } = await u.register({ contacts: [{ expires: 30 }] });
    expect(response.status).toBe(200);
    expect(grantedExpires(response, u.contactUri)).toBe(60);
    const [b] = await bindings(u.aor);
    expect((b?.expires ?? 0) - Date.now()).toBeGreaterThan(55_000);
  });

  it("max_expires: an expiry above MAX_EXPIRES (7200) is lowered to it", async () => {
    const u = await ua(stack, { user: freshUser() });
    const { response } = await u.register({ contacts: [{ expires: 100_000 }] });
    expect(grantedExpires(response, u.contactUri)).toBe(7200);
  });

  it("Contact: * with Expires: 0 removes every binding of the AOR", async () => {
    const u = await ua(stack, { user: freshUser() });
    const second = `sip:second-${randomUUID().slice(0, 8)}@127.0.0.1;transport=ws`;
    expect(contactsOf((await u.register({ contacts: [{}, { uri: second }] })).response)).toHaveLength(2);
    expect(await bindings(u.aor)).toHaveLength(2);
    const { response } = await u.register({ contacts: "*", expires: 0 });
    expect(response.status).toBe(200);
    expect(contactsOf(response)).toEqual([]);
    expect(await bindings(u.aor)).toEqual([]);
  });

  it("Contact: * with a nonzero Expires is refused with 400 and changes nothing", async () => {
    const u = await ua(stack, { user: freshUser() });
    await u.register();
    const { response } = await u.register({ contacts: "*", expires: 3600 });
    expect(response.status).toBe(400);
    expect((await bindings(u.aor)).map((b) => b.contact)).toEqual([u.contactUri]);
  });

  it("the same Call-ID with a lower CSeq fails with 500 and leaves the binding as it was (RFC 3261 §10.3 step 7)", async () => {
    const u = await ua(stack, { user: freshUser() });
    const first = await u.register({ contacts: [{ expires: 600 }] });
    expect(first.response.status).toBe(200);
    const before = await bindings(u.aor);
    expect(before.map((b) => b.cseq)).toEqual([first.cseq]);

    const stale = await u.register({ contacts: [{ expires: 1200 }], cseq: first.cseq - 1 });
    expect(stale.challenges).toEqual([]); // sent once, with the kept nonce: exactly that CSeq
    expect(stale.cseq).toBe(first.cseq - 1);
    expect(stale.response.status).toBe(500);
    expect(await bindings(u.aor)).toEqual(before);

    // The rule is about order within one Call-ID: another Call-ID with a low CSeq updates.
    const other = await u.register({ contacts: [{ expires: 1200 }], callId: randomUUID(), cseq: 1 });
    expect(other.response.status).toBe(200);
    expect(grantedExpires(other.response, u.contactUri)).toBe(1200);
  });

  it("the 200 lists the contacts in q order, highest first", async () => {
    const u = await ua(stack, { user: freshUser() });
    const uri = (n: string) => `sip:${n}-${randomUUID().slice(0, 8)}@127.0.0.1;transport=ws`;
    const [low, high, mid] = [uri("low"), uri("high"), uri("mid")];
    const { response } = await u.register({ contacts: [{ uri: low, q: 0.1 }, { uri: high, q: 0.9 }, { uri: mid, q: 0.5 }] });
    expect(response.status).toBe(200);
    expect(contactsOf(response).map((c) => [c.uri, c.params.get("q")])).toEqual([
      [high, "0.9"],
      [mid, "0.5"],
      [low, "0.1"],
    ]);
  });

  it("RFC 5626: a client that reconnects with the same +sip.instance and reg-id replaces its binding", async () => {
    const user = freshUser();
    const instance = `<urn:uuid:${randomUUID()}>`;
    const before = await ua(stack, { user, instance, regId: 1 });
    const first = await before.register();
    expect(first.response.status).toBe(200);
    expect(header(first.response, "require")).toMatch(/outbound/);
    const [old] = await bindings(before.aor);

    // A new WebSocket is a new flow, with a new Contact URI; the old socket has not closed yet.
    const after = await ua(stack, { user, instance, regId: 1, localAddress: "127.0.0.2" });
    const second = await after.register();
    expect(second.response.status).toBe(200);
    expect(contactsOf(second.response).map((c) => [c.uri, c.params.get("+sip.instance"), c.params.get("reg-id")])).toEqual([
      [after.contactUri, instance, "1"],
    ]);
    const now = await bindings(after.aor);
    expect(now.map((b) => b.contact)).toEqual([after.contactUri]);
    expect(now[0]?.flowToken).not.toBe(old?.flowToken);

    // The old flow closing later must not take the new binding with it.
    await before.close();
    await new Promise((r) => setTimeout(r, 300));
    expect((await bindings(after.aor)).map((b) => b.contact)).toEqual([after.contactUri]);
  });

  for (const how of ["close", "terminate"] as const) {
    it(`a flow's bindings are removed when its socket goes (${how === "close" ? "close handshake" : "TCP dropped without a close frame"}; HANDLE_LOST_FLOWS default on)`, async () => {
      const u = await ua(stack, { user: freshUser() });
      expect((await u.register()).response.status).toBe(200);
      expect(await bindings(u.aor)).toHaveLength(1);
      await (how === "close" ? u.close() : u.terminate());
      await expect.poll(() => bindings(u.aor), { timeout: 5000, interval: 100 }).toEqual([]);
    });
  }

  it("the 200 lists all current bindings of the AOR, also when the other device registered through another shard", async () => {
    const user = freshUser();
    const phone = await ua(stack, { user, localAddress: "127.0.0.2" });
    await phone.register();
    const phoneShard = shardOf((await bindings(phone.aor))[0]);
    // Sockets land on random shards; reconnect the second device until it sits on another one, so
    // the phone's refresh below cannot be answered by a cache that saw the desk phone register.
    let desk: SipUa | undefined;
    let deskReply: SipMessage | undefined;
    for (let attempt = 0; attempt < 20 && !desk; attempt++) {
      const candidate = await ua(stack, { user, localAddress: "127.0.0.3" });
      const reply = (await candidate.register({ callId: randomUUID() })).response;
      const mine = (await bindings(phone.aor)).find((b) => b.contact === candidate.contactUri);
      if (shardOf(mine) !== phoneShard) [desk, deskReply] = [candidate, reply];
      else await candidate.register({ contacts: [{ expires: 0 }], callId: randomUUID() });
    }
    if (!desk || !deskReply) throw new Error("no second shard found");
    expect(new Set(contactsOf(deskReply).map((c) => c.uri))).toEqual(new Set([phone.contactUri, desk.contactUri]));
    // RFC 3261 §10.3 step 8: the 200 "MUST contain Contact header field values enumerating all
    // current bindings" — also for the phone's next refresh.
    const refresh = await phone.register();
    expect(new Set(contactsOf(refresh.response).map((c) => c.uri))).toEqual(new Set([phone.contactUri, desk.contactUri]));
  });

  it("a shard that got the binding list again after being told is told again: three devices on three shards", async () => {
    // The Location object tells only the shards it handed a copy since its last change
    // (durable-objects/location-copies.ts): the phone's refresh below makes its shard one again.
    const user = freshUser();
    const phone = await ua(stack, { user, localAddress: "127.0.0.2" });
    await phone.register();
    const shards = new Set([shardOf((await bindings(phone.aor))[0])]);
    const onAnotherShard = async (localAddress: string): Promise<SipUa> => {
      for (let attempt = 0; attempt < 30; attempt++) {
        const candidate = await ua(stack, { user, localAddress });
        await candidate.register({ callId: randomUUID() });
        const shard = shardOf((await bindings(phone.aor)).find((b) => b.contact === candidate.contactUri));
        if (!shards.has(shard)) {
          shards.add(shard);
          return candidate;
        }
        await candidate.register({ contacts: [{ expires: 0 }], callId: randomUUID() });
      }
      throw new Error("no other shard found");
    };
    const desk = await onAnotherShard("127.0.0.3");
    // The desk phone's change dropped the phone's shard's copy; this refresh hands it a new one.
    expect(new Set(contactsOf((await phone.register()).response).map((c) => c.uri))).toEqual(new Set([phone.contactUri, desk.contactUri]));
    const tablet = await onAnotherShard("127.0.0.4");
    const all = new Set([phone.contactUri, desk.contactUri, tablet.contactUri]);
    expect(new Set(contactsOf((await phone.register()).response).map((c) => c.uri))).toEqual(all);
    expect(new Set(contactsOf((await desk.register()).response).map((c) => c.uri))).toEqual(all);
  });

  it("a wrong password is challenged again with 401 and leaves no binding", async () => {
    const u = await ua(stack, { user: freshUser() });
    const { response, challenges } = await u.register({ password: "not-the-password" });
    expect(challenges).toHaveLength(1);
    expect(response.status).toBe(401);
    expect(await bindings(u.aor)).toEqual([]);
  });

  it("an unknown user gets the same 401 as a wrong password, so users cannot be enumerated", async () => {
    const known = await ua(stack, { user: freshUser() });
    const unknown = await ua(stack, { user: `nosuch${randomUUID().slice(0, 6)}` });
    const a = await known.register({ password: "not-the-password" });
    const b = await unknown.register();
    const shape = (m: SipMessage) => ({
      status: m.status,
      reason: m.reason,
      headers: [...m.headers.keys()].sort(),
      challenges: (m.headers.get("www-authenticate") ?? []).map((v) => {
        const p = parseChallenge(v);
        p.delete("nonce");
        return [...p.entries()].sort();
      }),
    });
    expect(a.response.status).toBe(401);
    expect(shape(b.challenges[0] as SipMessage)).toEqual(shape(a.challenges[0] as SipMessage));
    expect(shape(b.response)).toEqual(shape(a.response));
    expect(await bindings(unknown.aor)).toEqual([]);
  });
});

describe("registrar with MIN_EXPIRES_MODE=1, MAX_CONTACTS=2, HANDLE_LOST_FLOWS=0", () => {
  let stack: Stack;
  const bindings = (aor: string) => adminBindings(stack.url, TOKEN, aor);

  beforeAll(async () => {
    stack = await startRegistrarStack({ MIN_EXPIRES_MODE: "1", MAX_CONTACTS: "2", HANDLE_LOST_FLOWS: "0" });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("min_expires_mode 1: an expiry below MIN_EXPIRES is answered 423 Interval Too Brief with Min-Expires: 60", async () => {
    const u = await ua(stack, { user: freshUser() });
    const { response } = await u.register({ contacts: [{ expires: 30 }] });
    expect([response.status, response.reason]).toEqual([423, "Interval Too Brief"]);
    expect(header(response, "min-expires")).toBe("60");
    expect(await bindings(u.aor)).toEqual([]);
    // RFC 3261 §10.2.8: the UA retries with at least Min-Expires, and that is accepted.
    const retry = await u.register({ contacts: [{ expires: 60 }] });
    expect(grantedExpires(retry.response, u.contactUri)).toBe(60);
  });

  it("max_contacts 2: a third contact is refused with 503 and the two existing ones still refresh", async () => {
    const u = await ua(stack, { user: freshUser() });
    const second = `sip:second-${randomUUID().slice(0, 8)}@127.0.0.1;transport=ws`;
    const third = `sip:third-${randomUUID().slice(0, 8)}@127.0.0.1;transport=ws`;
    expect((await u.register({ contacts: [{}, { uri: second }] })).response.status).toBe(200);
    const refused = await u.register({ contacts: [{ uri: third }] });
    expect(refused.response.status).toBe(503);
    expect(header(refused.response, "p-registrar-error")).toMatch(/too many/i);
    expect(new Set((await bindings(u.aor)).map((b) => b.contact))).toEqual(new Set([u.contactUri, second]));
    const refresh = await u.register({ contacts: [{}, { uri: second }] });
    expect(refresh.response.status).toBe(200);
    expect(contactsOf(refresh.response)).toHaveLength(2);
  });

  it("with HANDLE_LOST_FLOWS=0 a binding stays after its socket closes", async () => {
    const u = await ua(stack, { user: freshUser() });
    await u.register();
    const [before] = await bindings(u.aor);
    await u.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(await bindings(u.aor)).toEqual([before]);
  });

  it("a call to a binding whose flow is gone gets 430 Flow Failed (RFC 5626 §5.3)", async () => {
    const callee = await ua(stack, { user: freshUser() });
    await callee.register();
    await callee.close();
    const caller = await ua(stack, { user: freshUser(), localAddress: "127.0.0.2" });
    await caller.register();
    const { response } = await caller.invite(`sip:${callee.aor}`);
    expect([response.status, response.reason]).toEqual([430, "Flow Failed"]);
  });
});

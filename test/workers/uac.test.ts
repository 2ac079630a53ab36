import initSql from "../../migrations/0001_init.sql?raw";
import uacSql from "../../migrations/0004_uac.sql?raw";
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { callRateOf } from "../../durable-objects/call-rate.ts";
import { uacRegistrationOf } from "../../durable-objects/uac-registration.ts";
import app from "../../src/index.ts";
import type { Env } from "../../src/env.ts";
import { applyMigrations } from "../../src/provisioning/migrate.ts";

const TOKEN = "uac-admin-token";

beforeAll(async () => {
  await applyMigrations(env.DB, [{ name: "0001_init.sql", sql: initSql }, { name: "0004_uac.sql", sql: uacSql }]);
});

function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${TOKEN}`);
  const bindings: Env = { ...env, ADMIN_TOKEN: TOKEN };
  return Promise.resolve(app.request(`http://edge.test${path}`, { ...init, headers }, bindings));
}

const HEADER = "l_uuid(string) l_username(string) r_username(string) r_domain(string) realm(string) auth_password(string) auth_proxy(string) expires(int) reg_delay(int)";

describe("CallRate: calls to the PSTN per user and minute", () => {
  it("counts calls in a sliding minute, and does not count refused ones", async () => {
    const rate = callRateOf(env.CALL_RATE, "alice@rate.test");
    const t0 = 1_800_000_000_000;
    expect(await rate.take(2, t0)).toEqual({ allowed: true, count: 1 });
    expect(await rate.take(2, t0 + 1000)).toEqual({ allowed: true, count: 2 });
    expect(await rate.take(2, t0 + 2000)).toEqual({ allowed: false, count: 2 });
    expect(await rate.take(2, t0 + 59_999)).toEqual({ allowed: false, count: 2 });
    // The first call left the window; the refused ones were never in it.
    expect(await rate.take(2, t0 + 60_001)).toEqual({ allowed: true, count: 2 });
    expect(await callRateOf(env.CALL_RATE, "bob@rate.test").take(2, t0)).toEqual({ allowed: true, count: 1 });
  });
});

describe("UacRegistration objects and /admin/uac", () => {
  it("an imported row starts its registration; with no bridge link the attempt fails and is retried later; the dump hides the password", async () => {
    const imported = await call("/admin/import?table=uacreg", { method: "POST", body: `${HEADER}\nacct-1:bob:acct:carrier.test:carrier.test:pa55word:sip\\:192.0.2.50:600:0\n` });
    expect(imported.status).toBe(200);
    const reg = uacRegistrationOf(env.UAC_REG, "acct-1");
    const before = Date.now();
    expect(await runDurableObjectAlarm(reg)).toBe(true);
    const info = await reg.info();
    expect(info).toMatchObject({ l_uuid: "acct-1", state: "failed", failures: 1, lastReason: "no-link", flags: 16 });
    // UAC_REG_RETRY_INTERVAL (30 s) ± 10 %.
    expect(info.nextAttemptAt).toBeGreaterThanOrEqual(before + 27_000);
    expect(await runInDurableObject(reg, async (_o, state) => state.storage.getAlarm())).toBe(info.nextAttemptAt);
    const dump = await call("/admin/uac/registrations");
    const text = await dump.text();
    expect(text).not.toContain("pa55word");
    expect(JSON.parse(text)).toMatchObject({ registrations: [{ l_uuid: "acct-1", auth_password: "[set]", registration: { state: "failed", lastReason: "no-link" } }] });
    expect(await (await call("/admin/uac/stats")).json()).toEqual({ regtotal: 1, regactive: 0, regdisabled: 0 });
  });

  it("a credentials-only row (expires 0) never registers; a removed row's object forgets its registration at its next alarm", async () => {
    await call("/admin/import?table=uacreg", { method: "POST", body: `${HEADER}\ncreds-1:pbx:pbx:carrier.test::pw:sip\\:192.0.2.51:0:0\n` });
    const creds = uacRegistrationOf(env.UAC_REG, "creds-1");
    await runDurableObjectAlarm(creds);
    expect(await creds.info()).toMatchObject({ state: "disabled", lastReason: "expires 0: credentials only", flags: 17 });
    expect((await call("/admin/uac/registrations/acct-1", { method: "DELETE" })).status).toBe(200);
    const reg = uacRegistrationOf(env.UAC_REG, "acct-1");
    await reg.ensure("acct-1", true);
    await runDurableObjectAlarm(reg);
    expect(await runInDurableObject(reg, async (_o, state) => (await state.storage.list()).size)).toBe(0);
    expect((await call("/admin/uac/registrations/acct-1")).status).toBe(404);
  });
});

describe("uac_reg through a shard's bridge link", () => {
  it("shard 0's first bridge link starts a row's registration; the REGISTER goes out on the link, the 401 is answered, the 200 registers it", async () => {
    await env.DB.prepare("INSERT INTO uacreg (l_uuid, l_username, r_username, r_domain, realm, auth_password, auth_proxy, expires) VALUES ('acct-b', 'carol', 'acct', 'carrier.test', 'carrier.test', 'pw-b', 'sip:192.0.2.60', 120)").run();
    const res = await app.request("http://edge.test/bridge?shard=0&bridge=fake", {
      headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": "sipedge-bridge.v1", Authorization: "Bearer bridge-test-secret" },
    }, { ...env, BRIDGE_SECRET: "bridge-test-secret" });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const frames: string[] = [];
    ws.accept();
    ws.addEventListener("message", (e: MessageEvent) => void frames.push(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer)));
    ws.send(JSON.stringify({ type: "hello", version: 1, bridge: "fake", shard: 0, shards: 16, advertise: "192.0.2.9:5060" }));
    /** The registrar's answer to the latest REGISTER, as the bridge hands a datagram to the edge. */
    const answer = (register: string, status: string, extra: string[]) => {
      const h = (name: string) => new RegExp(`^${name}: (.*)$`, "m").exec(register)?.[1] ?? "";
      ws.send(["192.0.2.60:5060", `SIP/2.0 ${status}`, `Via: ${h("Via")}`, `From: ${h("From")}`, `To: ${h("To")};tag=r1`, `Call-ID: ${h("Call-ID")}`, `CSeq: ${h("CSeq")}`, ...extra, "Content-Length: 0", "", ""].join("\r\n"));
    };
    const registers = () => frames.filter((f) => f.startsWith("192.0.2.60:5060\r\nREGISTER "));
    await vi.waitFor(() => expect(registers()).toHaveLength(1), { timeout: 5000 });
    const first = registers()[0]!;
    expect(first).toMatch(/^Via: SIP\/2\.0\/UDP 192\.0\.2\.9:5060;branch=z9hG4bKuac0x/m);
    expect(first).toMatch(/^Contact: <sip:acct-b@192\.0\.2\.9:5060>$/m);
    answer(first, "401 Unauthorized", ['WWW-Authenticate: Digest realm="carrier.test", nonce="n-1", qop="auth"']);
    await vi.waitFor(() => expect(registers()).toHaveLength(2), { timeout: 5000 });
    const second = registers()[1]!;
    expect(second).toMatch(/^Authorization: Digest username="acct", realm="carrier.test", nonce="n-1", uri="sip:carrier.test"/m);
    expect(second).toMatch(/^CSeq: 2 REGISTER$/m);
    answer(second, "200 OK", ["Contact: <sip:acct-b@192.0.2.9:5060>;expires=90"]);
    const reg = uacRegistrationOf(env.UAC_REG, "acct-b");
    await vi.waitFor(async () => expect(await reg.info()).toMatchObject({ state: "registered", expires: 90, lastStatus: 200, contact: "<sip:acct-b@192.0.2.9:5060>;expires=90" }), { timeout: 5000 });
    const info = await reg.info();
    expect(info.nextAttemptAt! - info.registeredAt!).toBe(72_000);
    ws.close(1000);
  });
});

import initSql from "../../migrations/0001_init.sql?raw";
import uacSql from "../../migrations/0003_uac.sql?raw";
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { callRateOf } from "../../durable-objects/call-rate.ts";
import { uacRegistrationOf } from "../../durable-objects/uac-registration.ts";
import app from "../../src/index.ts";
import type { Env } from "../../src/env.ts";
import { applyMigrations } from "../../src/provisioning/migrate.ts";

const TOKEN = "uac-admin-token";

beforeAll(async () => {
  await applyMigrations(env.DB, [{ name: "0001_init.sql", sql: initSql }, { name: "0003_uac.sql", sql: uacSql }]);
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

import initSql from "../../migrations/0001_init.sql?raw";
import uacSql from "../../migrations/0004_uac.sql?raw";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { locationOf } from "../../durable-objects/location.ts";
import app from "../../src/index.ts";
import type { Env } from "../../src/env.ts";
import { applyMigrations } from "../../src/provisioning/migrate.ts";
import { SubscriberCache } from "../../src/provisioning/subscriber-lookup.ts";

const TOKEN = "s3cret-token_A";
const NEXT_TOKEN = "s3cret-token_B";

beforeAll(async () => {
  await applyMigrations(env.DB, [{ name: "0001_init.sql", sql: initSql }, { name: "0004_uac.sql", sql: uacSql }]);
});

/** The edge app with ADMIN_TOKEN set as `wrangler secret put` would. */
function call(path: string, init: RequestInit & { token?: string } = {}, secret: string | undefined = TOKEN): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token !== undefined) headers.set("Authorization", `Bearer ${init.token}`);
  const bindings: Env = { ...env, ...(secret === undefined ? {} : { ADMIN_TOKEN: secret }) };
  return Promise.resolve(app.request(`http://edge.test${path}`, { ...init, headers }, bindings));
}

describe("admin API authentication", () => {
  it("is closed (503) on every route when no ADMIN_TOKEN is configured, even with a token sent", async () => {
    for (const [method, path] of [
      ["POST", "/admin/import?table=subscriber"],
      ["GET", "/admin/location/alice@localhost"],
      ["DELETE", "/admin/location/alice@localhost"],
      ["GET", "/admin/subscribers"],
      ["POST", "/admin/subscribers"],
    ] as const) {
      const res = await exports.default.fetch(`http://edge.test${path}`, { method, headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(res.status, `${method} ${path}`).toBe(503);
    }
  });

  it("treats a token list of only blanks and commas as no token", async () => {
    expect((await call("/admin/subscribers", { token: "" }, " , ")).status).toBe(503);
  });

  it("answers 401 with a Bearer challenge without an Authorization header", async () => {
    const res = await call("/admin/subscribers");
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="sipedge admin"');
  });

  it("answers 401 invalid_token to a wrong token, a token prefix, and another scheme", async () => {
    for (const authorization of [`Bearer wrong`, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Basic ${btoa(`admin:${TOKEN}`)}`]) {
      const res = await call("/admin/subscribers", { headers: { Authorization: authorization } });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
    }
  });

  it("accepts the right token", async () => {
    expect((await call("/admin/subscribers", { token: TOKEN })).status).toBe(200);
  });

  it("accepts each of two comma-separated tokens while a secret rotates", async () => {
    const both = `${TOKEN}, ${NEXT_TOKEN}`;
    expect((await call("/admin/subscribers", { token: TOKEN }, both)).status).toBe(200);
    expect((await call("/admin/subscribers", { token: NEXT_TOKEN }, both)).status).toBe(200);
    expect((await call("/admin/subscribers", { token: NEXT_TOKEN }, TOKEN)).status).toBe(401);
  });
});

describe("POST /admin/import", () => {
  it("loads the seed's subscriber file and answers with the counts", async () => {
    const body = "username(str) password(str) ha1(str) domain(str) ha1b(str)\nsuser:supasswd:xxx:alpha.org:xxx\n";
    const res = await call("/admin/import?file=subscriber", { method: "POST", body, token: TOKEN });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ file: "subscriber", table: "subscriber", rows: 1, ignoredColumns: [] });
    const secrets = await new SubscriberCache(env.DB).lookup({ username: "suser", user: "suser", realm: "alpha.org" });
    expect(secrets).toMatchObject({ ha1: "e4dcaa1d83d76d9ce9dbc7226f2447b0", password: "supasswd" });
  });

  it("checks the seed's version file by ?table= (layouts sipedge maps), keeping the schema's own version rows", async () => {
    const res = await call("/admin/import?table=version", { method: "POST", body: "table_name(str) table_version(int)\nsubscriber:3\nlocation:6\naliases:6\n", token: TOKEN });
    expect(await res.json()).toMatchObject({ table: "version", rows: 3, statements: 0 });
    expect(await env.DB.prepare("SELECT table_version FROM version WHERE table_name = 'subscriber'").first("table_version")).toBe(7);
    const refused = await call("/admin/import?table=version", { method: "POST", body: "table_name(str) table_version(int)\nacc:7\n", token: TOKEN });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { file: "version", line: 2, field: "table_name" } });
  });

  it("loads a dispatcher.list named by its file", async () => {
    const res = await call("/admin/import?file=dispatcher.list", { method: "POST", body: "1 sip:127.0.0.1:7070 0 0\n1 sip:127.0.0.1:7072 0 0\n", token: TOKEN });
    expect(await res.json()).toMatchObject({ table: "dispatcher", format: "dispatcher.list", rows: 2 });
  });

  it("answers 400 naming file, line and field for a bad row", async () => {
    const res = await call("/admin/import?file=subscriber", { method: "POST", body: "username(str) domain(str) password(str)\nok:localhost:pw\nbad:localhost\n", token: TOKEN });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { file: "subscriber", line: 3, field: "row", reason: "2 values for 3 columns" } });
  });

  it("answers 400 for a file name that names no table", async () => {
    const res = await call("/admin/import?file=notes.txt", { method: "POST", body: "x(int)\n1\n", token: TOKEN });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { field: "table" } });
  });
});

describe("subscribers", () => {
  it("adds one subscriber and lists subscribers without their secrets", async () => {
    const add = await call("/admin/subscribers", { method: "POST", body: JSON.stringify({ username: "dave", password: "dave123" }), token: TOKEN });
    expect(add.status).toBe(201);
    expect(await add.json()).toEqual({ username: "dave", domain: "localhost", caches: { shards: 16, confirmed: 16 } });
    const res = await call("/admin/subscribers?limit=1000&domain=localhost", { token: TOKEN });
    const list = (await res.json()) as { subscribers: Record<string, unknown>[] };
    expect(list.subscribers).toContainEqual(expect.objectContaining({ username: "dave", domain: "localhost", hasPassword: true }));
    expect(JSON.stringify(list)).not.toContain("dave123");
  });

  it("pages with limit and after", async () => {
    for (const u of ["p1", "p2", "p3"]) await call("/admin/subscribers", { method: "POST", body: JSON.stringify({ username: u, domain: "page.test", password: "x" }), token: TOKEN });
    const first = (await (await call("/admin/subscribers?domain=page.test&limit=2", { token: TOKEN })).json()) as { subscribers: { username: string }[]; next: number };
    expect(first.subscribers.map((s) => s.username)).toEqual(["p1", "p2"]);
    const rest = (await (await call(`/admin/subscribers?domain=page.test&limit=2&after=${first.next}`, { token: TOKEN })).json()) as { subscribers: { username: string }[]; next: null };
    expect(rest).toMatchObject({ subscribers: [{ username: "p3" }], next: null });
  });

  it("refuses a subscriber without a password or HA1, naming the field", async () => {
    const res = await call("/admin/subscribers", { method: "POST", body: JSON.stringify({ username: "eve" }), token: TOKEN });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { field: "ha1" } });
  });
});

describe("location", () => {
  it("shows an AOR's bindings and removes them", async () => {
    const aor = "frank@localhost";
    await locationOf(env.LOCATION, aor).save({ aor, callId: "c1", cseq: 1, contacts: [{ uri: "sip:frank@127.0.0.5;transport=ws" }], flowToken: "f1" });
    const shown = (await (await call("/admin/location/sip:Frank@localhost", { token: TOKEN })).json()) as { aor: string; bindings: { contact: string }[] };
    expect(shown).toMatchObject({ aor, version: 1, bindings: [{ contact: "sip:frank@127.0.0.5;transport=ws", flowToken: "f1" }] });
    const removed = await call(`/admin/location/${encodeURIComponent(aor)}`, { method: "DELETE", token: TOKEN });
    expect(await removed.json()).toEqual({ removed: 1, version: 2 });
    expect(await locationOf(env.LOCATION, aor).lookup()).toMatchObject({ found: false });
  });
});

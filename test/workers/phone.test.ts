import initSql from "../../migrations/0001_init.sql?raw";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import app from "../../src/index.ts";
import { configFor } from "../../src/config.ts";
import type { Env } from "../../src/env.ts";
import { md5Hex } from "../../src/modules/auth/md5.ts";
import { turnCredentials } from "../../src/phone/ice.ts";
import { applyMigrations } from "../../src/provisioning/migrate.ts";

// The browser phone's settings (GET /phone/config) and its TURN credentials (POST /phone/turn):
// coturn's shared-secret scheme, handed out only to subscribers, wrong passwords counted like SIP
// digest failures.

const SECRET = "coturn-static-auth-secret";
const ICE = "stun:stun.example.test:3478,turn:turn.example.test:3478?transport=udp,turns:turn.example.test:5349";

beforeAll(async () => {
  await applyMigrations(env.DB, [{ name: "0001_init.sql", sql: initSql }]);
  await env.DB.prepare("INSERT OR REPLACE INTO subscriber (username, domain, password, ha1) VALUES (?, ?, ?, ?), (?, ?, '', ?)")
    .bind("dora", "localhost", "dora-pw", "", "erin", "localhost", md5Hex("erin:localhost:erin-pw"))
    .run();
});

function call(path: string, init: RequestInit = {}, vars: Partial<Env> = {}, ip = "198.51.100.20"): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("CF-Connecting-IP", ip);
  return Promise.resolve(app.request(`http://edge.test${path}`, { ...init, headers }, { ...env, ...vars }));
}

const basic = (user: string, password: string) => ({ Authorization: "Basic " + btoa(`${user}:${password}`) });

describe("GET /phone/config", () => {
  it("gives the domain and the STUN servers; says whether TURN is there, never a TURN credential", async () => {
    const res = await call("/phone/config", {}, { PHONE_ICE_SERVERS: ICE, TURN_SECRET: SECRET });
    expect(await res.json()).toEqual({ domain: "localhost", iceServers: [{ urls: ["stun:stun.example.test:3478"] }], turn: true });
    const none = await call("/phone/config");
    expect(await none.json()).toEqual({ domain: "localhost", iceServers: [], turn: false });
  });
});

describe("POST /phone/turn", () => {
  it("gives a subscriber TURN servers with coturn shared-secret credentials: <expiry>:<user>, base64 HMAC-SHA1", async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await call("/phone/turn", { method: "POST", headers: basic("dora", "dora-pw") }, { PHONE_ICE_SERVERS: ICE, TURN_SECRET: SECRET, TURN_TTL: "600" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { iceServers: { urls: string[]; username: string; credential: string }[]; ttl: number };
    const [server] = body.iceServers;
    expect(server?.urls).toEqual(["turn:turn.example.test:3478?transport=udp", "turns:turn.example.test:5349"]);
    const [expiry, user] = (server?.username ?? "").split(":");
    expect(user).toBe("dora");
    expect(Number(expiry) - before).toBeGreaterThanOrEqual(600);
    expect(Number(expiry) - before).toBeLessThanOrEqual(601);
    expect(server?.credential).toBe((await turnCredentials(SECRET, "dora", 600, (Number(expiry) - 600) * 1000)).credential);
    expect(body.ttl).toBe(600);
  });

  it("checks the password against the HA1 column when the subscriber has no plaintext password", async () => {
    const ok = await call("/phone/turn", { method: "POST", headers: basic("erin", "erin-pw") }, { PHONE_ICE_SERVERS: ICE, TURN_SECRET: SECRET });
    expect(ok.status).toBe(200);
    const wrong = await call("/phone/turn", { method: "POST", headers: basic("erin", "guess") }, { PHONE_ICE_SERVERS: ICE, TURN_SECRET: SECRET });
    expect(wrong.status).toBe(401);
  });

  it("refuses strangers (401 with a Basic challenge) and says 404 when no TURN is configured", async () => {
    const vars = { PHONE_ICE_SERVERS: ICE, TURN_SECRET: SECRET };
    const anonymous = await call("/phone/turn", { method: "POST" }, vars);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("WWW-Authenticate")).toBe('Basic realm="localhost"');
    expect((await call("/phone/turn", { method: "POST", headers: basic("nobody", "x") }, vars)).status).toBe(401);
    expect((await call("/phone/turn", { method: "POST", headers: { Authorization: "Basic !!!" } }, vars)).status).toBe(401);
    expect((await call("/phone/turn", { method: "POST", headers: basic("dora", "dora-pw") }, { PHONE_ICE_SERVERS: ICE })).status).toBe(404);
    expect((await call("/phone/turn", { method: "POST", headers: basic("dora", "dora-pw") }, { TURN_SECRET: SECRET })).status).toBe(404);
  });

  it("wrong passwords count towards the per-user-and-address block: then even the right one gets 403", async () => {
    // The Guard object counts with the deployment's AUTH_BLOCK_THRESHOLD (its own env).
    const threshold = configFor(env).security.authBlock.threshold;
    const vars = { PHONE_ICE_SERVERS: ICE, TURN_SECRET: SECRET };
    const ip = "203.0.113.77";
    for (let i = 0; i < threshold; i++) expect((await call("/phone/turn", { method: "POST", headers: basic("dora", `guess-${i}`) }, vars, ip)).status).toBe(401);
    const blocked = await call("/phone/turn", { method: "POST", headers: basic("dora", "dora-pw") }, vars, ip);
    expect(blocked.status).toBe(403);
    // Another address is not blocked by this one's guesses.
    expect((await call("/phone/turn", { method: "POST", headers: basic("dora", "dora-pw") }, vars, "203.0.113.78")).status).toBe(200);
  });
});

import initSql from "../../migrations/0001_init.sql?raw";
import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { ClientAttachment } from "../../durable-objects/connections.ts";
import type { KeepaliveSweep } from "../../durable-objects/keepalive.ts";
import type { Metrics } from "../../src/metrics/counters.ts";
import { computeHa1, computeResponse } from "../../src/modules/auth/index.ts";
import { applyMigrations } from "../../src/provisioning/migrate.ts";
import type { SqlDatabase } from "../../src/provisioning/db.ts";
import { subscriberRow, upsertSubscribers } from "../../src/provisioning/subscriber.ts";
import { readResponse } from "../helpers/sip-text.ts";

// The shard's keep-alive sweep in the Workers runtime: the shard's own sweep, run with its clock
// moved past the interval (as its alarm would run it), and the answer through the real shard.
// (What a woken object forgets is covered by the rules' unit tests, test/unit/transport.)
const USER = "ka-user";
/** The shipped timers (wrangler.toml), which this test's worker runs with. */
const config = { intervalMs: 30_000, timeoutMs: 10_000, idleMs: 60_000 };

beforeAll(async () => {
  await applyMigrations(env.DB, [{ name: "0001_init.sql", sql: initSql }]);
  const row = subscriberRow({ username: USER, password: "pw" }, "localhost");
  if (!row.ok) throw new Error(row.reason);
  const db: SqlDatabase = env.DB;
  await db.batch(upsertSubscribers(db, [row.row]));
});

async function openAndRegister(): Promise<{ ws: WebSocket; inbox: string[]; closed: Promise<number> }> {
  const res = await exports.default.fetch("http://edge.test/", { headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": "sip", "CF-Connecting-IP": "127.0.0.5" } });
  const ws = res.webSocket!;
  ws.accept();
  const inbox: string[] = [];
  const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e: CloseEvent) => resolve(e.code)));
  ws.addEventListener("message", (e: MessageEvent) => void inbox.push(String(e.data)));
  const register = (cseq: number, auth?: string) =>
    [`REGISTER sip:localhost SIP/2.0`, `Via: SIP/2.0/WS ka.invalid;branch=z9hG4bKka${cseq}`, "Max-Forwards: 70", `From: <sip:${USER}@localhost>;tag=k`, `To: <sip:${USER}@localhost>`,
      "Call-ID: ka-reg", `CSeq: ${cseq} REGISTER`, `Contact: <sip:${USER}@ka.invalid;transport=ws>`, ...(auth ? [auth] : []), "Content-Length: 0", "", ""].join("\r\n");
  ws.send(register(1));
  const challenge = readResponse(await next(inbox));
  const www = challenge.headers.get("www-authenticate")!.find((c) => c.includes("MD5"))!;
  const [realm, nonce] = [/realm="([^"]+)"/.exec(www)![1]!, /nonce="([^"]+)"/.exec(www)![1]!];
  const response = computeResponse({ algorithm: "MD5", ha1: computeHa1("MD5", USER, realm, "pw"), nonce, method: "REGISTER", uri: "sip:localhost", qop: "auth", nc: "00000001", cnonce: "c" });
  ws.send(register(2, `Authorization: Digest username="${USER}", realm="${realm}", nonce="${nonce}", uri="sip:localhost", response="${response}", algorithm=MD5, cnonce="c", qop=auth, nc=00000001`));
  expect(readResponse(await next(inbox)).status).toBe(200);
  return { ws, inbox, closed };
}

async function next(inbox: string[], ms = 3000): Promise<string> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 10))) {
    const m = inbox.shift();
    if (m !== undefined) return m;
  }
  throw new Error("no message");
}

const shards = () => [...Array(16).keys()].map((k) => env.SIP_CONNECTION.get(env.SIP_CONNECTION.idFromName(`shard-${k}`)));

async function ownerOfClient(): Promise<DurableObjectStub> {
  for (const stub of shards()) if ((await runInDurableObject(stub, (_i, state) => state.getWebSockets().length)) > 0) return stub;
  throw new Error("no shard holds the client");
}

/** One pass of the shard's own sweep at `now`; what it pinged and closed. */
function sweepAt(stub: DurableObjectStub, now: number): Promise<{ pings: number; closes: number }> {
  return runInDurableObject(stub, async (instance) => {
    const shard = instance as unknown as { keepalive: KeepaliveSweep; ops: { metrics: Metrics } };
    const count = () => [shard.ops.metrics.get("keepalivePings"), shard.ops.metrics.get("keepaliveCloses", "keepalive-timeout")] as const;
    const before = count();
    await shard.keepalive.sweep(now);
    const after = count();
    return { pings: after[0] - before[0], closes: after[1] - before[1] };
  });
}

describe("the keep-alive sweep of a shard that woke from hibernation", () => {
  it("pings a registered socket an interval after its last proof; the shard absorbs the 200 as the answer; a ping left unanswered closes the socket with 4408", async () => {
    const client = await openAndRegister();
    const owner = await ownerOfClient();
    const t1 = Date.now() + config.intervalMs + 1000;
    expect((await sweepAt(owner, t1)).pings).toBe(1);
    const ping = await next(client.inbox);
    expect(ping).toMatch(new RegExp(`^OPTIONS sip:${USER}@localhost SIP/2\\.0\\r\\n`));
    expect(ping).toContain("From: <sip:pinger@localhost>;tag=");
    const keep = ping.split("\r\n").filter((l) => /^(via|from|to|call-id|cseq):/i.test(l));
    client.ws.send(["SIP/2.0 200 OK", ...keep.map((l) => (/^to:/i.test(l) ? `${l};tag=ka` : l)), "Content-Length: 0", "", ""].join("\r\n"));
    // The real shard took the answer: the ping is cleared and the proof stored, in the attachment.
    let attachment: ClientAttachment | undefined;
    for (let i = 0; i < 50 && attachment?.provenAt === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      attachment = await runInDurableObject(owner, (_i, state) => state.getWebSockets()[0]!.deserializeAttachment() as ClientAttachment);
    }
    expect(attachment?.pingedAt).toBeUndefined();
    expect(attachment?.provenAt).toBeGreaterThan(0);
    // Within the interval after the answer: no ping. Past it: pinged, and without an answer closed.
    expect((await sweepAt(owner, attachment!.provenAt! + config.intervalMs - 1000)).pings).toBe(0);
    const t2 = attachment!.provenAt! + config.intervalMs + 1000;
    expect((await sweepAt(owner, t2)).pings).toBe(1);
    expect(await next(client.inbox)).toMatch(/^OPTIONS /);
    expect((await sweepAt(owner, t2 + config.timeoutMs - 1)).closes).toBe(0);
    expect((await sweepAt(owner, t2 + config.timeoutMs)).closes).toBe(1);
    expect(await client.closed).toBe(4408);
  });
});

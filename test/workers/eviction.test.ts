import initSql from "../../migrations/0001_init.sql?raw";
import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { TransactionStore } from "../../durable-objects/transaction-store.ts";
import { Alarms } from "../../durable-objects/alarms.ts";
import { createLogger } from "../../src/log.ts";
import { computeHa1, computeResponse } from "../../src/modules/auth/index.ts";
import { Tm } from "../../src/modules/tm/index.ts";
import { serialize } from "../../src/sip/serializer.ts";
import { systemTimers } from "../../src/sip/timers.ts";
import { WebSocketTransport } from "../../src/transport/websocket.ts";
import { applyMigrations } from "../../src/provisioning/migrate.ts";
import type { SqlDatabase } from "../../src/provisioning/db.ts";
import { subscriberRow, upsertSubscribers } from "../../src/provisioning/subscriber.ts";
import { readResponse } from "../helpers/sip-text.ts";

// Timer C must fire, and the caller get its 408, even when the shard that owns the INVITE was
// evicted while the callee was ringing (issue 3): a ringing transaction is stored with the
// object's alarm at its deadline, and an object that starts over that storage brings it back.

beforeAll(async () => {
  await applyMigrations(env.DB, [{ name: "0001_init.sql", sql: initSql }]);
  const rows = ["evic-a", "evic-b"].map((username) => {
    const row = subscriberRow({ username, password: "pw" }, "localhost");
    if (!row.ok) throw new Error(row.reason);
    return row.row;
  });
  const db: SqlDatabase = env.DB;
  await db.batch(upsertSubscribers(db, rows));
});

class Phone {
  private queue: string[] = [];
  private waiters: ((s: string) => void)[] = [];
  private seq = 1;
  nonce: { kind: string; realm: string; nonce: string } | undefined;
  constructor(
    readonly ws: WebSocket,
    readonly user: string,
  ) {
    ws.addEventListener("message", (e: MessageEvent) => {
      const text = String(e.data);
      const w = this.waiters.shift();
      if (w) w(text);
      else this.queue.push(text);
    });
  }
  static async open(user: string): Promise<Phone> {
    const res = await exports.default.fetch("http://edge.test/", { headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": "sip", "CF-Connecting-IP": "127.0.0.1" } });
    const ws = res.webSocket!;
    ws.accept();
    return new Phone(ws, user);
  }
  next(): Promise<string> {
    return this.queue.length ? Promise.resolve(this.queue.shift()!) : new Promise((r) => this.waiters.push(r));
  }
  /** Sends a request, answering one 401/407 with MD5 digest credentials; resolves the final answer. */
  async request(method: string, ruri: string, to: string, extra: string[] = [], callId = crypto.randomUUID()): Promise<{ final: string; callId: string }> {
    for (let attempt = 0; ; attempt++) {
      const cseq = this.seq++;
      const lines = [
        `${method} ${ruri} SIP/2.0`,
        `Via: SIP/2.0/WS ${this.user}.invalid;branch=z9hG4bK${crypto.randomUUID().replaceAll("-", "")}`,
        "Max-Forwards: 70",
        `From: <sip:${this.user}@localhost>;tag=${this.user}t`,
        `To: ${to}`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} ${method}`,
        `Contact: <sip:${this.user}@${this.user}.invalid;transport=ws>`,
        ...extra,
      ];
      if (this.nonce) {
        const ha1 = computeHa1("MD5", this.user, this.nonce.realm, "pw");
        const response = computeResponse({ algorithm: "MD5", ha1, nonce: this.nonce.nonce, method, uri: ruri, qop: "auth", nc: "00000001", cnonce: `c${cseq}` });
        lines.push(`${this.nonce.kind}: Digest username="${this.user}", realm="${this.nonce.realm}", nonce="${this.nonce.nonce}", uri="${ruri}", response="${response}", algorithm=MD5, cnonce="c${cseq}", qop=auth, nc=00000001`);
      }
      this.ws.send([...lines, "Content-Length: 0", "", ""].join("\r\n"));
      let answer = await this.next();
      while (readResponse(answer).status < 200) answer = await this.next();
      const res = readResponse(answer);
      if ((res.status === 401 || res.status === 407) && attempt === 0) {
        const challenge = (res.headers.get(res.status === 401 ? "www-authenticate" : "proxy-authenticate") ?? []).find((c) => c.includes("MD5"))!;
        this.nonce = { kind: res.status === 401 ? "Authorization" : "Proxy-Authorization", realm: /realm="([^"]+)"/.exec(challenge)![1]!, nonce: /nonce="([^"]+)"/.exec(challenge)![1]! };
        continue;
      }
      this.nonce = undefined;
      return { final: answer, callId };
    }
  }
}

const shards = () => [...Array(16).keys()].map((k) => env.SIP_CONNECTION.get(env.SIP_CONNECTION.idFromName(`shard-${k}`)));

describe("transactions outlive the eviction of their shard", () => {
  it("a ringing INVITE is stored with an alarm, and a fresh object over that storage still ends it with 408 from Timer C", async () => {
    const alice = await Phone.open("evic-a");
    const bob = await Phone.open("evic-b");
    expect(readResponse((await alice.request("REGISTER", "sip:localhost", "<sip:evic-a@localhost>")).final).status).toBe(200);
    expect(readResponse((await bob.request("REGISTER", "sip:localhost", "<sip:evic-b@localhost>")).final).status).toBe(200);

    // alice calls bob (answering the 407 first); bob rings and never answers.
    const callId = crypto.randomUUID();
    const cseq = 1;
    const invite = (auth: string[]) =>
      [
        "INVITE sip:evic-b@localhost SIP/2.0",
        `Via: SIP/2.0/WS a.invalid;branch=z9hG4bK${crypto.randomUUID().replaceAll("-", "")}`,
        "Max-Forwards: 70",
        "From: <sip:evic-a@localhost>;tag=at",
        "To: <sip:evic-b@localhost>",
        `Call-ID: ${callId}`,
        `CSeq: ${cseq + auth.length} INVITE`,
        "Contact: <sip:evic-a@a.invalid;transport=ws>",
        ...auth,
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n");
    alice.ws.send(invite([]));
    const challenge = readResponse(await alice.next());
    expect(challenge.status).toBe(407);
    const md5 = challenge.headers.get("proxy-authenticate")!.find((c) => c.includes("MD5"))!;
    const nonce = /nonce="([^"]+)"/.exec(md5)![1]!;
    const response = computeResponse({ algorithm: "MD5", ha1: computeHa1("MD5", "evic-a", "localhost", "pw"), nonce, method: "INVITE", uri: "sip:evic-b@localhost", qop: "auth", nc: "00000001", cnonce: "x" });
    alice.ws.send(invite([`Proxy-Authorization: Digest username="evic-a", realm="localhost", nonce="${nonce}", uri="sip:evic-b@localhost", response="${response}", algorithm=MD5, cnonce="x", qop=auth, nc=00000001`]));
    const ringing = await bob.next();
    expect(ringing.startsWith("INVITE ")).toBe(true);
    const via = ringing.split("\r\n").filter((l) => l.startsWith("Via:"));
    const header = (name: string) => ringing.split("\r\n").find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ":"))!;
    bob.ws.send(["SIP/2.0 180 Ringing", ...via, header("From"), `${header("To")};tag=bt`, header("Call-ID"), header("CSeq"), "Content-Length: 0", "", ""].join("\r\n"));
    expect(readResponse(await alice.next()).status).toBe(100);
    expect(readResponse(await alice.next()).status).toBe(180);

    // After PERSIST_AFTER_MS the ringing transaction is in its shard's storage with an alarm.
    await new Promise((r) => setTimeout(r, 2500));
    let owner: DurableObjectStub | undefined;
    for (const stub of shards()) {
      const [stored, alarm] = await runInDurableObject(stub, async (_i, state) => [(await state.storage.list({ prefix: "tx:" })).size, await state.storage.getAlarm()] as const);
      if (stored > 0) {
        owner = stub;
        expect(alarm).not.toBeNull();
      }
    }
    expect(owner).toBeDefined();

    // A fresh object over the same storage — what the shard is after an eviction — restores the
    // transaction with the caller's socket; with its clock at the deadline, Timer C fires at once:
    // CANCEL to bob's branch, 408 to alice, and the stored copy goes.
    const restored = await runInDurableObject(owner!, async (_instance, state) => {
      const sent: string[] = [];
      const later = { now: () => Date.now() + 200_000 };
      let forgotten = (_id: string): void => undefined;
      const tm = new Tm({ ownerId: "x", sentBy: { transport: "WS", host: "localhost" }, sendRequest: (r) => void sent.push(serialize(r)), timers: systemTimers, clock: later, frInvTimer: 180_000, onForget: (id) => forgotten(id) });
      const store = new TransactionStore(state, tm, (flow) => {
        const ws = state.getWebSockets(`conn:${flow}`)[0];
        return ws && new WebSocketTransport(ws);
      }, new Alarms(state.storage), createLogger("error"));
      forgotten = (id) => store.forgotten(id);
      const count = await store.restore();
      await new Promise((r) => setTimeout(r, 50));
      return { count, sent, left: (await state.storage.list({ prefix: "tx:" })).size };
    });
    expect(restored.count).toBe(1);
    expect(readResponse(await alice.next()).status).toBe(408);
    expect(restored.sent.some((m) => m.startsWith("CANCEL "))).toBe(true);
    expect(restored.left).toBe(0);
    alice.ws.close(1000);
    bob.ws.close(1000);
  }, 20_000);
});

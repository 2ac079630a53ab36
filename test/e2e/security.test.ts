// Issue 5 end to end: pike + ipban against a flood while an honest client keeps working, the
// excessive-REGISTER block, and a reconnect storm that must not be banned. Every client that must
// look like its own host binds its own loopback address (DESIGN.md §6); 127.0.0.1 is the proxy
// itself (SIP_ALIASES) and is never counted, as the seed's `src_ip != myself`.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../scripts/stack.mjs";
import { SipUa, header, type SipMessage } from "../helpers/sip-ua.ts";
import { WsSipClient } from "../helpers/ws-client.ts";

const TOKEN = "security-e2e-token";
const PASSWORD = "pw"; // seeded users user0000..user0999 (src/provisioning/seed.ts)

/** A 200 to an INVITE as a UAS writes it (RFC 3261 §8.2.6.2). */
function answer(request: SipMessage, toTag: string): string {
  const lines = ["SIP/2.0 200 OK"];
  for (const via of request.headers.get("via") ?? []) lines.push(`Via: ${via}`);
  for (const rr of request.headers.get("record-route") ?? []) lines.push(`Record-Route: ${rr}`);
  lines.push(`From: ${header(request, "from")}`, `To: ${header(request, "to")};tag=${toTag}`);
  lines.push(`Call-ID: ${header(request, "call-id")}`, `CSeq: ${header(request, "cseq")}`, "Contact: <sip:callee@127.0.0.4;transport=ws>", "Content-Length: 0", "", "");
  return lines.join("\r\n");
}

function options(n: number): string {
  return [
    "OPTIONS sip:127.0.0.1 SIP/2.0",
    `Via: SIP/2.0/WS flood.invalid;branch=z9hG4bKflood${n}`,
    "Max-Forwards: 70",
    "From: <sip:flood@example.com>;tag=f",
    "To: <sip:127.0.0.1>",
    `Call-ID: flood-${n}`,
    `CSeq: ${n} OPTIONS`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function refusedStatus(stack: Stack, localAddress: string): Promise<string> {
  return WsSipClient.open(stack.wsUrl, { localAddress }).then(
    async (c) => {
      await c.close();
      return "accepted";
    },
    (err: Error) => err.message,
  );
}

/** An upgrade retried for up to 3 s: a close reaches the Guard asynchronously (shard → Guard). */
async function openSoon(stack: Stack, localAddress: string): Promise<WsSipClient> {
  const until = Date.now() + 3000;
  for (;;) {
    try {
      return await WsSipClient.open(stack.wsUrl, { localAddress });
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(100);
    }
  }
}

describe("pike and ipban with the seed's settings (16 requests per 2 s)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ port: 0, build: false, vars: { ADMIN_TOKEN: TOKEN, LOG_LEVEL: "error" } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("an OPTIONS flood from 127.0.0.2 is banned within 2 s while 127.0.0.3 keeps registering and calling", async () => {
    const callee = await SipUa.connect(stack.wsUrl, { user: "user0901", password: PASSWORD, localAddress: "127.0.0.4" });
    expect((await callee.register()).response.status).toBe(200);
    let answering = true;
    void (async () => {
      while (answering) {
        const invite = await callee.nextRequest("INVITE", 60_000).catch(() => undefined);
        if (invite) callee.send(answer(invite, `t${Date.now()}`));
      }
    })();
    const honest = await SipUa.connect(stack.wsUrl, { user: "user0900", password: PASSWORD, localAddress: "127.0.0.3" });
    expect((await honest.register()).response.status).toBe(200);

    const flooder = await WsSipClient.open(stack.wsUrl, { localAddress: "127.0.0.2" });
    const started = Date.now();
    let sent = 0;
    let closedAt = 0;
    void flooder.closed.then(() => (closedAt = Date.now()));
    // ~400 requests per second, in bursts of two every 5 ms.
    const flood = setInterval(() => {
      if (flooder.ws.readyState !== flooder.ws.OPEN) return;
      flooder.send(options(++sent));
      flooder.send(options(++sent));
    }, 5);

    let ok = 0;
    let total = 0;
    // One register + call cycle per second (four requests: each is challenged once), a busy
    // softphone's pace and well under the seed's 16 requests per 2 s.
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      const cycle = Date.now();
      total++;
      const reg = await honest.register().catch(() => undefined);
      const call = await honest.invite(`sip:${callee.aor}`).catch(() => undefined);
      if (reg?.response.status === 200 && call?.response.status === 200) ok++;
      await sleep(Math.max(0, 1000 - (Date.now() - cycle)));
    }
    clearInterval(flood);
    answering = false;

    const timeToBan = closedAt - started;
    console.log(`time-to-ban ${timeToBan} ms after ${sent} flood requests; honest client ${ok}/${total} register+call cycles succeeded`);
    expect(closedAt).toBeGreaterThan(0);
    expect(timeToBan).toBeLessThan(2000);
    expect(ok / total).toBeGreaterThanOrEqual(0.9);
    // A banned address cannot even open a WebSocket; its neighbour can.
    expect(await refusedStatus(stack, "127.0.0.2")).toBe("upgrade refused: 403");
    expect(await refusedStatus(stack, "127.0.0.3")).toBe("accepted");
    const guard = (await (await fetch(`${stack.url}/admin/guard/127.0.0.2`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { bannedUntil?: number };
    expect(guard.bannedUntil).toBeGreaterThan(Date.now());
    await Promise.all([honest.close(), callee.close()]);
  });

  it("the admin API lifts a ban", async () => {
    const res = await fetch(`${stack.url}/admin/ipban/127.0.0.2`, { method: "DELETE", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await refusedStatus(stack, "127.0.0.2")).toBe("accepted");
  });

  it("1,000 clients from distinct addresses reconnecting and re-registering within 10 s are not banned", async () => {
    const addressOf = (i: number) => `127.0.${10 + Math.floor(i / 250)}.${1 + (i % 250)}`;
    /** Connects and registers clients 0..999, 100 at a time; every outcome is kept. */
    const wave = async (): Promise<{ ms: number; clients: SipUa[]; failures: string[] }> => {
      const started = Date.now();
      const clients: SipUa[] = [];
      const failures: string[] = [];
      const one = async (i: number) => {
        const user = `user${String(i).padStart(4, "0")}`;
        try {
          const ua = await SipUa.connect(stack.wsUrl, { user, password: PASSWORD, localAddress: addressOf(i) });
          clients.push(ua);
          const { response } = await ua.register();
          if (response.status !== 200) failures.push(`${user}: ${response.status} ${response.reason}`);
        } catch (err) {
          failures.push(`${user}: ${(err as Error).message}`);
        }
      };
      // 100 at a time: how a deploy's reconnect wave arrives (clients back off with jitter).
      let next = 0;
      await Promise.all(Array.from({ length: 100 }, async () => {
        while (next < 1000) await one(next++);
      }));
      return { ms: Date.now() - started, clients, failures };
    };
    // Before the deploy: every client registered once (this creates their Location objects).
    const before = await wave();
    expect(before.failures).toEqual([]);
    // The deploy drops every socket at once; all 1,000 come back and register again.
    await Promise.all(before.clients.map((c) => c.terminate()));
    const storm = await wave();
    console.log(`reconnect storm: 1000 reconnects + re-registrations in ${storm.ms} ms (first registration wave: ${before.ms} ms)`);
    expect(storm.failures).toEqual([]);
    expect(storm.ms).toBeLessThan(10_000);
    // Nobody was banned: no Guard holds a ban for any of the addresses (sampled across the range).
    for (const i of [0, 249, 250, 500, 999]) {
      const guard = (await (await fetch(`${stack.url}/admin/guard/${addressOf(i)}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { bannedUntil?: number };
      expect(guard.bannedUntil).toBeUndefined();
    }
    await Promise.all(storm.clients.map((c) => c.terminate()));
  }, 120_000);

  it("a cap on concurrent connections per address refuses the extra ones with 429", async () => {
    const capped = await startStack({ port: 0, build: false, vars: { MAX_CONNECTIONS_PER_ADDRESS: "3", LOG_LEVEL: "error" } });
    try {
      const open = await Promise.all([1, 2, 3].map(() => WsSipClient.open(capped.wsUrl, { localAddress: "127.0.0.7" })));
      expect(await refusedStatus(capped, "127.0.0.7")).toBe("upgrade refused: 429");
      expect(await refusedStatus(capped, "127.0.0.8")).toBe("accepted");
      await (open[0] as WsSipClient).close();
      const replaced = await openSoon(capped, "127.0.0.7");
      expect(await refusedStatus(capped, "127.0.0.7")).toBe("upgrade refused: 429");
      await Promise.all([replaced, ...open.slice(1)].map((c) => c.close()));
    } finally {
      await capped.stop();
    }
  });

  it("a cap larger than the shard count holds across shards (each shard counts its share alone)", async () => {
    // 4 shards, cap 20: a shard answers alone up to 5 sockets of an address, then asks its Guard.
    const capped = await startStack({ port: 0, build: false, vars: { MAX_CONNECTIONS_PER_ADDRESS: "20", CONNECTION_SHARDS: "4", LOG_LEVEL: "error" } });
    try {
      const open: WsSipClient[] = [];
      for (let i = 0; i < 20; i++) open.push(await WsSipClient.open(capped.wsUrl, { localAddress: "127.0.0.7" }));
      expect(await refusedStatus(capped, "127.0.0.7")).toBe("upgrade refused: 429");
      expect(await refusedStatus(capped, "127.0.0.7")).toBe("upgrade refused: 429");
      await Promise.all(open.splice(0, 5).map((c) => c.close()));
      const again: WsSipClient[] = [];
      for (let i = 0; i < 5; i++) again.push(await openSoon(capped, "127.0.0.7"));
      expect(await refusedStatus(capped, "127.0.0.7")).toBe("upgrade refused: 429");
      await Promise.all([...open, ...again].map((c) => c.close()));
    } finally {
      await capped.stop();
    }
  });
});

describe("the excessive-REGISTER block (pike off, 4 s block)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ port: 0, build: false, vars: { PIKE_DENSITY: "0", AUTH_BLOCK_TIME: "4", LOG_LEVEL: "error" } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("40 wrong passwords block the user from that address with 403, even with the right password, until the block expires", async () => {
    const attacker = await SipUa.connect(stack.wsUrl, { user: "user0800", password: PASSWORD, localAddress: "127.0.0.5" });
    const answers: string[] = [];
    for (let i = 0; i < 40; i++) {
      const { response } = await attacker.register({ password: `guess${i}` });
      answers.push(`${response.status} ${response.reason}`);
    }
    expect(answers[0]).toBe("401 Unauthorized");
    expect(answers).toContain("403 Blocked Forbidden");
    expect(answers.at(-1)).toBe("403 Already Blocked Forbidden");
    // The right password changes nothing during the block, on this flow or a new one.
    expect((await attacker.register()).response.reason).toBe("Already Blocked Forbidden");
    const again = await SipUa.connect(stack.wsUrl, { user: "user0800", password: PASSWORD, localAddress: "127.0.0.5" });
    expect((await again.register()).response.reason).toBe("Already Blocked Forbidden");
    // Other users at that address, and the same user elsewhere, are not affected.
    const neighbour = await SipUa.connect(stack.wsUrl, { user: "user0801", password: PASSWORD, localAddress: "127.0.0.5" });
    expect((await neighbour.register()).response.status).toBe(200);
    const elsewhere = await SipUa.connect(stack.wsUrl, { user: "user0800", password: PASSWORD, localAddress: "127.0.0.6" });
    expect((await elsewhere.register()).response.status).toBe(200);
    // The block expires.
    await sleep(4200);
    const later = await SipUa.connect(stack.wsUrl, { user: "user0800", password: PASSWORD, localAddress: "127.0.0.5" });
    expect((await later.register()).response.status).toBe(200);
    await Promise.all([attacker, again, neighbour, elsewhere, later].map((c) => c.close()));
  }, 30_000);

  it("unknown users and wrong passwords get the same challenge (no user enumeration)", async () => {
    const known = await SipUa.connect(stack.wsUrl, { user: "user0802", password: "wrong", localAddress: "127.0.0.9" });
    const unknown = await SipUa.connect(stack.wsUrl, { user: "nobody-here", password: "wrong", localAddress: "127.0.0.9" });
    const a = (await known.register()).response;
    const b = (await unknown.register()).response;
    expect([a.status, a.reason]).toEqual([401, "Unauthorized"]);
    expect([b.status, b.reason]).toEqual([401, "Unauthorized"]);
    const shape = (m: SipMessage) => [...m.headers.keys()].sort();
    expect(shape(a)).toEqual(shape(b));
    await Promise.all([known.close(), unknown.close()]);
  });
});

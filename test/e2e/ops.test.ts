// Operations end to end (issue 13) on a deployment-shaped stack (test/helpers/topology.ts):
// /metrics read with an npm Prometheus parser as real traffic moves its counters, the bridge's own
// /metrics, the sipedge CLI against the running edge (bad tokens and bad input included), and
// call records (acc) for calls made through the bridge to sipp gateways.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SipUa, header } from "../helpers/sip-ua.ts";
import { hangUp } from "../helpers/sipp.ts";
import { JssipPhone } from "../helpers/softphone.ts";
import { scrape, sipedgeCli, type Scrape } from "../helpers/ops.ts";
import { BRIDGE_HTTP, DOMAIN, GATEWAYS, startTopology, type Topology } from "../helpers/topology.ts";

const TOKEN = randomBytes(18).toString("hex");
const NUMBER = `sip:15551234567@${DOMAIN}`;
/** ds_ping_interval 1 s, probe timeout 1 s: a state change shows within a few seconds. */
const VARS = { DS_PING_INTERVAL: "1", DS_PROBE_TIMEOUT: "1", AUTH_BLOCK_THRESHOLD: "3" };

let topo: Topology;
const cli = (args: string[], token: string | null = TOKEN) => sipedgeCli([...args, "--url", topo.stack.url], token);
const metrics = (): Promise<Scrape> => scrape(`${topo.stack.url}/metrics`, TOKEN);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  // 127.0.0.22 answers 500: the failure route moves such calls to the next gateway.
  topo = await startTopology({ token: TOKEN, users: ["alice", "bob", "carol", "dave"], vars: VARS, scenarios: { [GATEWAYS[2]]: "uas-500.xml" } });
});

afterAll(async () => {
  await topo?.stop();
});

describe("credentials", () => {
  it("/metrics, the admin API and the dashboard's event stream refuse a request without credentials", async () => {
    const url = topo.stack.url;
    const bare = await fetch(`${url}/metrics`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const wrong = await fetch(`${url}/metrics`, { headers: { Authorization: "Bearer not-the-token" } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect((await fetch(`${url}/admin/stats`)).status).toBe(401);
    expect((await fetch(`${url}/dashboard/events`)).status).toBe(401);
    const login = await fetch(`${url}/dashboard/login`, { method: "POST", body: new URLSearchParams({ token: "wrong" }), redirect: "manual" });
    expect(login.status).toBe(401);
    expect(login.headers.get("set-cookie")).toBeNull();
  });
});

describe("metrics", () => {
  it("a scrape parses as Prometheus text and its counters move when a JsSIP client registers", async () => {
    const before = await metrics();
    expect(before.contentType).toContain("text/plain; version=0.0.4");
    expect(before.family("sipedge_requests_received_total")?.type).toBe("COUNTER");
    expect(before.sum("sipedge_shards")).toBe(4);
    const phone = await JssipPhone.start({ wsUrl: topo.stack.wsUrl, username: "alice", password: "alice-pw", domain: DOMAIN });
    try {
      await phone.register();
      const after = await metrics();
      expect(after.sum("sipedge_requests_received_total", { method: "REGISTER" }) - before.sum("sipedge_requests_received_total", { method: "REGISTER" })).toBeGreaterThanOrEqual(2);
      expect(after.sum("sipedge_registrar_replies_total", { result: "accepted" }) - before.sum("sipedge_registrar_replies_total", { result: "accepted" })).toBe(1);
      expect(after.sum("sipedge_registrar_replies_total", { result: "challenged" })).toBeGreaterThanOrEqual(1);
      expect(after.sum("sipedge_replies_sent_total", { class: "2xx" })).toBeGreaterThan(before.sum("sipedge_replies_sent_total", { class: "2xx" }));
      expect(after.sum("sipedge_connections")).toBeGreaterThanOrEqual(1);
      // The registration index is written after the REGISTER is answered.
      await expect.poll(async () => (await metrics()).sum("sipedge_registrations"), { timeout: 5000 }).toBe(1);
      // What the storage bill is made of: the Location object's rows (its binding, version, the
      // expiry alarm: at least 3) and the index's (3 for a new AOR's binding), as billed.
      const rows = async (store: string) => (await metrics()).sum("sipedge_storage_rows_written_total", { store }) - before.sum("sipedge_storage_rows_written_total", { store });
      expect(await rows("location")).toBeGreaterThanOrEqual(3);
      // Counted when D1's answer reaches the shard, a moment after the index shows the row.
      await expect.poll(() => rows("location_index"), { timeout: 5000 }).toBe(3);
      const dump = await cli(["ul", "dump"]);
      expect(dump.code, dump.stderr).toBe(0);
      expect(dump.stdout).toMatch(new RegExp(`^alice@${DOMAIN.replace(/\./g, "\\.")}\\s+sip:\\S+\\s+in \\d+ s\\s+.*JsSIP`, "m"));
      const show = await cli(["ul", "show", `alice@${DOMAIN}`, "--json"]);
      expect(JSON.parse(show.stdout).bindings[0].userAgent).toMatch(/JsSIP/);
    } finally {
      await phone.stop();
    }
    // The flow closed: its binding goes (handle_lost_tcp), and the index follows.
    await expect.poll(async () => (await cli(["ul", "dump", "--json"])).stdout, { timeout: 5000 }).toContain('"aors": []');
  });

  it("dispatcher destinations are reported with state and keepalive latency, and the CLI lists them", async () => {
    await expect.poll(async () => (await metrics()).sum("sipedge_dispatcher_destination_up"), { timeout: 10_000 }).toBe(3);
    await expect.poll(async () => (await metrics()).sum("sipedge_dispatcher_keepalives_total", { destination: `sip:${GATEWAYS[0]}:5060` }), { timeout: 10_000 }).toBeGreaterThan(0);
    const m = await metrics();
    for (const ip of GATEWAYS) {
      const labels = { setid: "1", destination: `sip:${ip}:5060` };
      expect(m.value("sipedge_dispatcher_destination_state", { ...labels, state: "active" })).toBe(1);
      expect(m.value("sipedge_dispatcher_latency_ewma_ms", labels)).toBeGreaterThanOrEqual(0);
      expect(m.value("sipedge_dispatcher_latency_last_ms", labels)).toBeGreaterThanOrEqual(0);
    }
    expect(m.value("sipedge_bridge_links_up", { bridge: "local" })).toBe(4);
    const list = await cli(["ds", "list"]);
    expect(list.code, list.stderr).toBe(0);
    for (const ip of GATEWAYS) expect(list.stdout).toMatch(new RegExp(`^1\\s+sip:${ip.replace(/\./g, "\\.")}:5060\\s+A[PX]\\s+active\\s+0\\s+[\\d.]+/[\\d.]+/[\\d.]+ ms`, "m"));
  });

  it("the bridge serves its own /metrics and /health, and its datagram counters move", async () => {
    const health = await fetch(`http://${BRIDGE_HTTP}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", linksUp: 4, links: 4 });
    const first = await scrape(`http://${BRIDGE_HTTP}/metrics`);
    await sleep(1500); // at least one keepalive round (ds_ping_interval 1 s)
    const second = await scrape(`http://${BRIDGE_HTTP}/metrics`);
    expect(second.value("sipedge_bridge_datagrams_total", { direction: "received" })).toBeGreaterThan(first.value("sipedge_bridge_datagrams_total", { direction: "received" }) ?? 0);
    expect(second.value("sipedge_bridge_datagrams_total", { direction: "sent" })).toBeGreaterThan(0);
    expect(second.value("sipedge_bridge_links_up", {})).toBe(4);
    expect(second.family("sipedge_bridge_retransmissions_total")?.type).toBe("COUNTER");
    expect(second.family("sipedge_bridge_link_reconnects_total")?.metrics[0]?.value).toBe("0");
  });
});

describe("call records (acc)", () => {
  it("a call through the bridge appears with its status, gateway, duration and hang-up side; a failover shows both branches", async () => {
    const ua = await SipUa.connect(topo.stack.wsUrl, { user: "bob", password: "bob-pw", domain: DOMAIN, localAddress: "127.0.0.31" });
    const before = await metrics();
    const answered: { callId: string; heldMs: number }[] = [];
    try {
      // Round robin over three gateways, one of which answers 500: three calls, all completed,
      // one of them after a failover branch.
      for (let i = 0; i < 3; i++) {
        const call = await ua.invite(NUMBER);
        expect(call.response.status).toBe(200);
        const held = 1200 + 400 * i;
        const answeredAt = Date.now();
        await sleep(held);
        const bye = await hangUp(ua, call.response, call.cseq);
        expect(bye.status).toBe(200);
        answered.push({ callId: header(call.response, "call-id") as string, heldMs: Date.now() - answeredAt });
      }
    } finally {
      await ua.close();
    }
    type Acc = {
      attempts: { callId: string; status: number; caller: string; callee: string; gateway: string; branches: { dst: string; status: number }[] }[];
      calls: { callId: string; status: number; caller: string; callee: string; gateway: string; duration?: number; hangup?: string; answer: string; end?: string }[];
    };
    const fetchAcc = async (): Promise<Acc> => {
      const res = await fetch(`${topo.stack.url}/admin/acc?since=${Date.now() - 120_000}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      return (await res.json()) as Acc;
    };
    // Records are batched (at most 1 s in the shard's buffer).
    await expect.poll(async () => (await fetchAcc()).calls.filter((c) => c.end !== undefined).length, { timeout: 5000 }).toBeGreaterThanOrEqual(3);
    const acc = await fetchAcc();
    for (const a of answered) {
      const call = acc.calls.find((c) => c.callId === a.callId);
      expect(call, a.callId).toBeDefined();
      expect(call).toMatchObject({ status: 200, caller: "bob", callee: "15551234567", hangup: "caller" });
      expect(call?.gateway).toMatch(/^127\.0\.0\.2[01]:5060$/);
      // The edge's answer and hang-up times versus the caller's: within the message transit.
      expect(Math.abs((call?.duration ?? 0) * 1000 - a.heldMs), JSON.stringify(call)).toBeLessThan(300);
    }
    const failover = acc.attempts.find((t) => answered.some((a) => a.callId === t.callId) && t.branches.length === 2);
    expect(failover, JSON.stringify(acc.attempts)).toBeDefined();
    expect(failover?.branches.map((b) => [b.dst, b.status])).toEqual([
      [`${GATEWAYS[2]}:5060`, 500],
      [expect.stringMatching(/^127\.0\.0\.2[01]:5060$/), 200],
    ]);
    const after = await metrics();
    expect(after.sum("sipedge_acc_records_total", { method: "INVITE" }) - before.sum("sipedge_acc_records_total", { method: "INVITE" })).toBe(3);
    expect(after.sum("sipedge_acc_records_total", { method: "BYE" }) - before.sum("sipedge_acc_records_total", { method: "BYE" })).toBe(3);
    // As D1 bills them: 3 rows per INVITE record, 2 per BYE record, and AUTOINCREMENT's counter
    // once per batch (the six records reach D1 in one to six batches).
    const accRows = after.sum("sipedge_storage_rows_written_total", { store: "acc" }) - before.sum("sipedge_storage_rows_written_total", { store: "acc" });
    expect(accRows).toBeGreaterThanOrEqual(3 * 3 + 3 * 2 + 1);
    expect(accRows).toBeLessThanOrEqual(3 * 3 + 3 * 2 + 6);
    // Three INVITEs and one challenged first try (the UA reuses its nonce afterwards).
    expect(after.sum("sipedge_requests_received_total", { method: "INVITE" }) - before.sum("sipedge_requests_received_total", { method: "INVITE" })).toBe(4);
    // The same calls as CSV through the CLI.
    const csv = await cli(["acc", "export", "--csv", "--since", new Date(Date.now() - 120_000).toISOString()]);
    expect(csv.code, csv.stderr).toBe(0);
    const lines = csv.stdout.trim().split(/\r?\n/);
    expect(lines[0]).toBe("callId,caller,callee,start,answer,end,duration,status,gateway,hangup");
    for (const a of answered) expect(lines.some((l) => l.startsWith(`${a.callId},bob,15551234567,`) && l.endsWith(",caller"))).toBe(true);
  });

  it("an attempt that fails authentication is not recorded; an authenticated one to an unknown user is", async () => {
    const ua = await SipUa.connect(topo.stack.wsUrl, { user: "carol", password: "carol-pw", domain: DOMAIN, localAddress: "127.0.0.32" });
    try {
      const call = await ua.invite(`sip:nobody@${DOMAIN}`);
      expect(call.response.status).toBe(404);
      const callId = header(call.response, "call-id");
      await expect
        .poll(async () => {
          const res = await fetch(`${topo.stack.url}/admin/acc?since=${Date.now() - 60_000}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
          return ((await res.json()) as { attempts: { callId: string; status: number; caller: string }[] }).attempts.find((a) => a.callId === callId);
        }, { timeout: 5000 })
        .toMatchObject({ status: 404, caller: "carol" });
    } finally {
      await ua.close();
    }
  });
});

describe("CLI", () => {
  it("subscriber add, passwd and rm, refusing a duplicate and a missing account", async () => {
    const add = await cli(["subscriber", "add", "erin", "first-pw"]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain(`added erin@${DOMAIN}`);
    const again = await cli(["subscriber", "add", "erin", "other"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("exists already");
    expect((await cli(["subscriber", "passwd", "erin", "second-pw"])).code).toBe(0);
    // The new password works, the old one does not.
    const ua = await SipUa.connect(topo.stack.wsUrl, { user: "erin", password: "second-pw", domain: DOMAIN, localAddress: "127.0.0.33" });
    expect((await ua.register()).response.status).toBe(200);
    await ua.close();
    const missing = await cli(["subscriber", "passwd", "nobody", "x"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no subscriber nobody@${DOMAIN}`);
    expect((await cli(["subscriber", "rm", "erin"])).code).toBe(0);
    expect((await cli(["subscriber", "rm", "erin"])).code).toBe(1);
  });

  it("bad input exits 2 with a message; a refused token exits 4; an unreachable edge exits 3", async () => {
    const state = await cli(["ds", "set-state", "sideways", "1", `sip:${GATEWAYS[0]}:5060`]);
    expect(state.code).toBe(2);
    expect(state.stderr).toMatch(/unknown state "sideways"/);
    const aor = await cli(["ul", "show", "not-an-aor"]);
    expect(aor.code).toBe(2);
    expect(aor.stderr).toMatch(/not an AOR/);
    expect((await cli(["ul"])).stderr).toMatch(/no subcommand; one of dump, show, rm/);
    expect((await cli(["frobnicate"])).code).toBe(2);
    expect((await cli(["ban", "rm", "300.1.2"])).code).toBe(2);
    const unknownDst = await cli(["ds", "set-state", "i", "1", "sip:192.0.2.99:5060"]);
    expect(unknownDst.code).toBe(1);
    expect(unknownDst.stderr).toMatch(/404: uri: no such destination/);
    const token = await cli(["stats"], "wrong-token");
    expect(token.code).toBe(4);
    expect(token.stderr).toMatch(/refused the token in SIPEDGE_ADMIN_TOKEN \(401/);
    expect((await cli(["stats"], null)).code).toBe(2);
    const down = await sipedgeCli(["stats", "--url", "http://127.0.0.8:65000"], TOKEN);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.8:65000 \(ECONNREFUSED\)/);
  });

  it("stats, htable dump and ban list/rm: a flooding address is banned, shown and lifted", async () => {
    // A client on its own address floods OPTIONS past the pike density (16 per 2 s).
    const flooder = await SipUa.connect(topo.stack.wsUrl, { user: "dave", password: "dave-pw", domain: DOMAIN, localAddress: "127.0.0.40" });
    for (let i = 0; i < 60; i++) flooder.send(`OPTIONS sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/WS f.invalid;branch=z9hG4bK${i}x${randomBytes(4).toString("hex")}\r\nMax-Forwards: 70\r\nFrom: <sip:dave@${DOMAIN}>;tag=f${i}\r\nTo: <sip:${DOMAIN}>\r\nCall-ID: flood-${i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
    await flooder.closed;
    await expect.poll(async () => (await cli(["ban", "list"])).stdout, { timeout: 5000 }).toMatch(/^127\.0\.0\.40\s+in \d+ s$/m);
    const htable = await cli(["htable", "dump", "ipban", "--json"]);
    expect(JSON.parse(htable.stdout).ipban.map((e: { key: string }) => e.key)).toContain("127.0.0.40");
    const m = await metrics();
    expect(m.sum("sipedge_ipbans_active")).toBe(1);
    expect(m.sum("sipedge_ipban_set_total")).toBeGreaterThanOrEqual(1);
    const stats = await cli(["stats"]);
    expect(stats.stdout).toMatch(/^ipbans\s+1$/m);
    expect(stats.stdout).toMatch(/^sipedge_requests_received_total\{OPTIONS\}\s+\d+$/m);
    // A ban reaches a shard with its next directory refresh, as a lift does (below): a socket
    // opened at once may still meet a shard's copy from before the ban, so retry until refused.
    const refusedBy = Date.now() + 3000;
    for (;;) {
      const outcome = await SipUa.connect(topo.stack.wsUrl, { user: "dave", password: "dave-pw", domain: DOMAIN, localAddress: "127.0.0.40" }).then(
        async (ua) => {
          await ua.close();
          return "accepted";
        },
        (err: Error) => err.message,
      );
      if (/403/.test(outcome)) break;
      if (Date.now() > refusedBy) throw new Error(`a banned address was still admitted 3 s after the ban: ${outcome}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const rm = await cli(["ban", "rm", "127.0.0.40"]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toContain("ban of 127.0.0.40 lifted");
    await expect.poll(async () => (await cli(["ban", "list", "--json"])).stdout, { timeout: 5000 }).toContain('"ipban": []');
    // A lift reaches a shard with its next directory refresh: within about a second of the
    // change, and no shard admits with a copy older than 2 s (README: Security), so a reconnect
    // at once may still meet the shard's copy from before the lift.
    const liftedBy = Date.now() + 3000;
    let back: SipUa | undefined;
    while (back === undefined) {
      back = await SipUa.connect(topo.stack.wsUrl, { user: "dave", password: "dave-pw", domain: DOMAIN, localAddress: "127.0.0.40" }).catch((err: unknown) => {
        if (Date.now() > liftedBy) throw err;
        return new Promise<undefined>((r) => setTimeout(() => r(undefined), 200));
      });
    }
    expect((await back.register()).response.status).toBe(200);
    await back.close();
  });

  it("an auth block appears in ban list and htable dump, and ban rm --user lifts it", async () => {
    const guesser = await SipUa.connect(topo.stack.wsUrl, { user: "carol", password: "wrong", domain: DOMAIN, localAddress: "127.0.0.41" });
    for (let i = 0; i < 4; i++) await guesser.register({ password: `wrong-${i}` });
    const blocked = await guesser.register();
    expect(blocked.response.status).toBe(403);
    await expect.poll(async () => (await cli(["htable", "dump", "auth_block_list"])).stdout, { timeout: 5000 }).toMatch(/^127\.0\.0\.41\s+carol\s+\d+\s+yes/m);
    const rm = await cli(["ban", "rm", "--user", "carol", "127.0.0.41"]);
    expect(rm.code, rm.stderr).toBe(0);
    const again = await guesser.register({ password: "carol-pw" });
    expect(again.response.status).toBe(200);
    await guesser.close();
  });
});

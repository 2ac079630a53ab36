// acc over a real Tm (fake timers) and a real SQLite behind the D1 interface: records per call
// attempt with their branches, per BYE that ended a call, and the calls assembled from them.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/log.ts";
import { Acc, AccWriter, accByesSql, ACC_INVITES_SQL, assembleCalls, callsCsv, type AccRecord, type AccRow } from "../../../src/modules/acc/index.ts";
import { applyMigrations } from "../../../src/provisioning/migrate.ts";
import { createResponse } from "../../../src/sip/response.ts";
import { SqliteD1 } from "../provisioning/sqlite-db.ts";
import { harness } from "../tm/harness.ts";
import { crlf, invite, request } from "../transactions/helpers.ts";

const MIGRATIONS = path.resolve(import.meta.dirname, "../../../migrations");
const GW1 = { uri: "sip:15551234567@192.0.2.10:5060", dst: "192.0.2.10:5060", q: 1 };
const GW2 = { uri: "sip:15551234567@192.0.2.11:5060", dst: "192.0.2.11:5060", q: 0.5 };

async function database(): Promise<SqliteD1> {
  const db = new SqliteD1();
  const files = readdirSync(MIGRATIONS).filter((n) => n.endsWith(".sql")).sort();
  await applyMigrations(db, files.map((name) => ({ name, sql: readFileSync(path.join(MIGRATIONS, name), "utf8") })));
  return db;
}

function setup() {
  const records: AccRecord[] = [];
  const lines: string[] = [];
  let now = (): number => 0;
  const acc = new Acc({ sink: { push: (r) => records.push(r) }, log: createLogger("info", (l) => lines.push(l)), shard: "3", clock: () => now() });
  const h = harness({ events: acc.events });
  now = () => h.timers.now();
  return { h, acc, records, lines };
}

const bye = (fromTag: string, toTag: string, fromUser = "alice", toUser = "15551234567") =>
  request(crlf(
    `BYE sip:${toUser}@192.0.2.11:5060 SIP/2.0`,
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKbye1",
    "Max-Forwards: 69",
    `From: <sip:${fromUser}@localhost>;tag=${fromTag}`,
    `To: <sip:${toUser}@localhost>;tag=${toTag}`,
    "Call-ID: asidkj3ss",
    "CSeq: 2 BYE",
    "Content-Length: 0",
    "",
    "",
  ));

describe("acc: call attempts and calls", () => {
  it("records one attempt per INVITE transaction, with its failover branches, when the final reply goes out", () => {
    const { h, acc, records, lines } = setup();
    const req = request(invite({ uri: "sip:15551234567@localhost" }));
    const receivedAt = h.timers.now();
    h.tm.relay(req, h.upstream, [GW1, GW2]);
    acc.flag({ request: req, receivedAt, srcIp: "127.0.0.31" }, undefined);
    h.timers.advance(40);
    const [first] = h.sent("INVITE");
    h.answer(first!, 500, "Server Error");
    expect(records).toHaveLength(0);
    const second = h.sent("INVITE")[1];
    h.timers.advance(60);
    h.answer(second!, 200, "OK", { toTag: "gw2tag" });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      method: "INVITE", callId: "asidkj3ss", fromTag: "asdyka899", toTag: "gw2tag", sipCode: 200, sipReason: "OK",
      timeMs: receivedAt, endMs: receivedAt + 100, srcUser: "alice", srcIp: "127.0.0.31", dstOuser: "15551234567", dst: "192.0.2.11:5060", shard: "3",
      branches: [
        { uri: GW1.uri, dst: GW1.dst, status: 500, timedOut: false },
        { uri: GW2.uri, dst: GW2.dst, status: 200, timedOut: false },
      ],
    });
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ level: "info", msg: "call", from: "alice", to: "15551234567", status: 200, dst: "192.0.2.11:5060", setupMs: 100, branches: 2 });
  });

  it("records a timed-out branch as such, and the 408 that went upstream", () => {
    const { h, acc, records } = setup();
    const req = request(invite({ uri: "sip:15551234567@localhost" }));
    h.tm.relay(req, h.upstream, [GW1]);
    acc.flag({ request: req, receivedAt: h.timers.now(), srcIp: "127.0.0.31" }, undefined);
    h.timers.advance(31_000); // fr_timer (30 s) without any reply
    expect(records[0]).toMatchObject({ sipCode: 408, branches: [{ dst: GW1.dst, status: 408, timedOut: true }] });
  });

  it("records a request the script answered statelessly at once, and a final that came before the flag", () => {
    const { h, acc, records } = setup();
    const req = request(invite());
    acc.flag({ request: req, receivedAt: h.timers.now(), srcIp: "127.0.0.31" }, createResponse(req, 480, "Temporarily Unavailable"));
    expect(records[0]).toMatchObject({ sipCode: 480, branches: [], dst: "" });
    // A branch whose send fails at once: tm answers before the route script flags.
    const req2 = request(invite({ branch: "z9hG4bKsync" }));
    h.failDownstream(true);
    h.tm.relay(req2, h.upstream, [GW1]);
    expect(records).toHaveLength(1);
    acc.flag({ request: req2, receivedAt: h.timers.now(), srcIp: "127.0.0.31" }, undefined);
    // The branch's 503 goes upstream as 500 (RFC 3261 §16.7 item 6); the record has both.
    expect(records[1]).toMatchObject({ sipCode: 500, branches: [{ status: 503 }] });
  });

  it("records a BYE only when it ended the dialog (2xx), and logs who hung up after how long", () => {
    const { h, acc, records, lines } = setup();
    const req = request(invite({ uri: "sip:15551234567@localhost" }));
    h.tm.relay(req, h.upstream, [GW1]);
    acc.flag({ request: req, receivedAt: h.timers.now(), srcIp: "127.0.0.31" }, undefined);
    h.answer(h.sent("INVITE")[0]!, 200, "OK", { toTag: "gw1tag" });
    h.timers.advance(65_000);
    const failed = bye("asdyka899", "gw1tag");
    h.tm.relay(failed, h.upstream, [GW1]);
    acc.flag({ request: failed, receivedAt: h.timers.now(), srcIp: "127.0.0.31" }, undefined);
    h.answer(h.sent("BYE")[0]!, 481, "Call/Transaction Does Not Exist");
    expect(records.map((r) => r.method)).toEqual(["INVITE"]);
    const ok = bye("asdyka899", "gw1tag");
    ok.headers.replaceFirstValue("Via", "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKbye2");
    h.tm.relay(ok, h.upstream, [GW1]);
    acc.flag({ request: ok, receivedAt: h.timers.now(), srcIp: "127.0.0.31" }, undefined);
    h.answer(h.sent("BYE")[1]!, 200, "OK");
    expect(records.map((r) => r.method)).toEqual(["INVITE", "BYE"]);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ msg: "call ended", callId: "asidkj3ss", hangup: "caller", durationS: 65 });
  });
});

describe("acc: D1 rows and CDRs", () => {
  it("writes batches to the acc table; calls are assembled with duration and hang-up side; CSV follows RFC 4180", async () => {
    const db = await database();
    const { h, acc, records } = setup();
    const writer = new AccWriter({ db, flushMs: 10_000 });
    const req = request(invite({ uri: "sip:15551234567@localhost" }));
    h.tm.relay(req, h.upstream, [GW1]);
    acc.flag({ request: req, receivedAt: h.timers.now(), srcIp: "127.0.0.31" }, undefined);
    h.answer(h.sent("INVITE")[0]!, 200, "OK", { toTag: "gw1tag" });
    h.timers.advance(12_345);
    // The callee hangs up: its BYE has the dialog's tags the other way round.
    const calleeBye = bye("gw1tag", "asdyka899", "15551234567", "alice");
    h.tm.relay(calleeBye, h.upstream, [{ uri: "sip:alice@df7jal23ls0d.invalid;transport=ws", flow: "flow-alice" }]);
    acc.flag({ request: calleeBye, receivedAt: h.timers.now(), srcIp: "192.0.2.10" }, undefined);
    h.answer(h.sent("BYE")[0]!, 200, "OK");
    for (const r of records) writer.push(r);
    expect(writer.buffered).toBe(2);
    await writer.flush();
    expect(writer.buffered).toBe(0);
    const rows = (await db.prepare("SELECT * FROM acc ORDER BY id").all<AccRow>()).results;
    expect(rows.map((r) => [r.method, r.sip_code, r.from_tag, r.to_tag])).toEqual([
      ["INVITE", "200", "asdyka899", "gw1tag"],
      ["BYE", "200", "gw1tag", "asdyka899"],
    ]);
    const { attempts, calls } = assembleCalls(rows.filter((r) => r.method === "INVITE"), rows.filter((r) => r.method === "BYE"));
    expect(attempts).toHaveLength(1);
    expect(calls).toEqual([expect.objectContaining({ callId: "asidkj3ss", caller: "alice", callee: "15551234567", status: 200, gateway: GW1.dst, duration: 12.345, hangup: "callee" })]);
    const csv = callsCsv([...calls, { ...calls[0]!, callId: 'odd,"id"', end: undefined, duration: undefined, hangup: undefined }]);
    const lines = csv.split("\r\n");
    expect(lines[0]).toBe("callId,caller,callee,start,answer,end,duration,status,gateway,hangup");
    expect(lines[1]).toMatch(/^asidkj3ss,alice,15551234567,[^,]+,[^,]+,[^,]+,12\.345,200,192\.0\.2\.10:5060,callee$/);
    expect(lines[2]).toMatch(/^"odd,""id""",alice,15551234567,[^,]+,[^,]+,,,200,192\.0\.2\.10:5060,$/);
  });

  it("keeps records through a D1 failure and writes them on the next try; beyond its bound it drops the oldest and counts them", async () => {
    const db = await database();
    let down = true;
    const flaky = { prepare: (q: string) => db.prepare(q), batch: (s: Parameters<SqliteD1["batch"]>[0]) => (down ? Promise.reject(new Error("D1 unavailable")) : db.batch(s)) };
    const errors: number[] = [];
    let dropped = 0;
    const writer = new AccWriter({ db: flaky, flushMs: 5, maxBuffered: 3, onError: (_e, buffered) => errors.push(buffered), onDropped: (n) => (dropped += n) });
    const record = (callId: string): AccRecord => ({
      method: "INVITE", fromTag: "f", toTag: "t", callId, sipCode: 486, sipReason: "Busy Here", timeMs: 1, endMs: 2,
      srcUser: "a", srcDomain: "d", srcIp: "i", dstOuser: "b", dstUser: "b", dstDomain: "d", dst: "", branches: [], shard: "0",
    });
    for (const id of ["c1", "c2", "c3", "c4"]) writer.push(record(id));
    expect(dropped).toBe(1);
    await writer.flush();
    expect(errors).toEqual([3]);
    down = false;
    await writer.flush();
    const ids = (await db.prepare("SELECT callid FROM acc ORDER BY id").all<{ callid: string }>()).results.map((r) => r.callid);
    expect(ids).toEqual(["c2", "c3", "c4"]);
  });

  it("serves GET /admin/acc's reads from the indexes", async () => {
    const db = await database();
    const plan = (sql: string, ...params: unknown[]) => db.db.prepare("EXPLAIN QUERY PLAN " + sql).all(...(params as string[])).map((r) => r["detail"]);
    expect(plan(ACC_INVITES_SQL, 0, 1, 10)).toEqual(["SEARCH acc USING INDEX acc_time_idx (time_ms>? AND time_ms<?)"]);
    expect(plan(accByesSql(2), "a", "b")).toEqual(["SEARCH acc USING INDEX acc_callid_idx (callid=?)"]);
    // The BYE lookup finds the BYE row, not the INVITE of the same call.
    const writer = new AccWriter({ db, flushMs: 10_000 });
    const row = (method: "INVITE" | "BYE", callId: string): AccRecord => ({
      method, fromTag: "f", toTag: "t", callId, sipCode: 200, sipReason: "OK", timeMs: 1, endMs: 2,
      srcUser: "a", srcDomain: "d", srcIp: "i", dstOuser: "b", dstUser: "b", dstDomain: "d", dst: "", branches: [], shard: "0",
    });
    for (const r of [row("INVITE", "c1"), row("BYE", "c1"), row("INVITE", "c2")]) writer.push(r);
    await writer.flush();
    const indexes = db.db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'acc' AND sql IS NOT NULL ORDER BY name").all();
    expect(indexes).toEqual([
      { name: "acc_callid_idx", sql: "CREATE INDEX acc_callid_idx ON acc (callid)" },
      { name: "acc_time_idx", sql: "CREATE INDEX acc_time_idx ON acc (time_ms) WHERE method = 'INVITE'" },
    ]);
    expect(db.db.prepare("SELECT callid FROM acc WHERE method = 'BYE' AND callid IN ('c1', 'c2')").all()).toEqual([{ callid: "c1" }]);
  });
});

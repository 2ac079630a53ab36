import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, DOMAIN, admin, clientAddress, startDeployment, type Deployment } from "../helpers/deployment.ts";
import { memoryMb, workerdPid } from "../helpers/proc.ts";
import { SipUa } from "../helpers/sip-ua.ts";
import { JssipPhone } from "../helpers/softphone.ts";

// The edge closes sockets whose peers stop reading (a ping left unanswered) or never speak (no SIP
// message within WS_IDLE_TIMEOUT), with short timers so the suite can watch several intervals.
// Everyone sits in one shard, so the honest clients share the object the bad ones sit in.
const INTERVAL_S = 2;
const TIMEOUT_S = 2;
const IDLE_S = 3;
/** The sweep runs every interval: a socket is pinged within two intervals of its last answer. */
const DEAF_CLOSE_BOUND_MS = (2 * INTERVAL_S + TIMEOUT_S) * 1000 + 2000;
/** The shipped pike density per 2 s: the deaf client stays just under it. */
const PIKE_DENSITY = 16;
const PAD = 8 * 1024;
let dep: Deployment;

beforeAll(async () => {
  dep = await startDeployment({
    vars: { CONNECTION_SHARDS: "1", WS_KEEPALIVE_INTERVAL: String(INTERVAL_S), WS_KEEPALIVE_TIMEOUT: String(TIMEOUT_S), WS_IDLE_TIMEOUT: String(IDLE_S) },
  });
});

afterAll(async () => {
  await dep?.destroy();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ua = (user: string, n: number, options: { answerOptions?: boolean } = {}) =>
  SipUa.connect(dep.wsUrl, { user, password: "pw", domain: DOMAIN, localAddress: clientAddress(n), ca: dep.ca.cert, ...options });

function raw(address: string): Promise<WebSocket> {
  const ws = new WebSocket(dep.wsUrl, ["sip"], { localAddress: address, ca: dep.ca.cert, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

/**
 * The edge's close frame as the client reads it. (Not the `close` event: after the handshake
 * workerd may leave the TCP connection open, and `ws` then waits its own 30 s before it reports.)
 */
const closeFrame = (ws: WebSocket) =>
  new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    (ws as unknown as { _receiver: { once(e: "conclude", f: (code: number, reason: Buffer) => void): void } })._receiver.once("conclude", (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
  );

async function bindings(aor: string): Promise<number> {
  return ((await (await admin(dep, `/location/${aor}`)).json()) as { bindings: unknown[] }).bindings.length;
}

async function closesCounted(): Promise<Record<string, number>> {
  const text = await (await dep.mf.dispatchFetch("http://127.0.0.1/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^sipedge_ws_keepalive_closes_total\{[^}]*reason="([^"]+)"[^}]*\} (\d+)/gm)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  return out;
}

/** REGISTER padded to ~8 KB with a stale Call-ID: each gets a 401 the deaf client never reads. */
const register = (n: number, pad: string) =>
  `REGISTER sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/WSS deaf.invalid;branch=z9hG4bKdeaf${n}\r\nMax-Forwards: 70\r\nFrom: <sip:user0902@${DOMAIN}>;tag=d\r\nTo: <sip:user0902@${DOMAIN}>\r\nCall-ID: ${n}-${pad}\r\nCSeq: ${n} REGISTER\r\nContact: <sip:deaf@deaf.invalid;transport=ws>\r\nContent-Length: 0\r\n\r\n`;

describe("the edge closes idle, silent and deaf WebSockets", () => {
  it("a client that stops reading is pinged, closed and unbound; one that answers, one on CRLF keep-alives and a JsSIP phone live on; nobody else slows down", async () => {
    const workerd = workerdPid();
    const rssBefore = memoryMb(workerd).rss;
    // Honest neighbours: one answers pings (as JsSIP and SIP.js do), one sends RFC 5626 CRLF keep-alives, a real JsSIP phone.
    const answering = await ua("user0900", 0);
    const crlf = await ua("user0901", 1);
    expect((await answering.register()).response.status).toBe(200);
    expect((await crlf.register()).response.status).toBe(200);
    const jssip = await JssipPhone.start({ wsUrl: dep.wsUrl, username: "user0903", password: "pw", domain: DOMAIN, localAddress: clientAddress(3), ca: dep.ca.cert });
    await jssip.register();
    const keepingAlive = setInterval(() => crlf.send("\r\n\r\n"), 1000);

    // The deaf client registers (it read the 401 then), then stops reading and keeps asking just under pike.
    const deaf = await ua("user0902", 2, { answerOptions: false });
    expect((await deaf.register()).response.status).toBe(200);
    expect(await bindings(deaf.aor)).toBe(1);
    const deafSocket = (deaf.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    deafSocket.pause();
    const deafAt = Date.now();
    const pad = "x".repeat(PAD);
    let asked = 0;
    const deafSending = setInterval(() => {
      for (let i = 0; i < PIKE_DENSITY / 2 - 1; i++) deaf.send(register(asked++, pad));
    }, 1000);

    // Meanwhile a fourth client registers every 200 ms: its latency must not move.
    const honest = await ua("user0904", 4);
    const roundTrips: number[] = [];
    let unboundAfterMs: number | undefined;
    let rssAtClose = 0;
    const until = Date.now() + 6 * INTERVAL_S * 1000;
    while (Date.now() < until) {
      const t0 = Date.now();
      expect((await honest.register()).response.status).toBe(200);
      roundTrips.push(Date.now() - t0);
      if (unboundAfterMs === undefined && (await bindings(deaf.aor)) === 0) {
        unboundAfterMs = Date.now() - deafAt;
        rssAtClose = memoryMb(workerd).rss;
        // It keeps sending for a while after the close: frames from a closed socket are ignored.
        setTimeout(() => clearInterval(deafSending), 2000);
      }
      await sleep(200);
    }
    clearInterval(deafSending);
    clearInterval(keepingAlive);
    const rssAfter = memoryMb(workerd).rss;

    // The deaf client was unbound within two intervals and a timeout of going deaf; a call to it finds nobody.
    expect(unboundAfterMs).toBeDefined();
    expect(unboundAfterMs!).toBeLessThan(DEAF_CLOSE_BOUND_MS);
    const call = await answering.invite(`sip:user0902@${DOMAIN}`);
    expect([404, 480]).toContain(call.response.status);
    // Once it reads again it finds the replies it asked for, then the edge's close frame.
    const deafClosed = closeFrame(deaf.ws);
    deafSocket.resume();
    const { code, reason } = await deafClosed;
    expect(code).toBe(4408);
    expect(reason).toMatch(/keep-alive timeout/);

    // The others live on: still open and bound after six intervals.
    for (const c of [answering, crlf, honest]) expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(jssip.ua.isConnected()).toBe(true);
    for (const aor of [answering.aor, crlf.aor, jssip.aor, honest.aor]) expect(await bindings(aor), aor).toBe(1);
    // The answering client was pinged about once per interval; the CRLF client once, after its
    // REGISTER, and never again while it only sent keep-alives; JsSIP answered each ping.
    expect(answering.optionsAnswered).toBeGreaterThanOrEqual(3);
    expect(crlf.optionsAnswered).toBe(1);
    const jssipPings = jssip.trace.requests("<", "OPTIONS").length;
    expect(jssipPings).toBeGreaterThanOrEqual(3);
    const jssipAnswers = jssip.trace.entries.filter((e) => e.dir === ">" && e.method === "OPTIONS" && e.status !== undefined).map((e) => e.status);
    expect(jssipAnswers).toEqual(new Array(jssipPings).fill(200));
    expect((await closesCounted())["keepalive-timeout"]).toBeGreaterThanOrEqual(1);

    roundTrips.sort((a, b) => a - b);
    const p50 = roundTrips[Math.floor(roundTrips.length / 2)] ?? 0;
    const p99 = roundTrips[Math.floor(roundTrips.length * 0.99)] ?? 0;
    expect(roundTrips.length).toBeGreaterThan(20);
    expect(p99).toBeLessThan(1000);
    console.info(
      `keep-alive: the deaf client asked ${asked} replies of ~${PAD / 1024} KB and was unbound ${unboundAfterMs} ms after it stopped reading (bound ${DEAF_CLOSE_BOUND_MS} ms), closed ${code} "${reason}", a call to it then got ${call.response.status}; ` +
        `pings answered: ${answering.optionsAnswered} (answering), ${crlf.optionsAnswered} (CRLF keep-alives), ${jssipPings} (JsSIP, each 200); honest REGISTER p50 ${p50} ms, p99 ${p99} ms over ${roundTrips.length}; ` +
        `workerd RSS ${rssBefore} → ${rssAtClose} MB at the close → ${rssAfter} MB`,
    );
    await jssip.stop();
    await Promise.all([answering.close(), crlf.close(), honest.close()]);
  }, 60_000);

  it("a socket that never sends a SIP message, and one that trickles a frame a byte a second, are closed within WS_IDLE_TIMEOUT", async () => {
    const silent = await raw(clientAddress(5));
    const trickle = await raw(clientAddress(6));
    const opened = Date.now();
    const [silentClosed, trickleClosed] = [closeFrame(silent), closeFrame(trickle)];
    const socket = (trickle as unknown as { _socket: { write(b: Buffer): boolean } })._socket;
    const frame = Buffer.from(`OPTIONS sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/WSS t.invalid;branch=z9hG4bKt\r\n\r\n`);
    let sent = 0;
    socket.write(Buffer.from([0x81, 0x80 | frame.length, 1, 2, 3, 4]));
    const trickling = setInterval(() => socket.write(frame.subarray(sent, ++sent)), 1000);
    const before = await closesCounted();
    const results = await Promise.all([silentClosed, trickleClosed]);
    clearInterval(trickling);
    for (const r of results) {
      expect(r.code).toBe(4408);
      expect(r.reason).toMatch(/idle/);
      expect(r.at - opened).toBeGreaterThanOrEqual(IDLE_S * 1000 - 250);
      expect(r.at - opened).toBeLessThan(IDLE_S * 1000 + 1500);
    }
    await sleep(100);
    expect((await closesCounted())["idle"] ?? 0).toBe((before["idle"] ?? 0) + 2);
    silent.terminate();
    trickle.terminate();
    console.info(`idle: silent socket closed after ${results[0]!.at - opened} ms, the trickler (${sent} bytes of a ${frame.length}-byte frame) after ${results[1]!.at - opened} ms`);
  }, 30_000);
});

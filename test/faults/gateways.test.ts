import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOMAIN, GATEWAYS, NUMBER, admin, clientAddress, gatewayUri, startDeployment, waitForDestinations, type Deployment } from "../helpers/deployment.ts";
import { SipUa, header, type SipMessage } from "../helpers/sip-ua.ts";
import { Sipp, ackOk, byeOk } from "../helpers/sipp.ts";

// Gateways failing under load: one that keeps INVITEs without a word (sipp pause) is failed over
// by fr_timer and marked down (the seed's RTF_DISPATCH: ds_mark_dst("ip"), ds_next_dst); one
// killed in the middle of a load of calls costs nothing beyond the calls that were up on it.

/** Kamailio fr_timer of this stack: no reply at all to a branch within it, and the next gateway is tried. */
const FR_TIMER_MS = 1500;
/** fr_inv_timer (Timer C): a branch that rang and then went silent ends 408 within it. */
const FR_INV_TIMER_MS = 4000;
const CLIENTS = 12;
let dep: Deployment;
const gateways = new Map<string, Sipp>();
const uas: SipUa[] = [];
const [FAST, KILLED, SLOW] = GATEWAYS;

beforeAll(async () => {
  // Keepalives every 30 s: the marks seen here come from fr_timer failover, not from probing.
  // A call every ~0.4 s per client is a load test, not a user: pike is raised (as benchmarks do) so that it does not drop them.
  dep = await startDeployment({ vars: { DS_PING_INTERVAL: "30", FR_TIMER: String(FR_TIMER_MS), FR_INV_TIMER: String(FR_INV_TIMER_MS), CALLS_PER_MINUTE: "0", PIKE_DENSITY: "200" } });
  gateways.set(FAST, Sipp.gateway(FAST, 5060, "uas.xml"));
  gateways.set(KILLED, Sipp.gateway(KILLED, 5060, "uas.xml"));
  gateways.set(SLOW, Sipp.gateway(SLOW, 5060, "uas-pause.xml"));
  await waitForDestinations(dep, GATEWAYS.map(gatewayUri), "active");
  for (let i = 0; i < CLIENTS; i++) {
    const ua = await SipUa.connect(dep.wsUrl, { user: `user${String(500 + i).padStart(4, "0")}`, password: "pw", domain: DOMAIN, localAddress: clientAddress(i), ca: dep.ca.cert });
    expect((await ua.register()).response.status).toBe(200);
    uas.push(ua);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(uas.map((u) => u.close().catch(() => undefined)));
  await Promise.all([...gateways.values()].map((g) => g.stop()));
  await dep?.destroy();
});

/** The gateway that answered: the address in the 200's Contact. */
const answeredBy = (ok: SipMessage): string => /sip:([\d.]+):/.exec(header(ok, "contact") ?? "")?.[1] ?? "";

describe("gateways failing under load", () => {
  it("a gateway that keeps INVITEs without a word is failed over by fr_timer and marked down; every call is answered", async () => {
    const started = Date.now();
    const calls = await Promise.all(uas.map(async (ua) => ({ outcome: await ua.invite(NUMBER), ms: Date.now() - started })));
    expect(calls.map((c) => c.outcome.response.status)).toEqual(Array(CLIENTS).fill(200));
    expect(calls.map((c) => answeredBy(c.outcome.response))).not.toContain(SLOW);
    // Some calls went to the stuck gateway first and waited fr_timer for nothing.
    expect(Math.max(...calls.map((c) => c.ms))).toBeGreaterThanOrEqual(FR_TIMER_MS);
    await waitForDestinations(dep, [gatewayUri(SLOW)], "down", 1000);
    await Promise.all(calls.map(async (c, i) => {
      ackOk(uas[i]!, c.outcome.response, c.outcome.cseq);
      expect((await byeOk(uas[i]!, c.outcome.response, c.outcome.cseq)).status).toBe(200);
    }));
  });

  it("a gateway SIGKILLed mid-load: every new call is answered; only calls up on it at the kill are lost", async () => {
    // The stuck gateway is taken out (ds_mark_dst "d": keepalives do not bring it back), so two gateways share the load.
    expect((await admin(dep, "/dispatcher/state", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ setid: 1, uri: gatewayUri(SLOW), state: "d" }) })).status).toBe(200);
    let running = true;
    const up = new Map<string, string>(); // call-id → gateway, while the call is up
    const lostOnKilled: string[] = [];
    const failures: string[] = [];
    let answered = 0;
    let killedAt = Date.now() + 2000;
    const loops = uas.map(async (ua) => {
      while (running) {
        const t0 = Date.now();
        const o = await ua.invite(NUMBER).catch((e: unknown) => {
          failures.push(`INVITE hung ${t0 - killedAt} ms after kill: ${String(e)}`);
          return undefined;
        });
        if (o === undefined) continue;
        if (o.response.status !== 200) {
          // A call the killed gateway had answered 100/180 for ends with Timer C (fr_inv_timer): 408, no failover.
          if (o.response.status === 408 && t0 < killedAt) lostOnKilled.push("INVITE 408 (rang on it)");
          else failures.push(`INVITE ${o.response.status} ${t0 - killedAt} ms after kill`);
          continue;
        }
        answered++;
        const id = header(o.response, "call-id") ?? "";
        up.set(id, answeredBy(o.response));
        ackOk(ua, o.response, o.cseq);
        await new Promise((r) => setTimeout(r, 300));
        const bye = await byeOk(ua, o.response, o.cseq).catch(() => undefined);
        if (bye?.status !== 200) (up.get(id) === KILLED ? lostOnKilled : failures).push(`BYE ${bye?.status ?? "none"} ${up.get(id)}`);
        up.delete(id);
      }
    });
    await new Promise((r) => setTimeout(r, 2000));
    const upOnKilled = [...up.values()].filter((g) => g === KILLED).length;
    gateways.get(KILLED)!.process.kill("SIGKILL");
    killedAt = Date.now();
    await new Promise((r) => setTimeout(r, 4000 + FR_TIMER_MS));
    running = false;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(lostOnKilled.length).toBeLessThanOrEqual(upOnKilled + CLIENTS); // at most the calls up (or being set up) on it
    await waitForDestinations(dep, [gatewayUri(KILLED)], "down", 1000);
    console.info(`gateway SIGKILL: ${answered} calls answered in ${Date.now() - killedAt + 2000} ms of load; ${upOnKilled} up on it at the kill, ${lostOnKilled.length} lost, all on it (${JSON.stringify([...new Set(lostOnKilled)])}), 0 other failures`);
  }, 60_000);
});

import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profiler, topTable } from "../../bench/profile.mjs";
import { ADMIN_TOKEN, DOMAIN, admin, startDeployment, type Deployment } from "../helpers/deployment.ts";
import { cpuMs, memoryMb, workerdPid } from "../helpers/proc.ts";
import { SipUa } from "../helpers/sip-ua.ts";

// The morning after a deploy: every registered client is dropped at once and comes back with
// JsSIP's connection recovery (connection_recovery_min_interval 2 s, _max_interval 30 s: the
// n-th attempt waits floor(random × 2^n + 1) s, clamped to [min, max]) and registers again.
// 5,000 clients each on an address of its own, and 500 behind one carrier-NAT address that is
// configured as the README says (address table group 1, MAX_CONNECTIONS_PER_ADDRESS above 500).

const DISTINCT = Number(process.env.STORM_CLIENTS ?? 5000);
const NATTED = Number(process.env.STORM_NAT_CLIENTS ?? 500);
const NAT_ADDRESS = "127.2.0.1";
const RECOVERY_MIN_S = 2;
const RECOVERY_MAX_S = 30;
/** All clients bound again within this long after the drop. */
const DEADLINE_MS = 30_000;
/** A run that collapsed (clients still re-registering this long after the drop) stops here and prints its figures, within the test's 120 s. */
const GIVE_UP_MS = 100_000;
/** `STORM_PROFILE=DIR`: CPU profiles of the restarted edge's isolate and D1's until all are bound again (DIR/storm-edge.cpuprofile, storm-d1.cpuprofile). */
const PROFILE_DIR = process.env.STORM_PROFILE;
/** `STORM_BUNDLE=DIR`: run a bundle built elsewhere (`wrangler deploy --dry-run --outdir DIR`), e.g. to compare two commits. */
const BUNDLE = process.env.STORM_BUNDLE;

interface Client {
  n: number;
  user: string;
  instance: string;
  address: string;
  ua?: SipUa;
}

let dep: Deployment;
const clients: Client[] = [];

/** 127.1.0.1, 127.1.0.2, ...: one address per distinct client, clear of the topology's 127.0.0.x. */
const distinctAddress = (i: number) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;

function connect(c: Client): Promise<SipUa> {
  return SipUa.connect(dep.wsUrl, { user: c.user, password: "pw", domain: DOMAIN, localAddress: c.address, ca: dep.ca.cert, instance: c.instance, regId: 1 });
}

/** A free loopback port for the restarted workerd's DevTools inspector. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function inBatches<T>(items: T[], size: number, f: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(f));
}

beforeAll(async () => {
  const bundle = BUNDLE === undefined ? {} : { outdir: BUNDLE };
  dep = await startDeployment({ vars: { MAX_CONNECTIONS_PER_ADDRESS: String(NATTED + 100), LOG_LEVEL: "error" }, ...bundle });
  // The carrier NAT's address in group 1 of the address table: trusted, so pike does not count it.
  const table = ["id(int,auto) grp(int) ip_addr(string) mask(int) port(int) tag(string,null)", `1:1:${NAT_ADDRESS}:32:0:carrier-nat`, ""].join("\n");
  expect((await admin(dep, "/import?table=address", { method: "POST", body: table })).status).toBe(200);
  for (let i = 0; i < DISTINCT + NATTED; i++) {
    // 1,000 demo users with several devices each (MAX_CONTACTS is 10).
    const address = i < DISTINCT ? distinctAddress(i) : NAT_ADDRESS;
    clients.push({ n: i, user: `user${String(i % 1000).padStart(4, "0")}`, instance: `urn:uuid:${crypto.randomUUID()}`, address });
  }
  await inBatches(clients, 100, async (c) => {
    c.ua = await connect(c);
    const status = (await c.ua.register()).response.status;
    if (status !== 200) throw new Error(`${c.user} from ${c.address}: first registration ${status}`);
  });
}, 600_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.ua?.terminate().catch(() => undefined)));
  await dep?.destroy();
});

describe("a deploy drops every client at once", () => {
  it(`${DISTINCT} clients on their own addresses and ${NATTED} behind one NAT address are all bound again within 30 s of the new edge listening; none banned, no 5xx`, async () => {
    const statuses: number[] = [];
    const unanswered: string[] = [];
    let refusedConnects = 0;
    let attemptsMax = 0;
    let boundCount = 0;
    let gaveUp = false;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    /** JsSIP's Transport._reconnect, then the UA's re-REGISTER once connected. */
    async function recover(c: Client): Promise<number> {
      await c.ua!.closed;
      for (let attempt = 1; ; attempt++) {
        if (gaveUp) return Infinity;
        const k = Math.min(Math.max(Math.floor(Math.random() * 2 ** attempt + 1), RECOVERY_MIN_S), RECOVERY_MAX_S);
        await sleep(k * 1000);
        attemptsMax = Math.max(attemptsMax, attempt);
        try {
          c.ua = await connect(c);
        } catch {
          refusedConnects++;
          continue;
        }
        // No answer at all is a failure we count, then the client starts over as a new connection would.
        const status = await c.ua.register().then((o) => o.response.status, () => 0);
        if (status === 0) unanswered.push(`${c.user} from ${c.address}, attempt ${attempt}`);
        else statuses.push(status);
        if (status === 200) {
          boundCount++;
          return Date.now();
        }
        await c.ua.terminate();
      }
    }

    const bridgePid = dep.bridge!.process.pid!;
    const bridgeCpu0 = cpuMs(bridgePid);
    // The clients' side (TLS, WebSocket, SIP) runs in this process and shares the machine's cores.
    const clientCpu0 = process.cpuUsage();

    const droppedAt = Date.now();
    const recovered = clients.map(recover);
    const inspectorPort = PROFILE_DIR === undefined ? undefined : await freePort();
    await dep.restartEdge(inspectorPort === undefined ? {} : { inspectorPort });
    // The profile starts a few ms after the edge listens: the first clients wait 2 s at least.
    // The edge's isolate, and the local D1 database's (another isolate of the same workerd).
    const profilers = inspectorPort === undefined ? [] : [
      { name: "edge", ...(await profiler(inspectorPort, /^core:user:/)) },
      { name: "d1", ...(await profiler(inspectorPort, /^d1:db$/)) },
    ];
    await Promise.all(profilers.map((p) => p.start()));
    // Locally the new edge takes 1.5-2.6 s to listen (a Cloudflare deploy accepts at once), which
    // pushes clients into their second or third backoff: the deadline runs from when it listens.
    const upAt = Date.now();
    // How late this process's event loop ran once the edge listened: a REGISTER's 10 s timer can
    // fire while its answer waits unread in a socket when the clients' own thread is behind.
    const loopDelay = monitorEventLoopDelay({ resolution: 20 });
    loopDelay.enable();
    const workerd = workerdPid();
    const bound = await Promise.race([Promise.all(recovered), sleep(droppedAt + GIVE_UP_MS - Date.now()).then(() => {
      gaveUp = true;
      return [Infinity];
    })]);
    const lastMs = Math.max(...bound) - upAt;
    const workerdCpu = cpuMs(workerd);
    const workerdMem = memoryMb(workerd);
    const bridgeCpu = cpuMs(bridgePid) - bridgeCpu0;
    const bridgeMem = memoryMb(bridgePid);
    const clientCpu = process.cpuUsage(clientCpu0);
    loopDelay.disable();
    const load = (await readFile("/proc/loadavg", "utf8").catch(() => "?")).split(" ").slice(0, 3).join(" ");
    for (const p of profilers) {
      const profile = await p.stop(path.join(PROFILE_DIR!, `storm-${p.name}.cpuprofile`));
      p.close();
      console.info(topTable(`deploy storm, ${p.name} isolate from listening until all bound`, profile, DISTINCT + NATTED));
    }

    console.info(
      `deploy storm: ${DISTINCT} + ${NATTED} (one NAT address) clients bound again ${lastMs} ms after the edge listened again (${Math.max(...bound) - droppedAt} ms after the drop) ` +
        `(${statuses.length} REGISTER rounds, ${statuses.filter((s) => s === 200).length} answered 200; ${refusedConnects} connects refused while the edge restarted; up to ${attemptsMax} attempts); ` +
        `workerd CPU ${(workerdCpu / 1000).toFixed(1)} s since its restart, RSS ${workerdMem.rss} MB (peak ${workerdMem.peak} MB); ` +
        `bridge CPU ${(bridgeCpu / 1000).toFixed(1)} s, RSS ${bridgeMem.rss} MB (peak ${bridgeMem.peak} MB); ` +
        `the clients (this process) CPU ${((clientCpu.user + clientCpu.system) / 1e6).toFixed(1)} s, event loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms; load average ${load}`,
    );
    const firstLate = unanswered.filter((u) => u.endsWith(", attempt 1")).length;
    // REGISTERs the shards dropped unrun: their client closed the socket while they waited for a slot.
    const scrape = (await dep.mf.dispatchFetch("http://127.0.0.1/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })) as unknown as Response;
    const exposition = await scrape.text();
    const dropped = [...exposition.matchAll(/^sipedge_register_dropped_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    console.info(
      `deploy storm: ${boundCount} of ${DISTINCT + NATTED} bound; ${unanswered.length} REGISTERs without an answer within 10 s ` +
        `(${firstLate} on a first attempt), ${dropped} dropped unrun by the shards: ${unanswered.slice(0, 5).join("; ")}`,
    );
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(unanswered).toEqual([]);
    expect(lastMs).toBeLessThan(DEADLINE_MS);
    const stats = (await (await admin(dep, "/stats")).json()) as { connections: number; ipbans: number };
    expect(stats.connections).toBe(DISTINCT + NATTED);
    expect(stats.ipbans).toBe(0);
    expect(((await (await admin(dep, "/bans")).json()) as { ipban: unknown[] }).ipban).toEqual([]);
  }, 120_000);
});

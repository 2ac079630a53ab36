// One thread of the deploy storm's client fleet (a worker_threads entry, bundled by the test).
// Thousands of clients in one thread are not thousands of browsers: after a drop they all wake
// in the same instant (attempt 1 of JsSIP's recovery always waits the 2 s minimum), and the one
// thread then runs every client's TCP connect, TLS handshake (~1-2 ms each here, three times the
// edge's side of it) and WebSocket upgrade in one go. That stalled the test process for 3-10 s,
// during which REGISTERs went out late and answers waited unread. The test splits its clients
// over STORM_THREADS of these.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Session } from "node:inspector/promises";
import { writeFile } from "node:fs/promises";
import { parentPort, workerData } from "node:worker_threads";
import { SipUa } from "../helpers/sip-ua.ts";

export interface FleetClient {
  n: number;
  user: string;
  instance: string;
  address: string;
}

export interface FleetData {
  wsUrl: string;
  ca: string;
  domain: string;
  password: string;
  clients: FleetClient[];
  recoveryMinS: number;
  recoveryMaxS: number;
  /** Write this thread's CPU profile here, from the drop until its clients are bound. */
  profileFile?: string;
}

/** What a thread saw of the storm; times are Date.now() values. */
export interface FleetReport {
  /** When each client was bound again; null when the test gave up first. */
  bound: (number | null)[];
  statuses: number[];
  unanswered: string[];
  refusedConnects: number;
  attemptsMax: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** Stalls of this thread over 0.5 s: [start, length in ms]. */
  stalls: [number, number][];
}

export type FleetCommand = { type: "register" } | { type: "arm" } | { type: "giveUp" } | { type: "close" };
export type FleetEvent =
  | { type: "registered"; error?: string }
  | { type: "armed" }
  | { type: "recovered"; report: FleetReport }
  | { type: "closed" };

const data = workerData as FleetData;
const port = parentPort!;
const uas = new Map<number, SipUa>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let gaveUp = false;
let giveUp: () => void = () => undefined;
const givenUp = new Promise<void>((resolve) => (giveUp = resolve));

function connect(c: FleetClient): Promise<SipUa> {
  return SipUa.connect(data.wsUrl, { user: c.user, password: data.password, domain: data.domain, localAddress: c.address, ca: data.ca, instance: c.instance, regId: 1 });
}

async function registerAll(): Promise<void> {
  for (let i = 0; i < data.clients.length; i += 100) {
    await Promise.all(data.clients.slice(i, i + 100).map(async (c) => {
      const ua = await connect(c);
      uas.set(c.n, ua);
      const status = (await ua.register()).response.status;
      if (status !== 200) throw new Error(`${c.user} from ${c.address}: first registration ${status}`);
    }));
  }
}

/** Watches the drop and the recovery of every client of this thread. */
function arm(): Promise<FleetReport> {
  const report: FleetReport = { bound: data.clients.map(() => null), statuses: [], unanswered: [], refusedConnects: 0, attemptsMax: 0, loopDelayP99Ms: 0, loopDelayMaxMs: 0, stalls: [] };

  /** JsSIP's Transport._reconnect, then the UA's re-REGISTER once connected. */
  async function recover(c: FleetClient, index: number): Promise<void> {
    report.bound[index] = await recovery(c);
  }

  async function recovery(c: FleetClient): Promise<number | null> {
    await uas.get(c.n)!.closed;
    for (let attempt = 1; ; attempt++) {
      if (gaveUp) return null;
      const k = Math.min(Math.max(Math.floor(Math.random() * 2 ** attempt + 1), data.recoveryMinS), data.recoveryMaxS);
      await sleep(k * 1000);
      report.attemptsMax = Math.max(report.attemptsMax, attempt);
      let ua: SipUa;
      try {
        ua = await connect(c);
      } catch {
        report.refusedConnects++;
        continue;
      }
      uas.set(c.n, ua);
      // No answer at all is a failure we count, then the client starts over as a new connection would.
      const status = await ua.register().then((o) => o.response.status, () => 0);
      if (status === 0) report.unanswered.push(`${c.user} from ${c.address}, attempt ${attempt}`);
      else report.statuses.push(status);
      if (status === 200) return Date.now();
      await ua.terminate();
    }
  }

  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  let tick = Date.now();
  const stallWatch = setInterval(() => {
    const now = Date.now();
    if (now - tick > 600) report.stalls.push([tick, now - tick - 100]);
    tick = now;
  }, 100);
  // A run the test gave up on reports at once: the clients still waiting stay null.
  const recovered = Promise.race([Promise.all(data.clients.map(recover)), givenUp]);
  return recovered.then(() => {
    clearInterval(stallWatch);
    loopDelay.disable();
    report.loopDelayP99Ms = Math.round(loopDelay.percentile(99) / 1e6);
    report.loopDelayMaxMs = Math.round(loopDelay.max / 1e6);
    return report;
  });
}

async function profiled<T>(file: string | undefined, work: () => Promise<T>): Promise<T> {
  if (file === undefined) return work();
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  const result = await work();
  const { profile } = await session.post("Profiler.stop");
  await writeFile(file, JSON.stringify(profile));
  session.disconnect();
  return result;
}

port.on("message", (command: FleetCommand) => {
  const send = (event: FleetEvent) => port.postMessage(event);
  if (command.type === "register") {
    registerAll().then(() => send({ type: "registered" }), (e: unknown) => send({ type: "registered", error: String(e) }));
  } else if (command.type === "arm") {
    // The profiler is on before the ack, so the drop that follows is in the profile.
    void profiled(data.profileFile, async () => {
      const report = arm();
      send({ type: "armed" });
      return report;
    }).then((report) => send({ type: "recovered", report }));
  } else if (command.type === "giveUp") {
    gaveUp = true;
    giveUp();
  } else {
    void Promise.all([...uas.values()].map((ua) => ua.terminate().catch(() => undefined))).then(() => send({ type: "closed" }));
  }
});

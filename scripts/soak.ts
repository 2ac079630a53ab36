/**
 * The soak: a deployment-shaped stack (test/helpers/deployment.ts) under a steady mixed load for
 * N minutes, then silence, then the check that what the load built up went away.
 *
 *   npm run soak -- --minutes 30          the long run by hand (memory flat?)
 *   npm run soak -- --minutes 2           what .ci/run does (return to zero)
 *   npm run soak -- --minutes 5 --scale 0.5 --clients 100
 *
 * Load (per second, times --scale): 100 REGISTER refreshes, 40 calls to the sipp gateways (1 s
 * long), 10 calls between registered users (0.5 s long), 2 malformed requests (answered 400).
 * That is about half of what this stack sustains on the 2-core reference machine (bench/README:
 * ~600 gateway calls/s or ~2,000 registrations/s at full tilt, each alone).
 *
 * Reports workerd and bridge RSS at the start and the end of the load, every failure, and the
 * edge's tables (/admin/stats: transactions, tm timers, dialogs, stored transactions, guard
 * entries) once the load stopped, and the storage rows written meanwhile as the platform bills
 * them, per store and per call (`sipedge_storage_rows_written_total`; README, Capacity model).
 * Exits 1 when any request failed or a table is not back to zero within RETURN_MS.
 */
import { writeFileSync } from "node:fs";
import { GATEWAYS, admin, gatewayUri, startDeployment, waitForDestinations } from "../test/helpers/deployment.ts";
import { cpuMs, memoryMb, workerdPid } from "../test/helpers/proc.ts";
import { Sipp } from "../test/helpers/sipp.ts";
import { Workload, type Rates } from "../test/soak/workload.ts";

/** After the load, the tables must be empty within this long (the longest tm timer after a call is far shorter). */
const RETURN_MS = 60_000;
const TABLES = ["transactions", "timers", "dialogs", "storedTransactions", "guardEntries"] as const;

interface Args {
  ms: number;
  scale: number;
  clients: number;
  out: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { ms: 120_000, scale: 1, clients: 200, out: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const n = Number(value);
    if (flag === "--minutes" && n > 0) args.ms = n * 60_000;
    else if (flag === "--seconds" && n > 0) args.ms = n * 1000;
    else if (flag === "--scale" && n > 0) args.scale = n;
    else if (flag === "--clients" && Number.isInteger(n) && n > 0) args.clients = n;
    else if (flag === "--out" && value) args.out = value;
    else throw new Error(`usage: npm run soak -- [--minutes N | --seconds N] [--scale F] [--clients N] [--out FILE.json] (bad argument ${flag} ${value ?? ""})`);
  }
  return args;
}

type Tables = Record<(typeof TABLES)[number], number>;

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const rates: Rates = { registers: 100 * args.scale, gatewayCalls: 40 * args.scale, userCalls: 10 * args.scale, malformed: 2 * args.scale };
  // Many calls per user and many requests per address: a load test's settings (README: Reliability).
  const dep = await startDeployment({ vars: { CALLS_PER_MINUTE: "0", LOG_LEVEL: "error", DS_PING_INTERVAL: "5" } });
  const gateways = GATEWAYS.map((ip) => Sipp.gateway(ip, 5060, "uas.xml"));
  const report: Record<string, unknown> = { minutes: args.ms / 60_000, clients: args.clients, rates };
  let exit = 1;
  try {
    await waitForDestinations(dep, GATEWAYS.map(gatewayUri), "active");
    const load = new Workload(dep, args.clients);
    await load.start();
    const rowsBefore = await rowsWritten(dep);
    const workerd = workerdPid();
    const bridge = dep.bridge!.process.pid!;
    const start = { workerd: memoryMb(workerd), bridge: memoryMb(bridge), workerdCpu: cpuMs(workerd), bridgeCpu: cpuMs(bridge) };
    log(`soak: ${args.clients} clients registered; load for ${args.ms / 1000} s: ${JSON.stringify(rates)}/s`);
    const began = Date.now();
    await load.run(rates, args.ms);
    const elapsed = (Date.now() - began) / 1000;
    const end = { workerd: memoryMb(workerd), bridge: memoryMb(bridge) };
    await load.stop();
    const t = load.tally;
    report.done = { registers: t.registers, gatewayCalls: t.gatewayCalls, userCalls: t.userCalls, malformedAnswered: t.malformedAnswered, skipped: t.skipped, seconds: elapsed };
    report.failures = { count: t.failures.length, first: t.failures.slice(0, 10) };
    report.rssMb = { workerd: { start: start.workerd.rss, end: end.workerd.rss, peak: end.workerd.peak }, bridge: { start: start.bridge.rss, end: end.bridge.rss, peak: end.bridge.peak } };
    report.cpuCores = { workerd: round((cpuMs(workerd) - start.workerdCpu) / 1000 / elapsed), bridge: round((cpuMs(bridge) - start.bridgeCpu) / 1000 / elapsed) };
    const settled = await settle(dep);
    report.tablesAfterLoad = settled.tables;
    report.returnedToZeroMs = settled.ms;
    // Written by the time the tables are empty: the acc and dialog batches of the last calls too.
    const rowsAfter = await rowsWritten(dep);
    const rows = Object.fromEntries(Object.keys(rowsAfter).map((store) => [store, rowsAfter[store]! - (rowsBefore[store] ?? 0)]));
    const calls = t.gatewayCalls + t.userCalls;
    report.rowsWritten = { ...rows, perCall: Object.fromEntries(["acc", "dialogs", "transactions"].map((s) => [s, round((rows[s] ?? 0) / Math.max(1, calls))])) };
    exit = t.failures.length === 0 && settled.ms !== undefined ? 0 : 1;
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
    await dep.destroy();
  }
  report.ok = exit === 0;
  log(JSON.stringify(report, null, 2));
  if (args.out) writeFileSync(args.out, JSON.stringify(report, null, 2));
  return exit;
}

/** Polls /admin/stats until every table is empty; the last reading and how long it took (undefined: never). */
async function settle(dep: Parameters<typeof admin>[0]): Promise<{ tables: Tables; ms: number | undefined }> {
  const stopped = Date.now();
  let tables = {} as Tables;
  while (Date.now() - stopped < RETURN_MS) {
    const stats = (await (await admin(dep, "/stats")).json()) as Tables;
    tables = Object.fromEntries(TABLES.map((k) => [k, stats[k]])) as Tables;
    if (TABLES.every((k) => tables[k] === 0)) return { tables, ms: Date.now() - stopped };
    await new Promise((r) => setTimeout(r, 500));
  }
  return { tables, ms: undefined };
}

/** `sipedge_storage_rows_written_total` summed over the shards, by store (/admin/stats). */
async function rowsWritten(dep: Parameters<typeof admin>[0]): Promise<Record<string, number>> {
  const stats = (await (await admin(dep, "/stats")).json()) as { counters: Record<string, Record<string, number> | number> };
  const rows = stats.counters["sipedge_storage_rows_written_total"];
  return typeof rows === "object" ? rows : {};
}

const round = (n: number) => Math.round(n * 100) / 100;
// A command-line program's output, not library logging.
const log = (line: string) => process.stdout.write(`${line}\n`);

process.exit(await main());

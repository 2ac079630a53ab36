// What a shard's idle client sockets cost: N WebSocket clients in one shard, each sends one SIP
// message and then only answers the edge's keep-alive pings (as JsSIP and SIP.js do), while a
// probe client in the same shard sends an OPTIONS every 20 ms and times the answer.
//
//   node bench/idle.mjs --sockets 9000 --window 10 --windows 4 [--keepalive 30] [--timeout 10]
//                       [--scrape S] [--probe no] [--probe-every MS] [--bundle DIR]
//
// --keepalive and --timeout are the edge's WS_KEEPALIVE_INTERVAL and WS_KEEPALIVE_TIMEOUT
// (seconds; the shipped 30 and 10 by default); --scrape S adds a scrape of /metrics every S
// seconds (each asks every shard for its status). Per window (after one window of settling) it
// prints the pings the clients received, workerd's CPU over the window (and per socket), its RSS,
// and the probe's median, 99th-percentile and worst round trip: how long the shard's keep-alive
// pass holds up the other messages of the shard. workerd allows itself 20,000 descriptors here
// and a client socket takes two of them (Miniflare's front worker): ~9,000 sockets at most.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";
import WebSocket from "ws";

const { values: a } = parseArgs({
  options: {
    sockets: { type: "string", default: "10000" },
    window: { type: "string", default: "10" },
    keepalive: { type: "string", default: "30" },
    timeout: { type: "string", default: "10" },
    windows: { type: "string", default: "3" },
    bundle: { type: "string", default: "" },
    "per-address": { type: "string", default: "20000" },
    probe: { type: "string", default: "yes" },
    "probe-every": { type: "string", default: "20" },
    scrape: { type: "string", default: "0" },
  },
});
const N = Number(a.sockets);
const WINDOW = Number(a.window);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const { startStack } = await import("../scripts/stack.mjs");
const work = mkdtempSync(join(tmpdir(), "sipedge-idle-"));
const outdir = a.bundle || join(work, "dist");
const stack = await startStack({
  port: 0, stateDir: join(work, "state"), outdir, build: !a.bundle,
  vars: {
    CONNECTION_SHARDS: "1", WS_KEEPALIVE_INTERVAL: a.keepalive, WS_KEEPALIVE_TIMEOUT: a.timeout, WS_IDLE_TIMEOUT: "0",
    PIKE_DENSITY: "0", MAX_CONNECTIONS_PER_ADDRESS: "0", LOG_LEVEL: "warn", METRICS_ALLOW_FROM: "127.0.0.0/8",
  },
});
// This run's workerd: a descendant of this process.
const descendants = (pid) => execFileSync("sh", ["-c", `pgrep -P ${pid} || true`], { encoding: "utf8" }).trim().split("\n").filter(Boolean).flatMap((c) => [c, ...descendants(c)]);
const commOf = (p) => { try { return readFileSync(`/proc/${p}/comm`, "utf8").trim(); } catch { return ""; } };
const workerd = descendants(process.pid).filter((p) => commOf(p) === "workerd");
const US_PER_TICK = 1e6 / 100; // µs per clock tick (USER_HZ 100)
/** workerd's CPU so far (user + system), µs. */
const cpu = () => workerd.reduce((s, p) => { const f = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" "); return s + Number(f[11]) + Number(f[12]); }, 0) * US_PER_TICK;
const rss = () => workerd.reduce((s, p) => s + Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))[1]), 0) / 1024;

let pings = 0;
let closedClients = 0;
let n = 0;
function header(msg, name) {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(msg);
  return m ? m[1] : "";
}
/** A 200 to a ping, as JsSIP answers one. */
function answer(msg, tag) {
  return ["SIP/2.0 200 OK", `Via: ${header(msg, "Via")}`, `From: ${header(msg, "From")}`, `To: ${header(msg, "To")};tag=a${tag}`,
    `Call-ID: ${header(msg, "Call-ID")}`, `CSeq: ${header(msg, "CSeq")}`, "Content-Length: 0", "", ""].join("\r\n");
}
function client(i, onFirst) {
  const ws = new WebSocket(stack.wsUrl, "sip", { perMessageDeflate: false, localAddress: `127.0.${1 + Math.floor(i / Number(a["per-address"]))}.1` });
  const user = `idle${i}`;
  ws.on("open", () => ws.send([
    "OPTIONS sip:localhost SIP/2.0", `Via: SIP/2.0/WSS c${i}.invalid;branch=z9hG4bK${i}x${n++}`, "Max-Forwards: 70",
    `From: <sip:${user}@localhost>;tag=t${i}`, "To: <sip:localhost>", `Call-ID: idle-${i}-${n}`, "CSeq: 1 OPTIONS", "Content-Length: 0", "", ""].join("\r\n")));
  let first = true;
  ws.on("message", (data) => {
    const msg = data.toString();
    if (msg.startsWith("SIP/2.0 ")) { if (first) { first = false; onFirst(); } return; }
    if (!msg.startsWith("OPTIONS ")) return;
    pings++;
    ws.send(answer(msg, i));
  });
  ws.on("error", () => undefined);
  ws.on("close", () => void (stopping || closedClients++));
  return ws;
}

const sockets = [];
let stopping = false;
const t0 = Date.now();
for (let i = 0; i < N; i += 200) {
  await Promise.all(Array.from({ length: Math.min(200, N - i) }, (_, k) => new Promise((resolve) => sockets.push(client(i + k, resolve)))));
}
console.log(`${N} sockets open and heard in ${((Date.now() - t0) / 1000).toFixed(1)} s; workerd RSS ${rss().toFixed(0)} MB`);

// The probe: an OPTIONS every 20 ms (--probe-every MS), its round trip recorded.
const rtts = [];
const times = new Map();
let sent = 0;
let answered = 0;
const probe = new WebSocket(stack.wsUrl, "sip", { perMessageDeflate: false, localAddress: "127.0.0.250" });
await new Promise((r) => probe.on("open", r));
probe.on("message", (d) => {
  const s = d.toString();
  if (s.startsWith("OPTIONS ")) return void probe.send(answer(s, "probe"));
  const m = /^CSeq: (\d+)/im.exec(s);
  if (m === null || !s.startsWith("SIP/2.0")) return;
  answered++;
  rtts.push(performance.now() - Number(times.get(Number(m[1]))));
});
const timer = setInterval(() => {
  if (a.probe !== "yes") return;
  sent++;
  times.set(sent, performance.now());
  probe.send(["OPTIONS sip:localhost SIP/2.0", `Via: SIP/2.0/WSS probe.invalid;branch=z9hG4bKp${sent}`, "Max-Forwards: 70",
    "From: <sip:probe@localhost>;tag=p", "To: <sip:localhost>", "Call-ID: probe", `CSeq: ${sent} OPTIONS`, "Content-Length: 0", "", ""].join("\r\n"));
}, Number(a["probe-every"]));

// --scrape S: a Prometheus scrape of /metrics every S seconds (each asks every shard for its status).
const scrapes = [];
const scraper = Number(a.scrape) > 0 ? setInterval(async () => {
  const t = performance.now();
  const res = await fetch(new URL("/metrics", stack.url));
  await res.text();
  scrapes.push(performance.now() - t);
}, Number(a.scrape) * 1000) : undefined;

await sleep(WINDOW * 1000);
console.log("| window | pings received | workerd CPU ms | µs per socket | RSS MB | probe p50 / p99 / max ms |");
console.log("|---|---|---|---|---|---|");
for (let w = 1; w <= Number(a.windows); w++) {
  const c0 = cpu(); const p0 = pings; rtts.length = 0;
  await sleep(WINDOW * 1000);
  const ms = (cpu() - c0) / 1000;
  const s = rtts.slice().sort((x, y) => x - y);
  const q = (f) => (s[Math.min(s.length - 1, Math.floor(f * s.length))] ?? NaN).toFixed(1);
  console.log(`| ${w} | ${pings - p0} | ${ms.toFixed(0)} | ${(ms * 1000 / N).toFixed(1)} | ${rss().toFixed(0)} | ${q(0.5)} / ${q(0.99)} / ${(s.at(-1) ?? NaN).toFixed(1)} |`);
}
clearInterval(timer);
clearInterval(scraper);
if (scrapes.length > 0) console.log(`scrapes: ${scrapes.length}, ms each: ${scrapes.map((x) => x.toFixed(0)).join(" ")}`);
stopping = true;
// What must hold whatever the box's speed: no client that answers its pings was closed, the probe
// was answered (but the last few in flight), and pings came when the run outlasted their interval.
const problems = [];
if (closedClients > 0) problems.push(`${closedClients} client sockets were closed`);
if (a.probe === "yes" && answered < sent - 5) problems.push(`the probe had ${answered} answers to ${sent} OPTIONS`);
const pingsDue = Number(a.keepalive) > 0 && WINDOW * (Number(a.windows) + 1) > Number(a.keepalive) + 1;
if (pingsDue && pings === 0) problems.push("no client was pinged");
for (const p of problems) console.error(`idle: ${p}`);
for (const ws of sockets) ws.terminate();
probe.terminate();
await stack.stop();
rmSync(work, { recursive: true, force: true });
process.exit(problems.length === 0 ? 0 : 1);

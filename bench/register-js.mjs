// The JavaScript of one digest registration, without the runtime: REGISTER → 401 → REGISTER with
// Authorization → 200 through processMessage and the shipped route script (real auth with its
// nonces and nonce counts, registrar and the shard's LocationClient over an in-memory Location,
// tm, rr, KeyedSerial, serialize), bundled as wrangler bundles the worker (esbuild, keep_names),
// run in plain Node. CPU time is read around each round, so unlike the workerd runs it moves
// little with the box's load: use it to A/B a change of the route path on a shared machine.
//
//   node bench/register-js.mjs [--root DIR ...] [--rounds 7] [--exchanges 10000] [--runtime node,workerd]
//
// Several --root checkouts (e.g. a `git archive` of main) are run in interleaved rounds. The
// figure includes the client's side (building the messages, three MD5s per exchange: ~10 µs).
// `--runtime workerd` runs the same bundle inside workerd (Miniflare, the product's compatibility
// date and flags) as a worker whose request runs a round; its CPU is the workerd process's
// (/proc, 10 ms ticks: keep a round above ~0.3 s). Run it in your network namespace. `--shard`
// hands every message to the shard's ClientMessages (parseInbound, KeyedSerial, the RegisterGate,
// the message counter and counting transport) as a SipConnection does, instead of processMessage.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({
  options: { root: { type: "string", multiple: true }, rounds: { type: "string", default: "7" }, exchanges: { type: "string", default: "10000" }, runtime: { type: "string", default: "node" }, shard: { type: "boolean", default: false } },
});
const runtimes = o.runtime.split(",");
if (runtimes.some((r) => r !== "node" && r !== "workerd")) throw new Error(`--runtime: node and/or workerd, not ${o.runtime}`);
const roots = (o.root ?? [join(HERE, "..")]).map((r) => resolve(r));

const entry = (root) => `
import { ClientMessages } from "${root}/durable-objects/client-messages.ts";
import { Metrics } from "${root}/src/metrics/counters.ts";
import { countingTransport, messageCounter } from "${root}/src/metrics/instrument.ts";
import { createHash } from "node:crypto";
import { parseConfig } from "${root}/src/config.ts";
import { createLogger } from "${root}/src/log.ts";
import { defaultScript } from "${root}/src/routes/default.ts";
import { createAuth } from "${root}/src/modules/auth/index.ts";
import { createRr } from "${root}/src/modules/rr/index.ts";
import { Tm } from "${root}/src/modules/tm/index.ts";
import { createRegistrar } from "${root}/src/modules/registrar/index.ts";
import { LocationClient } from "${root}/src/modules/registrar/location-client.ts";
import { isMyself } from "${root}/src/routing/context.ts";
import { processMessage } from "${root}/src/routing/pipeline.ts";
import { serialize } from "${root}/src/sip/serializer.ts";
import { KeyedSerial } from "${root}/src/util/serial.ts";
import { MemoryLocation } from "${root}/test/fuzz/services.ts";

const config = parseConfig({ SIP_DOMAIN: "localhost", SIP_ALIASES: "" });
const log = createLogger("info", () => undefined);
const registrar = createRegistrar(config.registrar);
const memory = new MemoryLocation(registrar, Date.now);
const stub = {
  save: async (input) => { const r = await memory.save(input); return r.ok ? { ...r, bindings: memory.aors.get(input.aor) ?? [] } : r; },
  lookup: (aor) => memory.lookup(aor),
  removeFlow: async () => undefined,
};
// The nonces' clock moves 2 ms per call: at this loop's rate real seconds would put a whole
// nonce-count table's evictions in the second its newest nonces expire (refused as stale).
let now = Date.now();
const services = {
  auth: createAuth({ secrets: { current: "bench" }, lookup: () => ({ password: "pw" }), clock: () => (now += 2) }),
  location: new LocationClient(() => stub, registrar),
  tm: new Tm({ ownerId: "0", sentBy: { transport: "WS", host: "localhost" }, sendRequest: () => true, timers: { set: () => 0, clear: () => undefined } }),
  rr: createRr({ listen: { ws: { host: "localhost" } }, isMyself: (t) => isMyself(config, t) }),
  flowRegistered: () => undefined,
};
const md5 = (s) => createHash("md5").update(s).digest("hex");
const conns = Array.from({ length: 50 }, (_, i) => ({ user: "user" + String(i).padStart(4, "0"), host: "h" + i + ".invalid", cseq: 0, flow: "0.s" + i, index: i }));
let n = 0;
const id = () => (++n).toString(36);
const register = (c, auth) =>
  "REGISTER sip:localhost SIP/2.0\\r\\nVia: SIP/2.0/WS " + c.host + ";branch=z9hG4bK" + id() + ";rport\\r\\nMax-Forwards: 70\\r\\n" +
  "To: <sip:" + c.user + "@localhost>\\r\\nFrom: <sip:" + c.user + "@localhost>;tag=t" + c.flow + "\\r\\nCall-ID: call-" + c.flow + "\\r\\n" +
  "CSeq: " + c.cseq + " REGISTER\\r\\n" + (auth ? "Authorization: " + auth + "\\r\\n" : "") +
  "Contact: <sip:" + c.user + "@" + c.host + ";transport=ws>;expires=600\\r\\nExpires: 600\\r\\nAllow: INVITE,ACK,CANCEL,BYE,OPTIONS\\r\\n" +
  "User-Agent: sipedge-loadgen\\r\\nContent-Length: 0\\r\\n\\r\\n";
const serial = new KeyedSerial();
let last = "";
const transport = { send: (m) => { last = typeof m === "string" ? m : serialize(m); } };
// --shard: each message goes through the shard's ClientMessages (parseInbound, KeyedSerial, the
// RegisterGate), the message counter and the counting transport, as a SipConnection hands it on.
const metrics = new Metrics();
const shard = ${o.shard} ? new ClientMessages({ script: defaultScript, config, log, services, connections: { registered: () => undefined }, serial, metrics: messageCounter(metrics), dropped: () => undefined }) : undefined;
const sockets = conns.map((c) => ({ attachment: { flow: c.flow, ip: "127.0.0.1", transport: "ws", connectedAt: 0, aors: [] }, source: { transport: "ws", ip: "127.0.0.1", flow: c.flow }, transport: countingTransport(transport, metrics) }));
async function handle(c, data) {
  if (shard) await shard.handle(undefined, sockets[c.index], data);
  else await serial.run(c.flow, () => processMessage(defaultScript, { data, source: { transport: "ws", ip: "127.0.0.1", flow: c.flow }, transport, config, log, services }));
  return last;
}
async function exchange(c) {
  c.cseq++;
  const challenge = await handle(c, register(c, null));
  const nonce = /WWW-Authenticate: Digest [^\\r]*nonce="([^"]+)"[^\\r]*algorithm=MD5/.exec(challenge)?.[1];
  if (nonce === undefined) throw new Error("no MD5 challenge: " + challenge.slice(0, 200));
  const cnonce = id() + "c";
  const response = md5(md5(c.user + ":localhost:pw") + ":" + nonce + ":00000001:" + cnonce + ":auth:" + md5("REGISTER:sip:localhost"));
  c.cseq++;
  const ok = await handle(c, register(c, 'Digest username="' + c.user + '", realm="localhost", nonce="' + nonce + '", uri="sip:localhost", response="' + response + '", algorithm=MD5, qop=auth, nc=00000001, cnonce="' + cnonce + '"'));
  if (!ok.startsWith("SIP/2.0 200")) throw new Error("not registered: " + ok.slice(0, 200));
}
export async function round(count) {
  const t0 = process.cpuUsage();
  for (let i = 0; i < count; i++) await exchange(conns[i % conns.length]);
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / count;
}
`;

/**
 * The same module as a worker: everything is built on the first request (workerd allows no
 * random values or timers at start-up), and a request `?n=N` runs N exchanges.
 */
function workerEntry(root) {
  const lines = entry(root).split("\n");
  const body = lines.filter((l) => !l.startsWith("import ")).join("\n");
  return `${lines.filter((l) => l.startsWith("import ")).join("\n")}
let loop;
function setup() {
${body.slice(0, body.indexOf("export async function round"))}
  return async (count) => { for (let i = 0; i < count; i++) await exchange(conns[i % conns.length]); };
}
export default {
  async fetch(request) {
    loop ??= setup();
    await loop(Number(new URL(request.url).searchParams.get("n")));
    return new Response("done");
  },
};
`;
}

/** A round in workerd: CPU of the workerd process (all its threads) per registration. */
async function workerdRound(root, outfile) {
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
  const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  const compatibilityFlags = JSON.parse(/^compatibility_flags\s*=\s*(\[[^\]]*\])/m.exec(toml)?.[1] ?? "[]");
  const before = new Set(childWorkerds());
  const mf = new Miniflare(convertV4MiniflareOptions({ name: "register-js", modules: [{ type: "ESModule", path: outfile }], modulesRoot: dirname(outfile), compatibilityDate, compatibilityFlags }));
  await mf.ready;
  const pid = childWorkerds().find((p) => !before.has(p));
  if (pid === undefined) throw new Error("no workerd process found");
  const cpu = () => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / HZ;
  };
  closers.push(() => mf.dispose());
  return async (count) => {
    const t0 = cpu();
    await (await mf.dispatchFetch(`http://register-js/?n=${count}`)).text();
    return ((cpu() - t0) * 1e6) / count;
  };
}

function childWorkerds() {
  try {
    return execFileSync("pgrep", ["-P", String(process.pid), "workerd"], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

const HZ = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
const closers = [];
const work = mkdtempSync(join(tmpdir(), "register-js-"));
try {
  const runners = [];
  for (const [i, root] of roots.entries()) {
    for (const runtime of runtimes) {
      const outfile = join(work, `${runtime}${i}.mjs`);
      const contents = runtime === "node" ? entry(root) : workerEntry(root);
      await build({ stdin: { contents, resolveDir: root, loader: "js" }, bundle: true, platform: "node", format: "esm", keepNames: true, outfile, logLevel: "error" });
      const round = runtime === "node" ? (await import(outfile)).round : await workerdRound(root, outfile);
      runners.push({ root: runtimes.length > 1 ? `${root} [${runtime}]` : root, commit: commitOf(root), round, results: [] });
    }
  }
  const count = Number(o.exchanges);
  for (const r of runners) for (let w = 0; w < 3; w++) await r.round(count / 2); // JIT warm-up
  for (let k = 0; k < Number(o.rounds); k++) {
    const order = k % 2 === 0 ? runners : [...runners].reverse();
    for (const r of order) r.results.push(await r.round(count));
  }
  for (const r of runners) {
    const s = [...r.results].sort((a, b) => a - b);
    console.log(`${r.root}${r.commit ? ` (${r.commit})` : ""}: CPU µs per registration (2 messages) median ${s[s.length >> 1].toFixed(1)}, min ${s[0].toFixed(1)} [${r.results.map((x) => x.toFixed(1)).join(" ")}]`);
  }
} finally {
  for (const close of closers) await close();
  rmSync(work, { recursive: true, force: true });
}

function commitOf(root) {
  try {
    return execFileSync("git", ["-C", root, "rev-parse", "--short", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

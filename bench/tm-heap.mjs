// What a finished transaction keeps, per call, while its timers run (RFC 6026's 32 s): the heap
// after a full GC grown by N calls of one kind, divided by N. In plain Node, bundled as wrangler
// bundles the worker (esbuild, keep_names), through processMessage with tm's real Tm, the parser
// and a request route per kind; the gateways' responses are parsed from text as the bridge's
// would be. Timers never fire here, so every call is still inside its 32 s, as in the first 32 s of
// a load. Use it for the kinds a load test cannot produce cheaply (no ACK, so Timer H holds).
//
//   node --expose-gc bench/tm-heap.mjs [--root DIR ...] [--calls 3000] [--kinds 2xx,failed,...]
//
// Kinds: 2xx (answered), failed (486, caller ACKs), failed-noack (486, no ACK: Timer H),
// failover (the first gateway unreachable, the second answers 200), treply-noack (the route
// answers 404 with t_reply, no ACK), onreply (2xx through an onreply route armed with t_on_reply).
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({
  options: { root: { type: "string", multiple: true }, calls: { type: "string", default: "3000" }, kinds: { type: "string", default: "2xx,failed,failed-noack,failover,treply-noack,onreply" } },
});
const roots = (o.root ?? [join(HERE, "..")]).map((r) => resolve(r));
if (typeof globalThis.gc !== "function") {
  console.error("run with node --expose-gc");
  process.exit(2);
}

const entry = (root) => `
import { parseConfig } from "${root}/src/config.ts";
import { createLogger } from "${root}/src/log.ts";
import { Tm } from "${root}/src/modules/tm/index.ts";
import { processMessage } from "${root}/src/routing/pipeline.ts";
import { parseMessage } from "${root}/src/sip/parser.ts";

const config = parseConfig({ SIP_DOMAIN: "sip.example.test", SIP_ALIASES: "" });
const log = createLogger("error", () => undefined);
const GW1 = { uri: "sip:+15550100@127.0.0.20:5060", dst: "127.0.0.20:5060" };
const GW2 = { uri: "sip:+15550100@127.0.0.21:5060", dst: "127.0.0.21:5060" };
const SDP = "v=0\\r\\no=- 3912 3912 IN IP4 127.0.0.5\\r\\ns=-\\r\\nc=IN IP4 127.0.0.5\\r\\nt=0 0\\r\\nm=audio 40000 RTP/AVP 0 8 101\\r\\na=rtpmap:0 PCMU/8000\\r\\na=rtpmap:8 PCMA/8000\\r\\na=rtpmap:101 telephone-event/8000\\r\\na=fmtp:101 0-16\\r\\na=sendrecv\\r\\n";
let sent = [];
const timers = { set: () => 0, clear: () => undefined };
const tm = new Tm({ ownerId: "0", sentBy: { transport: "WS", host: "sip.example.test" }, sendRequest: (m) => { sent.push(m); return true; }, timers });
const transport = { send: () => undefined };
const services = { tm };
let n = 0;
const invite = (i) => {
  const id = "c" + i + "-" + (++n).toString(36);
  return "INVITE sip:+15550100@sip.example.test SIP/2.0\\r\\nVia: SIP/2.0/WS h" + i + ".invalid;branch=z9hG4bK" + id + "\\r\\nMax-Forwards: 70\\r\\n" +
    "To: <sip:+15550100@sip.example.test>\\r\\nFrom: <sip:user0001@sip.example.test>;tag=f" + id + "\\r\\nCall-ID: " + id + "\\r\\nCSeq: 2 INVITE\\r\\n" +
    "Contact: <sip:user0001@h" + i + ".invalid;transport=ws;ob>\\r\\nAllow: INVITE,ACK,CANCEL,BYE,OPTIONS\\r\\nSupported: outbound\\r\\n" +
    "User-Agent: sipedge-loadgen\\r\\nContent-Type: application/sdp\\r\\nContent-Length: " + SDP.length + "\\r\\n\\r\\n" + SDP;
};
/** The gateway's answer to the branch it got, as text, parsed as the bridge's datagram would be. */
function answer(branch, status, reason, body = "") {
  const vias = branch.headers.getAll("via").map((v) => "Via: " + v + "\\r\\n").join("");
  const text = "SIP/2.0 " + status + " " + reason + "\\r\\n" + vias + "To: " + branch.headers.get("to") + ";tag=gw" + n + "\\r\\nFrom: " + branch.headers.get("from") +
    "\\r\\nCall-ID: " + branch.callId + "\\r\\nCSeq: " + branch.cseq.seq + " INVITE\\r\\nContact: <sip:gw@127.0.0.20:5060>\\r\\n" +
    (body ? "Content-Type: application/sdp\\r\\n" : "") + "Content-Length: " + body.length + "\\r\\n\\r\\n" + body;
  const parsed = parseMessage(text);
  tm.receiveResponse(parsed.message);
}
const source = (i) => ({ transport: "ws", ip: "127.0.0." + (10 + (i % 200)), flow: "0.f" + i });
async function replyRoute() {}
const scripts = {
  relay: { request: async (ctx) => { ctx.tm.onFailure(async () => {}); ctx.tm.relay([GW1]); } },
  onreply: { request: async (ctx) => { ctx.tm.onReply(replyRoute); ctx.tm.relay([GW1]); } },
  failover: { request: async (ctx) => { ctx.tm.onFailure(async (f) => { f.tm.relay([GW2]); }); ctx.tm.relay([GW1]); } },
  treply: { request: async (ctx) => { ctx.tm.reply(404, "Not Found"); } },
};
async function call(kind, i) {
  sent = [];
  const data = invite(i);
  const script = kind === "onreply" ? scripts.onreply : kind === "failover" ? scripts.failover : kind.startsWith("treply") ? scripts.treply : scripts.relay;
  await processMessage(script, { data, source: source(i), transport, config, log, services });
  if (kind.startsWith("treply")) return;
  const branch = sent[0];
  if (kind === "2xx" || kind === "onreply") answer(branch, 200, "OK", SDP);
  else if (kind === "failover") {
    tm.branchFailed(/branch=([^;\\s]+)/.exec(branch.headers.get("via"))[1], "INVITE", "transport");
    answer(sent[1], 200, "OK", SDP);
  } else answer(branch, 486, "Busy Here");
  // The failure route is awaited: the final response goes upstream a few turns later.
  await new Promise((r) => setTimeout(r, 0));
  if (kind === "failed") {
    // The caller's ACK for the 486 (§17.1.1.3: the INVITE's top Via, the response's To).
    const inv = parseMessage(data).message;
    const ack = "ACK sip:+15550100@sip.example.test SIP/2.0\\r\\nVia: " + inv.headers.get("via") + "\\r\\nMax-Forwards: 70\\r\\nTo: " + inv.headers.get("to") + ";tag=gw" + n +
      "\\r\\nFrom: " + inv.headers.get("from") + "\\r\\nCall-ID: " + inv.callId + "\\r\\nCSeq: 2 ACK\\r\\nContent-Length: 0\\r\\n\\r\\n";
    await processMessage({ request: async (ctx) => { ctx.tm.checkTrans(); } }, { data: ack, source: source(i), transport, config, log, services });
  }
}
export async function measure(kind, calls) {
  for (let i = 0; i < 200; i++) await call(kind, i); // warm-up (kept: the same for every root)
  await new Promise((r) => setTimeout(r, 0));
  globalThis.gc(); globalThis.gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) await call(kind, i);
  await new Promise((r) => setTimeout(r, 0));
  globalThis.gc(); globalThis.gc();
  const after = process.memoryUsage().heapUsed;
  if (process.env.TM_HEAP_SNAPSHOT) (await import("node:v8")).writeHeapSnapshot(process.env.TM_HEAP_SNAPSHOT + "-" + kind + ".heapsnapshot");
  return { perCall: (after - before) / calls, servers: tm.table.serverCount, clients: tm.table.clientCount };
}
`;

const work = mkdtempSync(join(tmpdir(), "tm-heap-"));
try {
  const calls = Number(o.calls);
  const rows = [];
  for (const kind of o.kinds.split(",")) {
    for (const [i, root] of roots.entries()) {
      // A fresh bundle and module instance per kind and root: one Tm, one heap history each.
      const outfile = join(work, `r${i}-${kind}.mjs`);
      await build({ stdin: { contents: entry(root), resolveDir: root, loader: "js" }, bundle: true, platform: "node", format: "esm", keepNames: true, outfile, logLevel: "error" });
      const r = await (await import(outfile)).measure(kind, calls);
      rows.push({ kind, root, ...r });
      console.log(`${kind.padEnd(13)} ${root}: ${(r.perCall / 1024).toFixed(2)} KB per call kept (transactions left: ${r.servers} server, ${r.clients} client)`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

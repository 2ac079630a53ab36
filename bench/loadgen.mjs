// sipedge's closed-loop SIP-over-WebSocket load generator. One process, one thread: every
// connection has exactly one operation in flight, so --conns is the concurrency.
//
//   node bench/loadgen.mjs --url ws://127.0.0.1:8787/ --mode reg --conns 50 --warmup 2 --duration 10
//   node bench/loadgen.mjs --url ws://127.0.0.1:8080 --domain kbench.local --mode reg   (any WS SIP server)
//
// Standalone it runs --warmup then --duration seconds and prints one JSON line. Under run.mjs
// (--control stdin) it prints {"ready":...} once every socket is open, waits for the line
// "go WINSTART WINEND" (epoch ms) on stdin, and prints one JSON line after WINEND. An operation
// counts when it completes inside the window; operations still open at WINEND are not counted.
//
// --rate R paces the load instead: R operations per second in all, each connection starting one
// every (callers)/R seconds (staggered), so latency is measured at a fixed offered rate (e.g. 70 % of
// the closed-loop maximum). A connection whose operation outlasts its interval starts the next
// at once and counts it in "late" (the offered rate was not held).
//
// Modes (SCENARIOS below; a new workload is one more entry):
//   reg     REGISTER -> 401 -> REGISTER with Authorization (MD5, qop=auth, nc, cnonce) -> 200.
//           One user per connection (user0000...), same Call-ID, CSeq increasing by one per
//           request, a fresh challenge every iteration (no nonce reuse), as ../shared/bench does.
//   call    issue 4's gateway call, as ../shared/bench/loadgen.js --mode call makes it: every
//           connection registers once before the window, then per call INVITE to a random
//           number (--prefix + 7 digits, ~220-byte SDP) -> 407 -> ACK -> INVITE with
//           Proxy-Authorization -> 100/180/200 from a gateway -> ACK and BYE along the 200's
//           Record-Route set -> 200. p50/p99 are call setup (first INVITE sent -> 200 received),
//           total_p50/total_p99 the whole call (until the BYE's 200).
//   u2u     a call between two WebSocket users: connection 2k calls connection 2k+1 (both
//           registered), which answers 180 + 200 with an SDP answer; ACK and BYE as in call.
//   options OPTIONS to the proxy itself -> 200: one SIP round trip through the route script.
//   ping    RFC 5626 double-CRLF keep-alive -> CRLF: the runtime's auto-response, no JavaScript.
//   echo    a REGISTER echoed by bench/floor's bare hibernating object (not a SIP server): the
//           least a JavaScript-handled message costs in workerd, the floor under options/reg/call.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

const o = {
  url: "ws://127.0.0.1:8787/", mode: "reg", conns: 50, domain: "localhost", password: "pw", userBase: 0,
  warmup: 2, duration: 10, timeout: 10000, batch: 50, control: "", expires: 600, prefix: "1555", sdp: "",
  rate: 0, aors: 0, deflate: "no",
};
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  if (!(k in o)) { console.error(`loadgen: unknown option ${process.argv[i]}`); process.exit(2); }
  o[k] = typeof o[k] === "number" ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

const P = randomBytes(3).toString("hex");
let seq = 0;
const id = () => P + (++seq).toString(36);
const md5 = (s) => createHash("md5").update(s).digest("hex");

// ------------------------------------------------------------------ minimal SIP reading
// Only what the client needs: the status code, and header values by name (case-insensitive,
// compact forms). Plain indexOf scans: the load generator must stay cheap next to the edge.
const COMPACT = { v: "via", f: "from", t: "to", i: "call-id", m: "contact", l: "content-length" };

/** Every value of header `name` (lower case) in the head of `msg`, in order. */
function headerValues(msg, name) {
  const out = [];
  const head = msg.indexOf("\r\n\r\n");
  const end = head < 0 ? msg.length : head;
  let at = msg.indexOf("\r\n");
  while (at >= 0 && at < end) {
    const next = msg.indexOf("\r\n", at + 2);
    const lineEnd = next < 0 || next > end ? end : next;
    const colon = msg.indexOf(":", at + 2);
    if (colon > 0 && colon < lineEnd) {
      let n = msg.slice(at + 2, colon).trim().toLowerCase();
      n = COMPACT[n] ?? n;
      if (n === name) out.push(msg.slice(colon + 1, lineEnd).trim());
    }
    at = lineEnd < end ? lineEnd : -1;
  }
  return out;
}
const header = (msg, name) => headerValues(msg, name)[0] ?? "";

/** Digest challenge parameters (RFC 7616 §3.3): name=token or name="quoted". */
function challengeParams(v) {
  const p = {};
  let i = v.search(/\s/) + 1; // after the scheme
  while (i > 0 && i < v.length) {
    const eq = v.indexOf("=", i);
    if (eq < 0) break;
    const name = v.slice(i, eq).replace(/^[\s,]+/, "").trim().toLowerCase();
    let val;
    if (v[eq + 1] === '"') {
      const close = v.indexOf('"', eq + 2);
      val = v.slice(eq + 2, close);
      i = close + 1;
    } else {
      const comma = v.indexOf(",", eq + 1);
      val = v.slice(eq + 1, comma < 0 ? v.length : comma).trim();
      i = comma < 0 ? v.length : comma;
    }
    p[name] = val;
    while (v[i] === "," || v[i] === " ") i++;
  }
  return p;
}

/** The MD5 challenge among the offered ones (RFC 8760: SHA-256 may come first; this client knows MD5). */
function md5Challenge(values) {
  for (const v of values) {
    const p = challengeParams(v);
    if (!p.algorithm || p.algorithm.toUpperCase() === "MD5") return p;
  }
  return undefined;
}

/** RFC 2617 §3.2.2 response with qop=auth. */
function authorization(ch, user, method, uri) {
  const cnonce = id() + "c"; // unique per request; randomBytes would cost the client more than the hash
  const nc = "00000001";
  const ha1 = md5(`${user}:${ch.realm}:${o.password}`);
  const response = md5(`${ha1}:${ch.nonce}:${nc}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
  return `Digest username="${user}", realm="${ch.realm}", nonce="${ch.nonce}", uri="${uri}", ` +
    `response="${response}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}"` +
    (ch.opaque !== undefined ? `, opaque="${ch.opaque}"` : "");
}

// ------------------------------------------------------------------ --aors N
// Registrations spread over N AORs (user0000…, N ≥ the clients): client k registers the AORs
// k, k + conns, k + 2·conns… in turn, so each AOR always comes from the same flow and Contact. Its
// first REGISTER is a new registration (a Location object created); later ones refresh it, N/conns
// operations of that client later: the shard's binding cache and the HA1 cache see what a
// deployment with N AORs gives them, not 50 AORs refreshed back to back.
const aorCallIds = [];
const aorCseq = o.aors > 0 ? new Uint32Array(o.aors) : undefined;
function takeAor(c) {
  const next = c.aor === undefined ? c.index : c.aor + o.conns;
  c.aor = next < o.aors ? next : c.index;
  c.user = "user" + String(o.userBase + c.aor).padStart(4, "0");
  c.regCallId = aorCallIds[c.aor] ??= id();
  c.cseq = aorCseq[c.aor];
  c.fresh = c.cseq === 0;
  aorCseq[c.aor] += 2; // the challenged REGISTER and the authenticated one
}

// ------------------------------------------------------------------ scenarios
// A scenario: start(conn) sends the first message of one operation; onMessage(conn, msg)
// advances it and calls conn.done(ok, reason) when the operation ends.
const SCENARIOS = {
  reg: {
    start(c) {
      if (o.aors > 0 && o.mode === "reg") takeAor(c);
      c.state = "reg1"; c.cseq++; c.send(register(c, null));
    },
    onMessage(c, msg) {
      if (!msg.startsWith("SIP/2.0 ")) return;
      const code = Number(msg.slice(8, 11));
      const cseq = header(msg, "cseq");
      if (header(msg, "call-id") !== c.regCallId || parseInt(cseq, 10) !== c.cseq || code < 200) return;
      if (c.state === "reg1" && code === 401) {
        const ch = md5Challenge(headerValues(msg, "www-authenticate"));
        if (!ch) return c.done(false, "401-without-md5-challenge");
        c.state = "reg2"; c.cseq++;
        c.send(register(c, authorization(ch, c.user, "REGISTER", `sip:${o.domain}`)));
        return;
      }
      c.done(c.state === "reg2" && code === 200, `${c.state}-${code}`);
    },
  },
  options: {
    start(c) { c.cseq++; c.send(options(c)); },
    onMessage(c, msg) {
      if (!msg.startsWith("SIP/2.0 ") || parseInt(header(msg, "cseq"), 10) !== c.cseq) return;
      const code = Number(msg.slice(8, 11));
      if (code >= 200) c.done(code === 200, `options-${code}`);
    },
  },
  // The runtime floor (bench/floor): a REGISTER echoed by a bare hibernating object.
  // Run against that worker only; a registration is two of these round trips, a SIP answer, less.
  echo: {
    start(c) { c.cseq++; c.expect = register(c, null); c.send(c.expect); },
    onMessage(c, msg) { c.done(msg === c.expect, "echo-mismatch"); },
  },
  ping: {
    start(c) { c.send("\r\n\r\n"); },
    onMessage(c, msg) { if (msg === "\r\n") c.done(true); },
  },
  call: {
    prepare: "reg", // every connection registers once, before the window
    start(c) {
      c.callId = id(); c.tag = id(); c.cseq = 1; c.branch = "z9hG4bK" + id(); c.toTag = "";
      // u2u: the even connection calls the odd one after it (a registered user); call: a PSTN number.
      c.num = c.peer ?? o.prefix + String(Math.floor(Math.random() * 1e7)).padStart(7, "0");
      c.state = "inv1";
      c.send(invite(c, null));
    },
    onMessage(c, msg) {
      if (!msg.startsWith("SIP/2.0 ") || header(msg, "call-id") !== c.callId) return;
      const code = Number(msg.slice(8, 11));
      const cseq = header(msg, "cseq");
      const n = parseInt(cseq, 10);
      if (cseq.endsWith("BYE")) {
        if (c.state === "bye" && code >= 200) c.done(code < 300, `bye-${code}`, c.setupMs);
        return;
      }
      if (code < 200) return;
      if (code < 300) return callAnswered(c, msg, n);
      if (n !== c.cseq || (c.state !== "inv1" && c.state !== "inv2")) return;
      // RFC 3261 §17.1.1.3: the ACK for a non-2xx final takes the INVITE's branch and the response's To.
      c.send(ackNon2xx(c, header(msg, "to"), n));
      const ch = code === 407 && c.state === "inv1" ? md5Challenge(headerValues(msg, "proxy-authenticate")) : undefined;
      if (!ch) return c.done(false, `${c.state}-${code}`);
      c.cseq = 2; c.branch = "z9hG4bK" + id(); c.state = "inv2";
      c.send(invite(c, authorization(ch, c.user, "INVITE", `sip:${c.num}@${o.domain}`)));
    },
  },
};

// A call between two WebSocket users: the call scenario from every even connection to the odd
// one after it, whose callee side (answerCall) rings and answers. One operation per call.
SCENARIOS.u2u = SCENARIOS.call;
// The call's floor (bench/floor/call-worker.js): the same flow against a bare object and bridge.
SCENARIOS.callfloor = SCENARIOS.call;
// The registration's floor: the reg flow against that bare object (401, then 200, nothing checked).
SCENARIOS.regfloor = SCENARIOS.reg;

/** The callee of u2u: 180 and 200 (with Contact, the Record-Route set and an answer) to an INVITE, 200 to a BYE. */
function answerCall(c, msg) {
  if (!msg.startsWith("INVITE ")) return answer(c, msg);
  const to = header(msg, "to");
  const head = (code, reason) => `SIP/2.0 ${code} ${reason}\r\n${headerValues(msg, "via").map((v) => `Via: ${v}\r\n`).join("")}` +
    headerValues(msg, "record-route").map((v) => `Record-Route: ${v}\r\n`).join("") +
    `To: ${to};tag=${c.regTag}\r\nFrom: ${header(msg, "from")}\r\nCall-ID: ${header(msg, "call-id")}\r\nCSeq: ${header(msg, "cseq")}\r\n` +
    `Contact: <sip:${c.user}@${c.host};transport=ws;ob>\r\n`;
  c.send(head(180, "Ringing") + "Content-Length: 0\r\n\r\n");
  c.send(head(200, "OK") + `Content-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(SDP)}\r\n\r\n` + SDP);
}

/** A 2xx to the INVITE: ACK and BYE along its route set (RFC 3261 §12.1.2), or the ACK again for a retransmission. */
function callAnswered(c, msg, n) {
  const to = header(msg, "to");
  if (c.state === "inv1" || c.state === "inv2") {
    c.setupMs = performance.now() - c.t0;
    c.toTag = tagOf(to);
    const contact = header(msg, "contact");
    const lt = contact.indexOf("<");
    c.target = lt >= 0 ? contact.slice(lt + 1, contact.indexOf(">", lt)) : contact.split(";")[0].trim();
    // The route set is the Record-Route list reversed; one header may hold several entries.
    c.routes = headerValues(msg, "record-route").flatMap((v) => v.split(/,(?=\s*<)/).map((r) => r.trim())).reverse();
    c.ackBranch = "z9hG4bK" + id();
    c.state = "bye";
    c.send(inDialog(c, "ACK", n, c.ackBranch));
    c.send(inDialog(c, "BYE", n + 1, "z9hG4bK" + id()));
  } else if (c.state === "bye" && tagOf(to) === c.toTag) {
    c.send(inDialog(c, "ACK", n, c.ackBranch)); // the 200 retransmitted: our ACK was lost or late
  }
}

function tagOf(v) {
  const at = v.indexOf(";tag=");
  if (at < 0) return "";
  const end = v.slice(at + 5).search(/[;>\s]|$/);
  return v.slice(at + 5, at + 5 + end);
}

// The offer ../shared/bench/loadgen.js sends (PCMU, PCMA, telephone-event): 223 bytes.
// --sdp FILE: the offer of the INVITEs (e.g. test/fixtures/sdp/chromium-offer.sdp, a browser's).
const SDP = o.sdp ? readFileSync(o.sdp, "utf8").replace(/\r?\n/g, "\r\n") : [
  "v=0", "o=- 4858373837 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
  "m=audio 40000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv", "",
].join("\r\n");

function invite(c, auth) {
  return `INVITE sip:${c.num}@${o.domain} SIP/2.0\r\n` +
    `Via: SIP/2.0/WS ${c.host};branch=${c.branch};rport\r\n` +
    `Max-Forwards: 70\r\n` +
    `To: <sip:${c.num}@${o.domain}>\r\n` +
    `From: "${c.user}" <sip:${c.user}@${o.domain}>;tag=${c.tag}\r\n` +
    `Call-ID: ${c.callId}\r\n` +
    `CSeq: ${c.cseq} INVITE\r\n` +
    (auth ? `Proxy-Authorization: ${auth}\r\n` : "") +
    `Contact: <sip:${c.user}@${c.host};transport=ws;ob>\r\n` +
    `Allow: INVITE,ACK,CANCEL,BYE,OPTIONS\r\n` +
    `Supported: outbound\r\n` +
    `User-Agent: sipedge-loadgen\r\n` +
    `Content-Type: application/sdp\r\n` +
    `Content-Length: ${Buffer.byteLength(SDP)}\r\n\r\n` + SDP;
}

function ackNon2xx(c, to, n) {
  return `ACK sip:${c.num}@${o.domain} SIP/2.0\r\n` +
    `Via: SIP/2.0/WS ${c.host};branch=${c.branch};rport\r\n` +
    `Max-Forwards: 70\r\n` +
    `To: ${to}\r\n` +
    `From: "${c.user}" <sip:${c.user}@${o.domain}>;tag=${c.tag}\r\n` +
    `Call-ID: ${c.callId}\r\n` +
    `CSeq: ${n} ACK\r\n` +
    `Content-Length: 0\r\n\r\n`;
}

function inDialog(c, method, n, branch) {
  return `${method} ${c.target} SIP/2.0\r\n` +
    `Via: SIP/2.0/WS ${c.host};branch=${branch};rport\r\n` +
    `Max-Forwards: 70\r\n` +
    (c.routes.length ? `Route: ${c.routes.join(", ")}\r\n` : "") +
    `To: <sip:${c.num}@${o.domain}>;tag=${c.toTag}\r\n` +
    `From: "${c.user}" <sip:${c.user}@${o.domain}>;tag=${c.tag}\r\n` +
    `Call-ID: ${c.callId}\r\n` +
    `CSeq: ${n} ${method}\r\n` +
    `User-Agent: sipedge-loadgen\r\n` +
    `Content-Length: 0\r\n\r\n`;
}

/** 200 to a request the proxy sends us (e.g. a keep-alive OPTIONS); never to an ACK. */
function answer(c, msg) {
  if (msg.startsWith("ACK ")) return;
  const to = header(msg, "to");
  c.send(`SIP/2.0 200 OK\r\n${headerValues(msg, "via").map((v) => `Via: ${v}\r\n`).join("")}` +
    `To: ${to}${to.includes(";tag=") ? "" : `;tag=${id()}`}\r\nFrom: ${header(msg, "from")}\r\n` +
    `Call-ID: ${header(msg, "call-id")}\r\nCSeq: ${header(msg, "cseq")}\r\nContent-Length: 0\r\n\r\n`);
}

function register(c, auth) {
  return `REGISTER sip:${o.domain} SIP/2.0\r\n` +
    `Via: SIP/2.0/WS ${c.host};branch=z9hG4bK${id()};rport\r\n` +
    `Max-Forwards: 70\r\n` +
    `To: <sip:${c.user}@${o.domain}>\r\n` +
    `From: <sip:${c.user}@${o.domain}>;tag=${c.regTag}\r\n` +
    `Call-ID: ${c.regCallId}\r\n` +
    `CSeq: ${c.cseq} REGISTER\r\n` +
    (auth ? `Authorization: ${auth}\r\n` : "") +
    `Contact: <sip:${c.user}@${c.host};transport=ws>;expires=${o.expires}\r\n` +
    `Expires: ${o.expires}\r\n` +
    `Allow: INVITE,ACK,CANCEL,BYE,OPTIONS\r\n` +
    `User-Agent: sipedge-loadgen\r\n` +
    `Content-Length: 0\r\n\r\n`;
}

function options(c) {
  return `OPTIONS sip:${o.domain} SIP/2.0\r\n` +
    `Via: SIP/2.0/WS ${c.host};branch=z9hG4bK${id()};rport\r\n` +
    `Max-Forwards: 70\r\n` +
    `To: <sip:${o.domain}>\r\n` +
    `From: <sip:${c.user}@${o.domain}>;tag=${c.regTag}\r\n` +
    `Call-ID: ${c.regCallId}\r\n` +
    `CSeq: ${c.cseq} OPTIONS\r\n` +
    `User-Agent: sipedge-loadgen\r\n` +
    `Content-Length: 0\r\n\r\n`;
}

// ------------------------------------------------------------------ connections and the window
const scenario = SCENARIOS[o.mode];
if (!scenario) { console.error(`loadgen: unknown mode ${o.mode} (${Object.keys(SCENARIOS).join(", ")})`); process.exit(2); }
// lat: the operation's latency (a call's setup); lat2: a call's whole duration.
const st = { ok: 0, fail: 0, reasons: {}, lat: [], lat2: [], sent: 0, late: 0, fresh: 0, perSec: [], sentWin: 0, recvWin: 0 };
/** Messages sent and received inside the window, per operation: more than the scenario's when the server sends extra. */
const inWindow = () => { const now = Date.now(); return now >= winStart && now <= winEnd; };
/** Connections that start operations (u2u: the callers); --rate spreads over these. */
let active = 0;
let running = false;
let winStart = Infinity;
let winEnd = Infinity;

class Conn {
  constructor(i) {
    this.index = i;
    this.user = "user" + String(o.userBase + i).padStart(4, "0");
    this.host = `h${P}${i}.invalid`;
    this.regCallId = id();
    this.regTag = id();
    this.cseq = 0;
    this.busy = false;
    this.state = "idle";
    this.scenario = scenario;
    this.onIdle = undefined;
  }
  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(o.url, ["sip"], { perMessageDeflate: o.deflate === "yes" });
      this.ws.on("open", resolve);
      this.ws.on("error", reject);
      this.ws.on("close", () => this.done(false, "ws-closed"));
      this.ws.on("message", (d) => {
        const msg = d.toString();
        if (inWindow()) st.recvWin++;
        // The edge's keep-alive OPTIONS (WS_KEEPALIVE_INTERVAL): answered as softphones do.
        if (msg.startsWith("OPTIONS ")) answer(this, msg);
        else if (o.mode === "u2u" && msg.length > 2 && !msg.startsWith("SIP/2.0 ")) answerCall(this, msg);
        else if ((o.mode === "call" || o.mode === "callfloor") && msg.length > 2 && !msg.startsWith("SIP/2.0 ")) answer(this, msg);
        else if (this.busy) this.scenario.onMessage(this, msg);
      });
    });
  }
  send(s) { this.ws.send(s); st.sent++; if (inWindow()) st.sentWin++; }
  start() {
    if (this.callee) return; // u2u: answers calls, makes none
    this.busy = true;
    this.t0 = performance.now();
    this.timer = setTimeout(() => this.done(false, `timeout-${this.state}`), o.timeout);
    this.scenario.start(this);
  }
  /** Runs `SCENARIOS[name]` once, outside any window (a call's registration). */
  prepare(name) {
    return new Promise((resolve) => {
      this.scenario = SCENARIOS[name];
      this.onIdle = (ok, why) => { this.scenario = scenario; resolve(ok ? true : why); };
      this.start();
    });
  }
  /** Ends the operation; `setupMs` is a call's setup latency (then the total goes to lat2). */
  done(ok, why, setupMs) {
    if (!this.busy) return;
    clearTimeout(this.timer);
    this.busy = false;
    this.state = "idle";
    if (this.onIdle) { const f = this.onIdle; this.onIdle = undefined; f(ok, why); return; }
    const now = Date.now();
    if (now >= winStart && now <= winEnd) {
      if (ok) {
        st.ok++;
        // Completions per second of the window (bench/run.mjs --series lines them up with CPU).
        const sec = Math.floor((now - winStart) / 1000);
        st.perSec[sec] = (st.perSec[sec] ?? 0) + 1;
        if (this.fresh) st.fresh++;
        if (setupMs === undefined) st.lat.push(performance.now() - this.t0);
        else { st.lat.push(setupMs); st.lat2.push(performance.now() - this.t0); }
      } else { st.fail++; st.reasons[why] = (st.reasons[why] ?? 0) + 1; }
    }
    if (!running || now >= winEnd) return;
    if (o.rate <= 0) { this.start(); return; }
    this.due += (active / o.rate) * 1000;
    const wait = this.due - now;
    if (wait <= 0) { st.late++; this.due = now; this.start(); }
    else setTimeout(() => { if (running) this.start(); }, wait);
  }
}

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return +sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))].toFixed(2);
}

if (o.aors > 0 && o.aors < o.conns) { console.error(`loadgen: --aors ${o.aors} is fewer than the ${o.conns} clients`); process.exit(2); }
const conns = Array.from({ length: o.conns }, (_, i) => new Conn(i));
if (o.mode === "u2u") for (let i = 0; i + 1 < conns.length; i += 2) conns[i].peer = conns[i + 1].user;
const t0 = performance.now();
try {
  for (let i = 0; i < conns.length; i += o.batch) await Promise.all(conns.slice(i, i + o.batch).map((c) => c.open()));
} catch (e) {
  console.error(`loadgen: connect to ${o.url} failed: ${e.message}`);
  process.exit(1);
}
if (scenario.prepare) {
  for (let i = 0; i < conns.length; i += o.batch) {
    const bad = (await Promise.all(conns.slice(i, i + o.batch).map((c) => c.prepare(scenario.prepare)))).filter((r) => r !== true);
    if (bad.length) { console.error(`loadgen: ${scenario.prepare} before the window failed: ${JSON.stringify(bad.slice(0, 5))}`); process.exit(1); }
  }
}
// u2u: every connection registered above; those that call nobody only answer from now on.
if (o.mode === "u2u") for (const c of conns) if (c.peer === undefined) c.callee = true;
const connectMs = +(performance.now() - t0).toFixed(1);

function go(start, end) {
  winStart = start; winEnd = end;
  running = true;
  const starters = conns.filter((c) => !c.callee);
  active = starters.length;
  if (o.rate > 0) {
    // Staggered first starts, one interval spread over the connections.
    const interval = (active / o.rate) * 1000;
    starters.forEach((c, i) => {
      c.due = Date.now() + (i * interval) / active;
      setTimeout(() => c.start(), c.due - Date.now());
    });
  } else for (const c of conns) c.start();
  setTimeout(finish, Math.max(0, winEnd - Date.now()));
}

function finish() {
  running = false;
  const cpu = process.cpuUsage();
  const end = () => {
    st.lat.sort((x, y) => x - y);
    st.lat2.sort((x, y) => x - y);
    const secs = (winEnd - winStart) / 1000;
    console.log(JSON.stringify({
      mode: o.mode, conns: o.conns, ok: st.ok, fail: st.fail, reasons: st.reasons, sent: st.sent,
      rate: +(st.ok / secs).toFixed(1), p50: pct(st.lat, 50), p90: pct(st.lat, 90), p99: pct(st.lat, 99),
      max: pct(st.lat, 100), connectMs, cpuUs: cpu.user + cpu.system, okPerSec: Array.from(st.perSec, (n) => n ?? 0), sentWin: st.sentWin, recvWin: st.recvWin,
      ...(o.rate > 0 ? { offered: o.rate, late: st.late } : {}),
      ...(o.aors > 0 ? { aors: o.aors, fresh: st.fresh } : {}),
      ...(st.lat2.length ? { total_p50: pct(st.lat2, 50), total_p99: pct(st.lat2, 99) } : {}),
    }));
    for (const c of conns) c.ws.terminate();
    setTimeout(() => process.exit(0), 20);
  };
  // Operations in flight may finish (uncounted) before the sockets close, so the edge does not
  // log a storm of lost flows into the next measurement.
  const t = setInterval(() => { if (!conns.some((c) => c.busy) || Date.now() > winEnd + 3000) { clearInterval(t); end(); } }, 20);
}

if (o.control === "stdin") {
  console.log(JSON.stringify({ ready: true, connectMs }));
  let input = "";
  process.stdin.on("data", (d) => {
    input += d;
    const nl = input.indexOf("\n");
    if (nl < 0) return;
    const [, a, b] = input.slice(0, nl).split(" ");
    process.stdin.pause();
    go(Number(a), Number(b));
  });
} else {
  const start = Date.now() + o.warmup * 1000;
  go(start, start + o.duration * 1000);
}

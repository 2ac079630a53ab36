// Closed-loop SIP-over-WebSocket load generator for the object-map bench (one operation in
// flight per connection, so --conns is the concurrency). Runs as its own process.
//   node loadgen.mjs --url ws://127.0.0.1:PORT/?map=A&reg=write --mode reg|call|idle --conns 50
// Protocol with run.mjs: prints {"ready":...} once connected; reads "go WINSTART WINEND" (epoch
// ms) on stdin, runs until WINEND, prints one JSON line of results. Mode idle only connects and
// waits for stdin to close.
//   reg : REGISTER -> 401 -> REGISTER with Authorization (MD5, qop=auth) -> 200
//   call: INVITE (SDP) -> 100/180/200 -> ACK + BYE -> 200 for the BYE
import { createHash, randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

const o = { url: "", mode: "reg", conns: 50, timeout: 10000, batch: 50 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, "");
  o[k] = typeof o[k] === "number" ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
const DOMAIN = "localhost";
const P = randomBytes(3).toString("hex");
let seq = 0;
const id = () => P + (++seq).toString(36);
const md5 = (s) => createHash("md5").update(s).digest("hex");
const SDP = [
  "v=0", "o=- 4858373837 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
  "m=audio 40000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv", "",
].join("\r\n");

function value(msg, name) {
  const needle = "\r\n" + name + ": ";
  const at = msg.indexOf(needle);
  if (at < 0) return "";
  return msg.slice(at + needle.length, msg.indexOf("\r\n", at + needle.length));
}
function param(v, name) {
  const m = new RegExp("[ ,]" + name + '="?([^",]*)').exec(v);
  return m ? m[1] : "";
}
function allValues(msg, name) {
  const out = [];
  const head = msg.indexOf("\r\n\r\n");
  let at = msg.indexOf("\r\n" + name + ": ");
  while (at >= 0 && at < head) {
    const end = msg.indexOf("\r\n", at + 2);
    out.push(msg.slice(at + name.length + 4, end));
    at = msg.indexOf("\r\n" + name + ": ", end);
  }
  return out;
}

const st = { ok: 0, fail: 0, reasons: {}, lat: [], setup: [], sent: 0 };
let running = false;
let winStart = Infinity;
let winEnd = Infinity;

class Conn {
  constructor(i) {
    this.user = "user" + String(i).padStart(4, "0");
    this.host = "h" + P + i + ".invalid";
    this.regCallId = id();
    this.regTag = id();
    this.cseq = 0;
    this.busy = false;
  }
  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(o.url, ["sip"], { perMessageDeflate: false });
      this.ws.on("open", resolve);
      this.ws.on("error", reject);
      this.ws.on("close", () => { if (this.busy) this.done(false, "ws-closed"); });
      this.ws.on("message", (d) => this.onMsg(d.toString()));
    });
  }
  send(s) { this.ws.send(s); st.sent++; }
  start() {
    this.busy = true;
    this.t0 = performance.now();
    this.timer = setTimeout(() => this.done(false, "timeout:" + this.state), o.timeout);
    if (o.mode === "reg") { this.state = "reg1"; this.cseq++; this.send(this.register(null)); }
    else this.startCall();
  }
  done(ok, why, setup) {
    if (!this.busy) return;
    clearTimeout(this.timer);
    this.busy = false;
    const now = Date.now();
    if (now >= winStart && now <= winEnd) {
      if (ok) { st.ok++; st.lat.push(performance.now() - this.t0); if (setup !== undefined) st.setup.push(setup); }
      else { st.fail++; st.reasons[why] = (st.reasons[why] ?? 0) + 1; }
    }
    if (running && now < winEnd) this.start();
  }
  register(auth) {
    return `REGISTER sip:${DOMAIN} SIP/2.0\r\n` +
      `Via: SIP/2.0/WS ${this.host};branch=z9hG4bK${id()};rport\r\n` +
      `Max-Forwards: 70\r\n` +
      `To: <sip:${this.user}@${DOMAIN}>\r\n` +
      `From: <sip:${this.user}@${DOMAIN}>;tag=${this.regTag}\r\n` +
      `Call-ID: ${this.regCallId}\r\n` +
      `CSeq: ${this.cseq} REGISTER\r\n` +
      (auth ? `Authorization: ${auth}\r\n` : "") +
      `Contact: <sip:${this.user}@${this.host};transport=ws>;expires=600\r\n` +
      `Expires: 600\r\n` +
      `Allow: INVITE,ACK,CANCEL,BYE,OPTIONS\r\n` +
      `User-Agent: objmap-loadgen\r\n` +
      `Content-Length: 0\r\n\r\n`;
  }
  authorization(challenge) {
    const realm = param(challenge, "realm");
    const nonce = param(challenge, "nonce");
    const uri = `sip:${DOMAIN}`;
    const cnonce = id();
    const nc = "00000001";
    const ha1 = md5(`${this.user}:${realm}:pw`);
    const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
    return `Digest username="${this.user}", realm="${realm}", nonce="${nonce}", uri="${uri}", ` +
      `response="${response}", qop=auth, nc=${nc}, cnonce="${cnonce}", algorithm=MD5`;
  }
  startCall() {
    this.callId = id(); this.tag = id(); this.state = "invite";
    this.num = "1555" + String(Math.floor(Math.random() * 1e7)).padStart(7, "0");
    this.send(`INVITE sip:${this.num}@${DOMAIN} SIP/2.0\r\n` +
      `Via: SIP/2.0/WS ${this.host};branch=z9hG4bK${id()};rport\r\n` +
      `Max-Forwards: 70\r\n` +
      `To: <sip:${this.num}@${DOMAIN}>\r\n` +
      `From: "${this.user}" <sip:${this.user}@${DOMAIN}>;tag=${this.tag}\r\n` +
      `Call-ID: ${this.callId}\r\n` +
      `CSeq: 1 INVITE\r\n` +
      `Contact: <sip:${this.user}@${this.host};transport=ws;ob>\r\n` +
      `Allow: INVITE,ACK,CANCEL,BYE,OPTIONS\r\n` +
      `Supported: outbound\r\n` +
      `User-Agent: objmap-loadgen\r\n` +
      `Content-Type: application/sdp\r\n` +
      `Content-Length: ${Buffer.byteLength(SDP)}\r\n\r\n` + SDP);
  }
  inDialog(method, cseq) {
    return `${method} ${this.target} SIP/2.0\r\n` +
      `Via: SIP/2.0/WS ${this.host};branch=z9hG4bK${id()};rport\r\n` +
      `Max-Forwards: 70\r\n` +
      (this.routes ? `Route: ${this.routes}\r\n` : "") +
      `To: <sip:${this.num}@${DOMAIN}>;tag=${this.toTag}\r\n` +
      `From: "${this.user}" <sip:${this.user}@${DOMAIN}>;tag=${this.tag}\r\n` +
      `Call-ID: ${this.callId}\r\n` +
      `CSeq: ${cseq} ${method}\r\n` +
      `User-Agent: objmap-loadgen\r\n` +
      `Content-Length: 0\r\n\r\n`;
  }
  onMsg(msg) {
    if (!this.busy || !msg.startsWith("SIP/2.0 ")) return;
    const code = Number(msg.slice(8, 11));
    const cseq = value(msg, "CSeq");
    if (o.mode === "reg") {
      if (this.state === "reg1" && code === 401) {
        this.state = "reg2"; this.cseq++;
        this.send(this.register(this.authorization(value(msg, "WWW-Authenticate"))));
      } else if (this.state === "reg2") this.done(code === 200, "reg-" + code);
      return;
    }
    if (value(msg, "Call-ID") !== this.callId) return;
    if (this.state === "invite" && cseq.endsWith("INVITE")) {
      if (code < 200) return;
      if (code >= 300) return this.done(false, "invite-" + code);
      this.setupMs = performance.now() - this.t0;
      const to = value(msg, "To");
      this.toTag = to.slice(to.indexOf(";tag=") + 5);
      const c = value(msg, "Contact");
      this.target = c.slice(c.indexOf("<") + 1, c.indexOf(">"));
      this.routes = allValues(msg, "Record-Route").reverse().join(", ");
      this.send(this.inDialog("ACK", 1));
      this.state = "bye";
      this.send(this.inDialog("BYE", 2));
    } else if (this.state === "bye" && cseq.endsWith("BYE") && code >= 200) {
      this.done(code === 200, "bye-" + code, this.setupMs);
    }
  }
}

function pct(a, p) {
  if (a.length === 0) return null;
  return +a[Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1))].toFixed(2);
}

const conns = Array.from({ length: o.conns }, (_, i) => new Conn(i));
const t0 = performance.now();
for (let i = 0; i < conns.length; i += o.batch) await Promise.all(conns.slice(i, i + o.batch).map((c) => c.open()));
console.log(JSON.stringify({ ready: true, connectMs: +(performance.now() - t0).toFixed(1) }));

let input = "";
process.stdin.on("data", (d) => {
  input += d;
  const nl = input.indexOf("\n");
  if (nl < 0 || o.mode === "idle") return;
  const [, a, b] = input.slice(0, nl).split(" ");
  winStart = Number(a); winEnd = Number(b);
  running = true;
  for (const c of conns) c.start();
  setTimeout(finish, Math.max(0, winEnd - Date.now()));
});
process.stdin.on("end", () => { if (o.mode === "idle") { for (const c of conns) c.ws.terminate(); process.exit(0); } });

function finish() {
  running = false;
  const cpu = process.cpuUsage();
  const end = () => {
    st.lat.sort((x, y) => x - y); st.setup.sort((x, y) => x - y);
    console.log(JSON.stringify({
      ok: st.ok, fail: st.fail, reasons: st.reasons, sent: st.sent,
      p50: pct(st.lat, 50), p99: pct(st.lat, 99), setupP50: pct(st.setup, 50), setupP99: pct(st.setup, 99),
      cpuUs: cpu.user + cpu.system,
    }));
    for (const c of conns) c.ws.terminate();
    setTimeout(() => process.exit(0), 20);
  };
  // Let the operations in flight finish (they are not counted) before closing the sockets.
  const t = setInterval(() => { if (!conns.some((c) => c.busy) || Date.now() > winEnd + 3000) { clearInterval(t); end(); } }, 20);
}

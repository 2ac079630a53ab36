// Bridge + gateway stand-in: dials the edge like the real bridge (one link to the hub at
// /bridge and one per shard at /bridge?shard=k) and answers each forwarded INVITE itself with
// 100, 180 and 200 (with SDP), ignores the ACK and answers the BYE with 200. It runs in its own
// process so its CPU is not counted in workerd's.
//   node bridge.mjs ws://127.0.0.1:PORT SHARDS
// Prints "ready" when every link is open.
import WebSocket from "ws";

const [base, shardsArg] = process.argv.slice(2);
const shards = Number(shardsArg ?? "4");
const SDP = [
  "v=0", "o=gw 7070 7070 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
  "m=audio 30000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv", "",
].join("\r\n");
let tagSeq = 0;

/** Every header line named `name` (Via, Record-Route), in order, each ending in CRLF. */
function lines(msg, name) {
  const head = msg.indexOf("\r\n\r\n");
  const needle = "\r\n" + name + ": ";
  let out = "";
  let at = msg.indexOf(needle);
  while (at >= 0 && at < head) {
    const end = msg.indexOf("\r\n", at + 2);
    out += msg.slice(at + 2, end + 2);
    at = msg.indexOf(needle, end);
  }
  return out;
}

function value(msg, name) {
  const needle = "\r\n" + name + ": ";
  const at = msg.indexOf(needle);
  if (at < 0) return "";
  return msg.slice(at + needle.length, msg.indexOf("\r\n", at + needle.length));
}

function response(req, code, reason, toTag, dialog, body) {
  const to = value(req, "To");
  return "SIP/2.0 " + code + " " + reason + "\r\n" + lines(req, "Via") +
    (dialog ? lines(req, "Record-Route") : "") +
    "From: " + value(req, "From") + "\r\n" +
    "To: " + (toTag && !to.includes(";tag=") ? to + ";tag=" + toTag : to) + "\r\n" +
    "Call-ID: " + value(req, "Call-ID") + "\r\n" +
    "CSeq: " + value(req, "CSeq") + "\r\n" +
    (dialog ? "Contact: <sip:gw@127.0.0.1:7070>\r\n" : "") +
    "Server: objmap-gateway\r\n" +
    (body ? "Content-Type: application/sdp\r\nContent-Length: " + Buffer.byteLength(body) + "\r\n\r\n" + body
      : "Content-Length: 0\r\n\r\n");
}

function onMessage(ws, data) {
  const msg = data.toString();
  const method = msg.slice(0, msg.indexOf(" "));
  if (method === "INVITE") {
    const tag = "gw" + (++tagSeq).toString(36);
    ws.send(response(msg, 100, "Trying", "", false, ""));
    ws.send(response(msg, 180, "Ringing", tag, true, ""));
    ws.send(response(msg, 200, "OK", tag, true, SDP));
  } else if (method === "BYE") {
    ws.send(response(msg, 200, "OK", "", false, ""));
  }
}

const urls = [base + "/bridge"];
for (let k = 0; k < shards; k++) urls.push(base + "/bridge?shard=" + k);
await Promise.all(urls.map((url) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url, ["sip"], { perMessageDeflate: false });
  ws.on("open", resolve);
  ws.on("error", reject);
  ws.on("message", (d) => onMessage(ws, d));
  ws.on("close", () => { console.error("bridge link closed: " + url); });
})));
console.log("ready");
process.stdin.on("end", () => process.exit(0)); // the parent closes stdin to stop us
process.stdin.resume();

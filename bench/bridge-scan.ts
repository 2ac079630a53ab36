/**
 * The bridge's per-datagram reading cost: the edge's full parser as the bridge ran it before
 * (Buffer → UTF-8 string → parseMessage) against the bridge's scanner (bridge/scan.ts, on the
 * Buffer), on the seven datagrams of a call to a gateway as the bridge relays them: INVITE, ACK
 * and BYE from the edge, 100, 180, 200 and the BYE's 200 from the gateway (sipp's uac/uas shapes,
 * the edge's two Vias and Record-Routes). Both sides include `isUtf8` on the gateway's datagrams,
 * which the bridge runs anyway to pick the frame type.
 *
 *   npm run bench:scan                      (node --experimental-strip-types bench/bridge-scan.ts)
 *   ROUNDS=15 ROUND_MS=300 npm run bench:scan
 *
 * CPU time (user + system), interleaved rounds, median per datagram.
 */
import { isUtf8 } from "node:buffer";
import { scanMessage } from "../bridge/scan.ts";
import { parseMessage } from "../src/sip/parser.ts";

const crlf = (...lines: string[]) => lines.join("\r\n");
const SDP = crlf(
  "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.5", "s=-", "c=IN IP4 127.0.0.5", "t=0 0",
  "m=audio 30000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=sendrecv", "",
);
const EDGE_VIA = "Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKs0.c1b2a3.0;rport";
const PHONE_VIA = "Via: SIP/2.0/WSS 4ppdls1jevh4.invalid;received=127.0.0.4;rport=51234;branch=z9hG4bK8532749";
const RR = "Record-Route: <sip:127.0.0.2:5060;lr;shard=3>, <sip:sip.example.test;transport=ws;lr;shard=3>";
const FROM = 'From: "Alice" <sip:alice@sip.example.test>;tag=k3mbj1ff4e';
const TO = "To: <sip:+15551234@sip.example.test>";
const CALL_ID = "Call-ID: 4a1f7k2ebvurfn0dfvq8";
const GW_CONTACT = "Contact: <sip:127.0.0.20:7070;transport=UDP>";

function response(status: string, cseq: string, extra: string[], body = ""): string {
  return crlf(`SIP/2.0 ${status}`, EDGE_VIA, PHONE_VIA, ...extra, FROM, TO + ";tag=1234SIPpTag01", CALL_ID, `CSeq: ${cseq}`,
    GW_CONTACT, ...(body === "" ? [] : ["Content-Type: application/sdp"]), `Content-Length: ${Buffer.byteLength(body)}`, "", body);
}

const CALL: [string, "edge" | "gateway", string][] = [
  ["INVITE", "edge", crlf(
    "INVITE sip:+15551234@127.0.0.20:7070 SIP/2.0", EDGE_VIA, PHONE_VIA, RR, "Max-Forwards: 69", FROM, TO, CALL_ID,
    "CSeq: 7893 INVITE", "Contact: <sip:g3r0s8vl@127.0.0.2:5060;transport=udp;shard=3>", "Content-Type: application/sdp",
    "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY", "Supported: timer,replaces",
    "User-Agent: JsSIP 3.13.8", `Content-Length: ${SDP.length}`, "", SDP)],
  ["100 Trying", "gateway", response("100 Trying", "7893 INVITE", [])],
  ["180 Ringing", "gateway", response("180 Ringing", "7893 INVITE", [RR])],
  ["200 OK (SDP)", "gateway", response("200 OK", "7893 INVITE", [RR], SDP)],
  ["ACK", "edge", crlf(
    "ACK sip:127.0.0.20:7070;transport=UDP SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKs0.ack1.0;rport",
    "Max-Forwards: 69", FROM, TO + ";tag=1234SIPpTag01", CALL_ID, "CSeq: 7893 ACK", "Content-Length: 0", "", "")],
  ["BYE", "edge", crlf(
    "BYE sip:127.0.0.20:7070;transport=UDP SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKs0.bye1.0;rport",
    PHONE_VIA.replace("8532749", "8532750"), "Max-Forwards: 69", FROM, TO + ";tag=1234SIPpTag01", CALL_ID, "CSeq: 7894 BYE", "Content-Length: 0", "", "")],
  ["200 OK (BYE)", "gateway", response("200 OK", "7894 BYE", []).replace("8532749", "8532750").replace("c1b2a3", "bye1")],
];

let sink = 0;

/** Before: what bridge.ts did per datagram (a UTF-8 string, then the full parse). */
function fullParse(data: Buffer, from: "edge" | "gateway"): void {
  const text = from === "edge" || isUtf8(data);
  const parsed = parseMessage(text ? data.toString("utf8") : data);
  if (!parsed.ok) throw new Error(parsed.reason);
  sink += parsed.message.callId.length + (parsed.message.vias()[0]?.branch?.length ?? 0);
}

/** After: the scanner on the Buffer (isUtf8 for the gateway's datagrams picks the frame type). */
function scan(data: Buffer, from: "edge" | "gateway"): void {
  const binary = from === "gateway" && !isUtf8(data);
  const scanned = scanMessage(data, binary);
  if (!scanned.ok) throw new Error(scanned.reason);
  sink += scanned.message.callId.length + (scanned.message.vias()[0]?.branch?.length ?? 0);
}

type Reader = typeof fullParse;

function cpuMs(read: Reader, data: Buffer, from: "edge" | "gateway", n: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) read(data, from);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

function calibrate(read: Reader, data: Buffer, from: "edge" | "gateway", ms: number): number {
  for (let n = 64; ; n *= 2) {
    const elapsed = cpuMs(read, data, from, n);
    if (elapsed >= ms) return Math.max(1, Math.round((n * ms) / elapsed));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function main(): void {
  const rounds = Number(process.env.ROUNDS ?? 9);
  const roundMs = Number(process.env.ROUND_MS ?? 150);
  console.log(`node ${process.version}; ${rounds} interleaved rounds of ~${roundMs} ms each; CPU µs per datagram, median\n`);
  console.log(`${"datagram".padEnd(14)} ${"from".padEnd(8)} ${"bytes".padStart(5)} ${"full parse".padStart(11)} ${"scan".padStart(8)} ${"ratio".padStart(6)}`);
  let totalFull = 0;
  let totalScan = 0;
  for (const [name, from, text] of CALL) {
    const data = Buffer.from(text, "utf8");
    const nFull = calibrate(fullParse, data, from, roundMs);
    const nScan = calibrate(scan, data, from, roundMs);
    const full: number[] = [];
    const lean: number[] = [];
    for (let r = 0; r < rounds; r++) {
      full.push((cpuMs(fullParse, data, from, nFull) * 1000) / nFull);
      lean.push((cpuMs(scan, data, from, nScan) * 1000) / nScan);
    }
    const f = median(full);
    const s = median(lean);
    totalFull += f;
    totalScan += s;
    console.log(`${name.padEnd(14)} ${from.padEnd(8)} ${String(data.length).padStart(5)} ${f.toFixed(2).padStart(8)} µs ${s.toFixed(2).padStart(5)} µs ${(f / s).toFixed(1).padStart(5)}×`);
  }
  console.log(`${"one call".padEnd(29)} ${totalFull.toFixed(1).padStart(8)} µs ${totalScan.toFixed(1).padStart(5)} µs ${(totalFull / totalScan).toFixed(1).padStart(5)}×`);
  if (sink === 42) console.log("");
}

main();

/**
 * The seed corpus the mutation fuzzer starts from: the RFC 4475 torture messages (read from
 * ../shared, never copied in), messages shaped like those JsSIP 3.x and SIP.js 0.21 send over
 * WebSocket, and messages rendered from the repository's own sipp scenarios (test/sipp), the
 * shape a UDP gateway sends through the bridge.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RFC4475_DIR_DEFAULT } from "../conformance/rfc4475.ts";

export interface Seed {
  name: string;
  /** A text frame (string) or a binary frame (bytes). */
  data: string | Uint8Array;
  /** Who sends it: a WebSocket client, or a gateway through the bridge (UDP). */
  via: "ws" | "udp";
}

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const DOMAIN = "sip.example.test";
/** The dispatcher destinations of the fuzz world (world.ts): gateways on their own addresses. */
export const GATEWAYS = ["127.0.0.20", "127.0.0.21", "127.0.0.22"] as const;

const crlf = (...lines: string[]) => lines.join("\r\n");

export function rfc4475Dir(): string {
  return resolve(repoRoot, process.env.SIPEDGE_RFC4475_DIR ?? RFC4475_DIR_DEFAULT);
}

/** The 49 torture messages as binary frames (mpart01 carries a binary body). */
export function rfc4475Seeds(): Seed[] {
  const dir = rfc4475Dir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".dat"))
    .sort()
    .map((f) => ({ name: `rfc4475/${f}`, data: new Uint8Array(readFileSync(resolve(dir, f))), via: "ws" as const }));
}

const WEBRTC_SDP = crlf(
  "v=0",
  "o=- 6148235923716283516 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0",
  "a=msid-semantic: WMS 3e5d0f2c",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126",
  "c=IN IP4 0.0.0.0",
  "a=rtcp:9 IN IP4 0.0.0.0",
  "a=candidate:842163049 1 udp 1677729535 192.0.2.33 50201 typ srflx raddr 0.0.0.0 rport 0 generation 0",
  "a=ice-ufrag:Yx3p",
  "a=ice-pwd:9m2l1bV0yq8u7t6r5e4w3q2a",
  "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF",
  "a=setup:actpass",
  "a=mid:0",
  "a=sendrecv",
  "a=rtcp-mux",
  "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;useinbandfec=1",
  "a=rtpmap:0 PCMU/8000",
  "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:126 telephone-event/8000",
  "",
);

function withLength(head: string[], body = ""): string {
  return crlf(...head, `Content-Length: ${new TextEncoder().encode(body).length}`, "", body);
}

/** What JsSIP 3.x writes: compact comma lists, `Max-Forwards: 69`, an .invalid Via host. */
function jssipSeeds(): Seed[] {
  const via = "Via: SIP/2.0/WSS 8k3jd9s2kfa1.invalid;branch=z9hG4bK7716372";
  const contact = `Contact: <sip:9b3hfe5r@8k3jd9s2kfa1.invalid;transport=ws>;+sip.ice;reg-id=1;+sip.instance="<urn:uuid:6d5f2a9a-8b1e-4c45-9a0e-2f0d3b0c1e7a>";expires=600`;
  const allow = "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY";
  const ua = "User-Agent: JsSIP 3.13.8";
  const seeds: [string, string][] = [
    ["register", withLength([`REGISTER sip:${DOMAIN} SIP/2.0`, via, "Max-Forwards: 69", `To: <sip:alice@${DOMAIN}>`, `From: <sip:alice@${DOMAIN}>;tag=ndvn7sbc0u`, "Call-ID: 3bdu0fe7kq0qvrm4bt5e1d", "CSeq: 1 REGISTER", contact, "Expires: 600", allow, "Supported: path,gruu,outbound", ua])],
    ["invite", withLength([`INVITE sip:bob@${DOMAIN} SIP/2.0`, via, "Max-Forwards: 69", `To: <sip:bob@${DOMAIN}>`, `From: "Alice" <sip:alice@${DOMAIN}>;tag=2hbg3sm5hv`, "Call-ID: o0h6c4rrrd9b3s1ptkkb", "CSeq: 8110 INVITE", "Contact: <sip:9b3hfe5r@8k3jd9s2kfa1.invalid;transport=ws;ob>", "Content-Type: application/sdp", "Session-Expires: 90", allow, "Supported: timer,ice,replaces,outbound", ua], WEBRTC_SDP)],
    ["invite-pstn", withLength([`INVITE sip:+15551234567@${DOMAIN} SIP/2.0`, via, "Max-Forwards: 69", `To: <sip:+15551234567@${DOMAIN}>`, `From: <sip:alice@${DOMAIN}>;tag=q1w2e3`, "Call-ID: p7d3kq1vtv0s8dq2x9lf", "CSeq: 2 INVITE", "Contact: <sip:9b3hfe5r@8k3jd9s2kfa1.invalid;transport=ws;ob>", "Content-Type: application/sdp", allow, ua], WEBRTC_SDP)],
    ["ack", withLength([`ACK sip:bob@127.0.0.2:5060;transport=ws SIP/2.0`, "Via: SIP/2.0/WSS 8k3jd9s2kfa1.invalid;branch=z9hG4bK2345678", "Max-Forwards: 69", `Route: <sip:${DOMAIN};transport=ws;r2=on;lr;ftag=2hbg3sm5hv>`, `To: <sip:bob@${DOMAIN}>;tag=bobtag1`, `From: "Alice" <sip:alice@${DOMAIN}>;tag=2hbg3sm5hv`, "Call-ID: o0h6c4rrrd9b3s1ptkkb", "CSeq: 8110 ACK", allow, ua])],
    ["bye", withLength([`BYE sip:bob@127.0.0.2:5060;transport=ws SIP/2.0`, "Via: SIP/2.0/WSS 8k3jd9s2kfa1.invalid;branch=z9hG4bK9912741", "Max-Forwards: 69", `Route: <sip:${DOMAIN};transport=ws;lr>`, `To: <sip:bob@${DOMAIN}>;tag=bobtag1`, `From: "Alice" <sip:alice@${DOMAIN}>;tag=2hbg3sm5hv`, "Call-ID: o0h6c4rrrd9b3s1ptkkb", "CSeq: 8111 BYE", "Reason: SIP ;cause=200 ;text=\"Call completed elsewhere\"", allow, ua])],
    ["cancel", withLength([`CANCEL sip:bob@${DOMAIN} SIP/2.0`, via, "Max-Forwards: 69", `To: <sip:bob@${DOMAIN}>`, `From: "Alice" <sip:alice@${DOMAIN}>;tag=2hbg3sm5hv`, "Call-ID: o0h6c4rrrd9b3s1ptkkb", "CSeq: 8110 CANCEL", ua])],
    ["message", withLength([`MESSAGE sip:bob@${DOMAIN} SIP/2.0`, "Via: SIP/2.0/WSS 8k3jd9s2kfa1.invalid;branch=z9hG4bK1001", "Max-Forwards: 69", `To: <sip:bob@${DOMAIN}>`, `From: <sip:alice@${DOMAIN}>;tag=m55n`, "Call-ID: 8c8t3u2n", "CSeq: 1 MESSAGE", "Content-Type: text/plain", allow, ua], "héllo ✓")],
    ["options", withLength([`OPTIONS sip:${DOMAIN} SIP/2.0`, "Via: SIP/2.0/WSS 8k3jd9s2kfa1.invalid;branch=z9hG4bK1002", "Max-Forwards: 69", `To: <sip:${DOMAIN}>`, `From: <sip:alice@${DOMAIN}>;tag=o9`, "Call-ID: opt1", "CSeq: 3 OPTIONS", ua])],
    ["response-200", withLength(["SIP/2.0 200 OK", "Via: SIP/2.0/WSS 8k3jd9s2kfa1.invalid;branch=z9hG4bK7716372;received=127.0.1.1", `To: <sip:bob@${DOMAIN}>;tag=bobtag1`, `From: "Alice" <sip:alice@${DOMAIN}>;tag=2hbg3sm5hv`, "Call-ID: o0h6c4rrrd9b3s1ptkkb", "CSeq: 8110 INVITE", `Record-Route: <sip:${DOMAIN};transport=ws;lr>`, "Contact: <sip:bob@127.0.0.2:5060;transport=ws>", "Content-Type: application/sdp", ua], WEBRTC_SDP)],
  ];
  return seeds.map(([name, data]) => ({ name: `jssip/${name}`, data, via: "ws" }));
}

/** What SIP.js 0.21 writes: To before From, credentials with algorithm first, unquoted qop and nc. */
function sipjsSeeds(): Seed[] {
  const via = "Via: SIP/2.0/WSS p8uq0c2g0b7k.invalid;branch=z9hG4bK3958823";
  const ua = "User-Agent: SIP.js/0.21.2";
  const creds = `Digest algorithm=MD5, username="bob", realm="${DOMAIN}", nonce="b7e1d0a6c3f5", uri="sip:${DOMAIN}", response="6629fae49393a05397450978507c4ef1", qop=auth, cnonce="0a4f113b", nc=00000001`;
  const seeds: [string, string][] = [
    ["register-auth", withLength([`REGISTER sip:${DOMAIN} SIP/2.0`, via, `To: <sip:bob@${DOMAIN}>`, `From: "Bob" <sip:bob@${DOMAIN}>;tag=1v5eaprkhi`, "CSeq: 2 REGISTER", "Call-ID: q0v3u0d6p3s6p1dvf4a6", "Max-Forwards: 70", `Authorization: ${creds}`, `Contact: <sip:jq0g7m8h@p8uq0c2g0b7k.invalid;transport=ws>;+sip.ice;reg-id=1;+sip.instance="<urn:uuid:0f6c63a1-8cbc-4c7e-9f0d-8a9c9e7b2d11>";expires=600`, "Expires: 600", "Allow: ACK,CANCEL,INVITE,MESSAGE,BYE,OPTIONS,INFO,NOTIFY,REFER", "Supported: path,gruu,outbound", ua])],
    ["invite-auth", withLength([`INVITE sip:alice@${DOMAIN} SIP/2.0`, via, `To: <sip:alice@${DOMAIN}>`, `From: <sip:bob@${DOMAIN}>;tag=k6e2q1`, "CSeq: 2 INVITE", "Call-ID: 7u3s1w9l0d", "Max-Forwards: 70", `Proxy-Authorization: ${creds.replace(`uri="sip:${DOMAIN}"`, `uri="sip:alice@${DOMAIN}"`)}`, "Contact: <sip:jq0g7m8h@p8uq0c2g0b7k.invalid;transport=ws;ob>", "Content-Type: application/sdp", ua], WEBRTC_SDP)],
    ["subscribe", withLength([`SUBSCRIBE sip:alice@${DOMAIN} SIP/2.0`, via, `To: <sip:alice@${DOMAIN}>`, `From: <sip:bob@${DOMAIN}>;tag=s1`, "CSeq: 1 SUBSCRIBE", "Call-ID: sub1", "Max-Forwards: 70", "Event: presence", "Expires: 3600", "Accept: application/pidf+xml", ua])],
  ];
  return seeds.map(([name, data]) => ({ name: `sipjs/${name}`, data, via: "ws" }));
}

/**
 * The messages of the repository's sipp scenarios, with sipp's keywords filled in as sipp would
 * for a gateway at 127.0.0.20:5060 calling `alice`. Responses ([last_*] keywords) are rendered
 * against the INVITE of uac-call-user.xml.
 */
function sippSeeds(): Seed[] {
  const dir = resolve(repoRoot, "test/sipp");
  if (!existsSync(dir)) return [];
  const out: Seed[] = [];
  let lastRequest = "";
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".xml")).sort((a, b) => (a.startsWith("uac") === b.startsWith("uac") ? a.localeCompare(b) : a.startsWith("uac") ? -1 : 1))) {
    const xml = readFileSync(resolve(dir, file), "utf8");
    let n = 0;
    for (const m of xml.matchAll(/<send[^>]*>\s*<!\[CDATA\[([\s\S]*?)\]\]>/g)) {
      const text = renderSipp(m[1] ?? "", lastRequest);
      if (!text.startsWith("SIP/2.0")) lastRequest ||= text;
      out.push({ name: `sipp/${file.replace(/\.xml$/, "")}#${++n}`, data: text, via: "udp" });
    }
  }
  return out;
}

const SIPP_KEYWORDS: Record<string, string> = {
  local_ip: GATEWAYS[0],
  local_port: "5060",
  remote_ip: DOMAIN,
  remote_port: "5060",
  transport: "UDP",
  service: "alice",
  domain: DOMAIN,
  pid: "4242",
  call_number: "1",
  call_id: "1-4242@127.0.0.20",
  branch: "z9hG4bK-4242-1-0",
  local_ip_type: "4",
  media_ip_type: "4",
  media_ip: GATEWAYS[0],
  media_port: "6000",
  next_url: `sip:alice@127.0.1.1:5060;transport=ws`,
  routes: `Route: <sip:${DOMAIN};lr;r2=on;transport=udp>`,
  peer_tag_param: ";tag=calleetag9",
};

/** Fills in sipp keywords; `[len]` is the body's byte length; lines end with CRLF as sipp sends. */
function renderSipp(template: string, last: string): string {
  const lines = template.replace(/^\s*\n/, "").replace(/\n\s*$/, "\n").split("\n");
  const fill = (line: string) =>
    line.replace(/\[last_([A-Za-z-]+):?\]/g, (_m, name: string) => lastHeader(last, name)).replace(/\[([a-z_]+)\]/g, (m, k: string) => SIPP_KEYWORDS[k] ?? m);
  // The template's first empty line ends the headers; a header keyword that expands to nothing
  // ([last_Record-Route:] without one) leaves no line.
  const blank = lines.indexOf("");
  const head = (blank === -1 ? lines : lines.slice(0, blank)).map(fill).filter((l) => l !== "");
  const body = blank === -1 ? "" : lines.slice(blank + 1).map(fill).join("\r\n");
  return crlf(...head.map((l) => l.replace("[len]", String(new TextEncoder().encode(body).length))), "", body);
}

function lastHeader(message: string, name: string): string {
  const lines = message.split("\r\n").filter((l) => l.toLowerCase().startsWith(name.toLowerCase() + ":"));
  return lines.join("\r\n");
}

export function allSeeds(): Seed[] {
  return [...rfc4475Seeds(), ...jssipSeeds(), ...sipjsSeeds(), ...sippSeeds()];
}

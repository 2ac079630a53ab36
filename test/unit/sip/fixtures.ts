import { SipRequest, type SipMessage } from "../../../src/sip/message.ts";
import { parseMessage } from "../../../src/sip/parser.ts";

/** Raw messages used by the parser tests and bench/parser.ts. Lines are joined with CRLF. */

export function crlf(...lines: string[]): string {
  return lines.join("\r\n");
}

/** An SDP offer of the usual WebRTC-less softphone shape (~250 bytes). */
export const SDP = crlf(
  "v=0",
  "o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.com",
  "s=-",
  "c=IN IP4 192.0.2.101",
  "t=0 0",
  "m=audio 49172 RTP/AVP 0 8 97 101",
  "a=rtpmap:0 PCMU/8000",
  "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:97 iLBC/8000",
  "a=rtpmap:101 telephone-event/8000",
  "a=fmtp:101 0-15",
  "a=sendrecv",
  "",
);

/** RFC 3261 §24.2 F1 (Alice's INVITE), with the SDP the RFC leaves out. */
export const INVITE = crlf(
  "INVITE sip:bob@biloxi.com SIP/2.0",
  "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8",
  "Max-Forwards: 70",
  "To: Bob <sip:bob@biloxi.com>",
  "From: Alice <sip:alice@atlanta.com>;tag=1928301774",
  "Call-ID: a84b4c76e66710",
  "CSeq: 314159 INVITE",
  "Contact: <sip:alice@pc33.atlanta.com>",
  "Content-Type: application/sdp",
  `Content-Length: ${SDP.length}`,
  "",
  SDP,
);

/** After RFC 3665 §2.1 F3: a REGISTER with digest credentials, folded over four lines. */
export const REGISTER_AUTH = crlf(
  "REGISTER sips:ss2.biloxi.example.com SIP/2.0",
  "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashd92",
  "Max-Forwards: 70",
  "From: Bob <sips:bob@biloxi.example.com>;tag=ja743ks76zlflH",
  "To: Bob <sips:bob@biloxi.example.com>",
  "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com",
  "CSeq: 2 REGISTER",
  "Contact: <sips:bob@client.biloxi.example.com>",
  'Authorization: Digest username="bob", realm="atlanta.example.com",',
  ' nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="",',
  ' uri="sips:ss2.biloxi.example.com",',
  ' response="dfe56131d1958046689d83306477ecc"',
  "Content-Length: 0",
  "",
  "",
);

/** After RFC 7118 §8.1: a REGISTER over WebSocket (no Content-Length, folded Contact). */
export const REGISTER_WS = crlf(
  "REGISTER sip:proxy.example.com SIP/2.0",
  "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf",
  "From: sip:alice@example.com;tag=65bnmj.34asd",
  "To: sip:alice@example.com",
  "Call-ID: aiuy7k9njasd",
  "CSeq: 1 REGISTER",
  "Max-Forwards: 70",
  "Supported: path, outbound, gruu",
  "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>",
  "  ;reg-id=1",
  '  ;+sip.instance="<urn:uuid:f81-7dec-14a06cf1>"',
  "",
  "",
);

/** After RFC 3261 §24.2 F9: the 200 OK as it reaches the first proxy, three Vias on two lines. */
export const OK_200 = crlf(
  "SIP/2.0 200 OK",
  "Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bKnashds8;received=192.0.2.3,",
  " SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2",
  "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.1",
  "To: Bob <sip:bob@biloxi.com>;tag=a6c85cf",
  "From: Alice <sip:alice@atlanta.com>;tag=1928301774",
  "Call-ID: a84b4c76e66710@pc33.atlanta.com",
  "CSeq: 314159 INVITE",
  "Contact: <sip:bob@192.0.2.4>",
  "Content-Length: 0",
  "",
  "",
);

/** A minimal valid request to build malformed variants from: pass replacement header lines. */
export function options(...headers: string[]): string {
  const base = [
    "Via: SIP/2.0/WSS a.invalid;branch=z9hG4bK776sgdkse",
    "Max-Forwards: 70",
    "To: <sip:bob@localhost>",
    "From: <sip:alice@localhost>;tag=1",
    "Call-ID: c1@a.invalid",
    "CSeq: 1 OPTIONS",
  ];
  const names = new Set(headers.map((h) => h.slice(0, h.indexOf(":")).toLowerCase()));
  const kept = base.filter((h) => !names.has(h.slice(0, h.indexOf(":")).toLowerCase()));
  return crlf("OPTIONS sip:bob@localhost SIP/2.0", ...kept, ...headers.filter((h) => !h.endsWith(":-")), "", "");
}

/** Parses a fixture that must parse. */
export function parse(data: string | Uint8Array): SipMessage {
  const result = parseMessage(data);
  if (!result.ok) throw new Error(`${result.status} ${result.reason}`);
  return result.message;
}

/** Parses a fixture that must be a request. */
export function request(data: string | Uint8Array): SipRequest {
  const msg = parse(data);
  if (!(msg instanceof SipRequest)) throw new Error("not a request");
  return msg;
}

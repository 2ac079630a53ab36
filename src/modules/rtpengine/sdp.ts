/**
 * The little SDP (RFC 8866) the media module reads: whether a message carries one, whether what
 * rtpengine gave back can replace it whole, and a summary of each m= section (transport, codecs,
 * ICE, DTLS) for logs and tests. rtpengine does the rewriting; nothing here edits SDP text.
 */
import type { SipMessage } from "../../sip/message.ts";
import { fail, ok, type Parsed } from "../../sip/result.ts";

export interface MediaSummary {
  type: string;
  port: number;
  /** `RTP/AVP`, `UDP/TLS/RTP/SAVPF` ... */
  proto: string;
  /** Encoding names in m= order (`PCMU`, `opus`, `telephone-event`); static types named by RFC 3551. */
  codecs: string[];
  /** An address in c= (the section's or the session's). */
  address: string | undefined;
  ice: boolean;
  /** a=fingerprint present: DTLS-SRTP (RFC 5763). */
  dtls: boolean;
  /** a=setup value (RFC 4145): actpass, active, passive. */
  setup: string | undefined;
  /** a=crypto present: SDES-SRTP (RFC 4568). */
  sdes: boolean;
  rtcpMux: boolean;
  direction: "sendrecv" | "sendonly" | "recvonly" | "inactive";
}

/** RFC 3551 static payload types the summary names without an rtpmap. */
const STATIC: Record<string, string> = { "0": "PCMU", "3": "GSM", "4": "G723", "8": "PCMA", "9": "G722", "13": "CN", "18": "G729" };

/** The message's SDP body: Content-Type application/sdp and a non-empty body; else undefined. */
export function sdpOf(msg: SipMessage): string | undefined {
  if (msg.body.length === 0) return undefined;
  const type = msg.headers.get("content-type");
  if (type === undefined) return undefined;
  const semi = type.indexOf(";");
  return (semi < 0 ? type : type.slice(0, semi)).trim().toLowerCase() === "application/sdp" ? msg.body : undefined;
}

/**
 * Whether rtpengine's SDP may replace the original: a whole description (v=, o=, s=, t=) with as
 * many m= sections, in the same order of media types (rtpengine keeps them; anything else is a
 * torn reply, and a half-rewritten SDP must never leave).
 */
export function checkRewritten(original: string, rewritten: string): Parsed<true> {
  if (!/^v=0\r?\n/.test(rewritten)) return fail("rtpengine's SDP does not start with v=0");
  for (const line of ["o=", "s=", "t="]) {
    if (!new RegExp(`^${line}`, "m").test(rewritten)) return fail(`rtpengine's SDP has no ${line} line`);
  }
  const before = mediaTypes(original);
  const after = mediaTypes(rewritten);
  if (before.join(" ") !== after.join(" ")) return fail(`rtpengine's SDP has m= sections ${after.join(",") || "none"}, the original ${before.join(",") || "none"}`);
  return ok(true);
}

function mediaTypes(sdp: string): string[] {
  return [...sdp.matchAll(/^m=(\S+)/gm)].map((m) => m[1] as string);
}

/** Each m= section of an SDP, summarised. */
export function describeSdp(sdp: string): MediaSummary[] {
  const lines = sdp.split(/\r?\n/);
  const out: MediaSummary[] = [];
  const session = { address: undefined as string | undefined, ice: false, dtls: false, setup: undefined as string | undefined };
  let current: (MediaSummary & { rtpmap: Map<string, string>; formats: string[] }) | undefined;
  const finish = (): void => {
    if (current === undefined) return;
    const { rtpmap, formats, ...media } = current;
    media.codecs = formats.map((f) => rtpmap.get(f) ?? STATIC[f] ?? f);
    out.push(media);
  };
  for (const line of lines) {
    if (line.startsWith("m=")) {
      finish();
      const [type = "", port = "0", proto = "", ...formats] = line.slice(2).split(" ");
      current = {
        type, port: Number(port), proto, codecs: [], address: session.address, ice: session.ice, dtls: session.dtls,
        setup: session.setup, sdes: false, rtcpMux: false, direction: "sendrecv", rtpmap: new Map(), formats,
      };
      continue;
    }
    const target = current ?? session;
    if (line.startsWith("c=")) target.address = line.split(" ")[2];
    else if (line.startsWith("a=ice-ufrag:")) target.ice = true;
    else if (line.startsWith("a=fingerprint:")) target.dtls = true;
    else if (line.startsWith("a=setup:")) target.setup = line.slice(8).trim();
    else if (current !== undefined) mediaAttribute(current, line);
  }
  finish();
  return out;
}

function mediaAttribute(media: MediaSummary & { rtpmap: Map<string, string> }, line: string): void {
  if (line.startsWith("a=rtpmap:")) {
    const m = /^a=rtpmap:(\d+) ([^/\s]+)/.exec(line);
    if (m) media.rtpmap.set(m[1] as string, m[2] as string);
  } else if (line.startsWith("a=crypto:")) media.sdes = true;
  else if (line === "a=rtcp-mux") media.rtcpMux = true;
  else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) media.direction = line.slice(2) as MediaSummary["direction"];
}

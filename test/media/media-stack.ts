// The media suite's topology, shaped like a deployment: the edge serves a domain name
// (sip.example.test, no aliases) on 127.0.0.1, the bridge has its own address (127.0.0.9) with
// rtpengine beside it (ng on loopback, media on 127.0.0.1), the gateways theirs (127.0.0.20-22).
// The browser loads /phone from 127.0.0.1.
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startStack } from "../../scripts/stack.mjs";
import { startRtpengine } from "../../scripts/rtpengine.mjs";
import { NgSocket, type NgDict } from "../../bridge/rtpengine/ng.ts";
import { createLogger } from "../../src/log.ts";

export const DOMAIN = "sip.example.test";
export const BRIDGE = "127.0.0.9:5060";
export const GATEWAYS = ["127.0.0.20:5060", "127.0.0.21:5060", "127.0.0.22:5060"];
/** Not rtpengine's usual 2223, which a system rtpengine (Debian's service) may hold. */
export const RTPENGINE_NG = "127.0.0.1:2323";
/** rtpengine reports each RFC 4733 event it relays here, as JSON (`--dtmf-log-dest`). */
export const DTMF_LOG = "127.0.0.1:2299";
/** The bridge pings a silent rtpengine this often (s): how soon calls work again after it is back. */
export const RTPENGINE_RECHECK_S = 1;

export type Stack = Awaited<ReturnType<typeof startStack>>;
export type Rtpengine = Awaited<ReturnType<typeof startRtpengine>>;

export interface MediaStack {
  stack: Stack;
  rtpengine: Rtpengine;
  adminToken: string;
  /** The edge's base URL (http://127.0.0.1:PORT). */
  url: string;
  /** An ng client of the test's own, to read rtpengine's statistics (query, list). */
  ng(command: NgDict): Promise<NgDict>;
  restartRtpengine(): Promise<void>;
  /** DTMF events rtpengine reported (`--dtmf-log-dest`), in order. */
  dtmf: { callId: string; digit: string }[];
  stop(): Promise<void>;
}

/**
 * Starts rtpengine, the edge and a bridge dialling it with `--rtpengine`, and points dispatcher
 * set 1 at `gateways` (a dispatcher.list imported through the admin API, as an operator would).
 */
export async function startMediaStack(options: { gateways?: string[]; port?: number; vars?: Record<string, string> } = {}): Promise<MediaStack> {
  // --delete-delay=0: a deleted call is gone at once (rtpengine keeps it 30 s by default), so a
  // test can see that the proxy's delete happened.
  const rtpengineOptions = { ng: RTPENGINE_NG, iface: "127.0.0.1", extraArgs: [`--dtmf-log-dest=${DTMF_LOG}`, "--delete-delay=0"] };
  let rtpengine = await startRtpengine(rtpengineOptions);
  const dtmf: { callId: string; digit: string }[] = [];
  const dtmfSocket = dgram.createSocket("udp4");
  dtmfSocket.on("message", (data) => {
    try {
      const event = JSON.parse(data.toString("utf8")) as { callid?: string; event?: number | string };
      dtmf.push({ callId: String(event.callid), digit: String(event.event) });
    } catch {
      // not JSON: not an event
    }
  });
  const [dtmfHost, dtmfPort] = DTMF_LOG.split(":");
  await new Promise<void>((resolve) => dtmfSocket.bind(Number(dtmfPort), dtmfHost, resolve));
  const adminToken = randomBytes(12).toString("hex");
  const stack = await startStack({
    port: options.port ?? 8787,
    build: false,
    // No aliases, as deployed: the proxy recognises its Record-Route entries by their signature.
    vars: { SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", LOG_LEVEL: "warn", ADMIN_TOKEN: adminToken, DS_PING_INTERVAL: "1", ...options.vars },
    bridge: {
      listen: BRIDGE,
      logLevel: "warn",
      extraArgs: ["--rtpengine", `udp:${RTPENGINE_NG}`, "--rtpengine-disable-time", String(RTPENGINE_RECHECK_S), "--rtpengine-timeout", "500"],
    },
  });
  const list = (options.gateways ?? GATEWAYS.slice(0, 1)).map((g) => `1 sip:${g}`).join("\n") + "\n";
  const imported = await fetch(`${stack.url}/admin/import?file=dispatcher.list`, { method: "POST", headers: { Authorization: `Bearer ${adminToken}` }, body: list });
  if (!imported.ok) throw new Error(`dispatcher import failed: ${imported.status} ${await imported.text()}`);
  const socket = new NgSocket({ log: createLogger("error"), timeoutMs: 1000, tries: 2 });
  const [host, port] = RTPENGINE_NG.split(":");
  const to = { address: host as string, port: Number(port) };
  return {
    stack,
    get rtpengine() {
      return rtpengine;
    },
    adminToken,
    url: stack.url,
    dtmf,
    async ng(command) {
      const r = await socket.request(to, command);
      if (!r.ok) throw new Error(`rtpengine ${String(command.command)}: ${r.detail}`);
      return r.reply;
    },
    async restartRtpengine() {
      await rtpengine.stop();
      rtpengine = await startRtpengine(rtpengineOptions);
    },
    async stop() {
      socket.close();
      dtmfSocket.close();
      await stack.stop();
      await rtpengine.stop();
    },
  };
}

/** One side of a call in rtpengine (a monologue, named by its SIP tag), from an ng `query`. */
export interface Leg {
  tag: string;
  protocol: string;
  /** The codec rtpengine uses on this side (`PCMU/8000`, `opus/48000/2`). */
  codec: string;
  /** Packets rtpengine received from this side, over all its streams. */
  packets: number;
  flags: string[];
}

export function legsOf(query: NgDict): Leg[] {
  const tags = (query.tags ?? {}) as Record<string, { medias?: { protocol?: string; codec?: string; flags?: string[]; streams?: { stats?: { packets?: number } }[] }[] }>;
  return Object.entries(tags).map(([tag, mono]) => {
    const leg: Leg = { tag, protocol: "", codec: "", packets: 0, flags: [] };
    for (const media of mono.medias ?? []) {
      leg.protocol = media.protocol ?? leg.protocol;
      leg.codec = media.codec ?? leg.codec;
      leg.flags.push(...(media.flags ?? []));
      for (const stream of media.streams ?? []) leg.packets += Number(stream.stats?.packets ?? 0);
    }
    return leg;
  });
}

/** Writes `seconds` of a 440 Hz tone as raw G.711 µ-law (8 kHz), what sipp's rtp_stream plays as PCMU. */
export async function writeTone(file: string, seconds = 2): Promise<void> {
  const samples = new Uint8Array(8000 * seconds);
  for (let i = 0; i < samples.length; i++) samples[i] = linearToUlaw(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, samples);
}

/** ITU-T G.711 µ-law encoding of one 16-bit sample. */
function linearToUlaw(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  let magnitude = Math.min(Math.abs(sample), 32635) + 0x84;
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  magnitude = ~(sign | (exponent << 4) | mantissa) & 0xff;
  return magnitude;
}

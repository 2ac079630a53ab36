/**
 * Parser benchmark: sipedge against the parsers of the two softphone libraries it serves, on the
 * same two messages (a JsSIP-style INVITE with ~250 bytes of SDP, and a REGISTER with digest
 * credentials), in the same loop: warm-up, then interleaved rounds, median reported.
 *
 *   npm run bench:parser            (node --experimental-strip-types bench/parser.ts)
 *   ROUNDS=15 ROUND_MS=300 npm run bench:parser
 *
 * Each round runs a parser for about ROUND_MS of CPU time (the iteration count is calibrated per
 * parser during warm-up, since they differ by two orders of magnitude).
 *
 * "serialize" is what each library does to send a received message on: jssip and sip.js return
 * the received text unchanged (their IncomingMessage.toString()), while sipedge rebuilds it from
 * its header list, which is also what lets a proxy change headers. Both columns are printed.
 */
import { createRequire } from "node:module";
import { parseMessage } from "../src/sip/parser.ts";
import { serialize } from "../src/sip/serializer.ts";
import { crlf } from "../test/unit/sip/fixtures.ts";

const require = createRequire(import.meta.url);

const SDP = crlf(
  "v=0",
  "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "m=audio 49170 RTP/AVP 111 0 8 101",
  "c=IN IP4 127.0.0.2",
  "a=rtpmap:111 opus/48000/2",
  "a=rtpmap:0 PCMU/8000",
  "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:101 telephone-event/8000",
  "a=fmtp:101 0-15",
  "a=sendrecv",
  "",
);

const INVITE = crlf(
  "INVITE sip:bob@localhost SIP/2.0",
  "Via: SIP/2.0/WSS 4ppdls1jevh4.invalid;branch=z9hG4bK8532749",
  "Max-Forwards: 69",
  "To: <sip:bob@localhost>",
  'From: "Alice" <sip:alice@localhost>;tag=k3mbj1ff4e',
  "Call-ID: 4a1f7k2ebvurfn0dfvq8",
  "CSeq: 7893 INVITE",
  "Contact: <sip:g3r0s8vl@4ppdls1jevh4.invalid;transport=ws;ob>",
  "Content-Type: application/sdp",
  "Session-Expires: 90",
  "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY",
  "Supported: timer,ice,replaces,outbound",
  "User-Agent: JsSIP 3.13.8",
  `Content-Length: ${SDP.length}`,
  "",
  SDP,
);

const REGISTER = crlf(
  "REGISTER sip:localhost SIP/2.0",
  "Via: SIP/2.0/WSS 4ppdls1jevh4.invalid;branch=z9hG4bK1180361",
  "Max-Forwards: 69",
  "To: <sip:alice@localhost>",
  "From: <sip:alice@localhost>;tag=9d4ejpq0qb",
  "Call-ID: tm4qmtj5c5qbeq9uhuq0eb",
  "CSeq: 2 REGISTER",
  'Authorization: Digest algorithm=MD5, username="alice", realm="localhost", ' +
    'nonce="Y2ZkZjM3ZDk6YzJhYmQ3ZDBhZjc2", uri="sip:localhost", ' +
    'response="6629fae49393a05397450978507c4ef1", qop=auth, cnonce="k5jbfkhn0ru4", nc=00000001',
  'Contact: <sip:g3r0s8vl@4ppdls1jevh4.invalid;transport=ws>;+sip.ice;reg-id=1;' +
    '+sip.instance="<urn:uuid:3e5a7c1b-2f3d-4a6e-9b1c-7d8e9f0a1b2c>";expires=600',
  "Expires: 600",
  "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY",
  "Supported: path,gruu,outbound",
  "User-Agent: JsSIP 3.13.8",
  "Content-Length: 0",
  "",
  "",
);

interface Candidate {
  name: string;
  parse(text: string): unknown;
  serialize(msg: unknown): string;
}

const quiet = { log() {}, warn() {}, error() {}, debug() {} };

async function candidates(): Promise<Candidate[]> {
  const jssip = require("jssip/lib/Parser.js") as { parseMessage(data: string, ua: unknown): { toString(): string } | undefined };
  const sipjs = (await import("sip.js/lib/core/messages/parser.js")) as unknown as {
    Parser: { parseMessage(data: string, logger: unknown): { toString(): string } | undefined };
  };
  return [
    {
      name: "sipedge",
      parse: (text) => {
        const r = parseMessage(text);
        if (!r.ok) throw new Error(r.reason);
        return r.message;
      },
      serialize: (msg) => serialize(msg as Parameters<typeof serialize>[0]),
    },
    {
      name: "jssip",
      parse: (text) => jssip.parseMessage(text, undefined),
      serialize: (msg) => (msg as { toString(): string }).toString(),
    },
    {
      name: "sip.js",
      parse: (text) => sipjs.Parser.parseMessage(text, quiet),
      serialize: (msg) => (msg as { toString(): string }).toString(),
    },
  ];
}

let sink = 0;

/**
 * CPU milliseconds (user + system) for `iterations` runs: CPU time, not wall time, so other
 * processes on the machine do not distort the figures (DESIGN.md §7 measures CPU µs too).
 */
function run(c: Candidate, text: string, iterations: number, withSerialize: boolean): number {
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    const msg = c.parse(text);
    sink += withSerialize ? c.serialize(msg).length : msg === undefined ? 0 : 1;
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Warms a parser up for about `ms` and returns how many iterations take about `ms`. */
function calibrate(c: Candidate, text: string, ms: number): number {
  let iterations = 16;
  for (;;) {
    const elapsed = run(c, text, iterations, true) + run(c, text, iterations, false);
    if (elapsed >= ms) return Math.max(1, Math.round((iterations * ms) / elapsed));
    iterations *= 2;
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.env.ROUNDS ?? 9);
  const roundMs = Number(process.env.ROUND_MS ?? 200);
  const all = await candidates();
  const messages: [string, string][] = [
    [`INVITE with SDP (${INVITE.length} bytes, body ${SDP.length})`, INVITE],
    [`REGISTER with Authorization (${REGISTER.length} bytes)`, REGISTER],
  ];
  for (const c of all) {
    for (const [, text] of messages) {
      if (c.parse(text) === undefined) throw new Error(`${c.name} failed to parse a benchmark message`);
    }
  }
  console.log(`node ${process.version}; ${rounds} interleaved rounds of ~${roundMs} ms per parser; CPU time, median\n`);
  for (const [label, text] of messages) {
    console.log(label);
    console.log(`  ${"parser".padEnd(9)} ${"parse+serialize".padStart(26)} ${"parse only".padStart(26)}`);
    const iterations = new Map(all.map((c) => [c.name, calibrate(c, text, roundMs)]));
    const times = new Map(all.map((c) => [c.name, { full: [] as number[], parse: [] as number[] }]));
    for (let r = 0; r < rounds; r++) {
      for (const c of all) {
        const n = iterations.get(c.name) ?? 1;
        times.get(c.name)?.full.push(run(c, text, n, true) / n);
        times.get(c.name)?.parse.push(run(c, text, n, false) / n);
      }
    }
    for (const c of all) {
      const t = times.get(c.name);
      if (t !== undefined) console.log(`  ${c.name.padEnd(9)} ${format(median(t.full))} ${format(median(t.parse))}`);
    }
    console.log();
  }
  if (sink === 42) console.log(""); // keep the results observable so nothing is optimised away
}

/** One operation's time in ms, as ops/s and µs/op. */
function format(msPerOp: number): string {
  const opsPerSecond = 1000 / msPerOp;
  return `${Math.round(opsPerSecond).toLocaleString("en-US").padStart(10)} ops/s ${(msPerOp * 1000).toFixed(2).padStart(7)} µs`;
}

await main();

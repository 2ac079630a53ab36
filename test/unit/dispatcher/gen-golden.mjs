// Records golden values from a running Kamailio (started by gen-golden.sh):
//   1. raw hash ids and slots from the `dispatcher.hash` RPC (kamcmd), and
//   2. whole selections: SIP requests sent over UDP to a Kamailio whose route calls
//      ds_select_dst(X-Set, X-Alg) and lists the failover XAVPs in its 200 reply,
//      which shows which parts of each header Kamailio hashes and how it orders a set.
// Usage: node gen-golden.mjs <ctl-socket> <sip-port> <out.json>
import { execFile } from "node:child_process";
import dgram from "node:dgram";
import { writeFile } from "node:fs/promises";
import { promisify } from "node:util";

const [ctl, sipPort, out] = process.argv.slice(2);
const run = promisify(execFile);

async function rpcHash(nslots, val1, val2) {
  const args = ["-s", `unix:${ctl}`, "dispatcher.hash", String(nslots), `s:${val1}`];
  if (val2 !== undefined) args.push(`s:${val2}`);
  const { stdout } = await run("kamcmd", args);
  // kamcmd prints the hash id as a signed 32-bit integer; the slot is the unsigned id modulo nslots
  const hashid = /hashid:\s*(-?\d+)/.exec(stdout);
  const slot = /slot:\s*(-?\d+)/.exec(stdout);
  if (!hashid || !slot) throw new Error(`unexpected kamcmd output: ${stdout}`);
  return { hashid: Number(hashid[1]), slot: Number(slot[1]) };
}

const long = "x".repeat(61) + "@" + "long-host-name.example.com";
const hashInputs = [
  // Call-IDs (algorithm 0): RFC 3261 / RFC 3665 examples and edge lengths around the 4-byte steps.
  ["a84b4c76e66710@pc33.atlanta.com"], ["3848276298220188511@atlanta.example.com"],
  ["f81d4fae-7dec-11d0-a765-00a0c91e6bf6"], ["843817637684230@998sdasdh09"],
  ["a"], ["ab"], ["abc"], ["abcd"], ["abcde"], ["abcdefgh"], ["0"], ["1"], ["42"],
  ["cid-1"], ["cid-2"], ["cid-3"], ["cid-10"], ["cid-100"], [long],
  ["ZmFrZS1jYWxsLWlk"], ["Call-ID with spaces"], ["~!#$%^&*()_+"],
  // bytes >= 0x80 (UTF-8): Kamailio adds them as signed chars, in whole words and in the tail
  ["çà-utf8-€"], ["é"], ["aé"], ["ÿ"], ["日本語"], ["ñandú"], ["€€€€"],
  // hash_pvar values (algorithm 7) and auth usernames (algorithm 5)
  ["alice"], ["bob"], ["1000"], ["+15551234567"], ["hash the alice@a84b4c76e66710"],
  // URIs (algorithms 1-3): user and host[:port], port only when not the scheme default
  ["alice", "atlanta.example.com"], ["bob", "biloxi.example.com"], ["alice", "server.com"],
  ["Alice", "Server.COM"], ["alice", "server.com:5080"], ["+15551234567", "127.0.0.1"],
  ["100", "127.0.0.1:5080"], ["0123456789", "localhost"], ["alice", "[::1]:5070"],
  ["carol", "chicago.example.com"], ["sip-user.with.dots", "sub.domain.example.org:5062"],
  ["x", "y"], ["abcd", "efgh"], ["jörg", "münchen.example.de"],
];
const slots = [0, 2, 3, 5, 7, 101, 1000];

async function hashTable() {
  const rows = [];
  for (let i = 0; i < hashInputs.length; i++) {
    const [val1, val2] = hashInputs[i];
    const nslots = slots[i % slots.length];
    rows.push({ val1, ...(val2 === undefined ? {} : { val2 }), nslots, ...(await rpcHash(nslots, val1, val2)) });
  }
  return rows;
}

function sipClient() {
  const sock = dgram.createSocket("udp4");
  const pending = new Map();
  let seq = 0;
  sock.on("message", (buf) => {
    const text = buf.toString();
    const cseq = /\r\nCSeq:\s*(\d+)/i.exec(text)?.[1];
    const done = cseq && pending.get(cseq);
    if (!done) return;
    pending.delete(cseq);
    const status = Number(text.split(" ")[1]);
    const dsts = [...text.matchAll(/\r\nX-Dst:\s*([^\r]+)/g)].map((m) => m[1]);
    done({ status, dsts });
  });
  const ready = new Promise((resolve) => sock.bind(0, "127.0.0.1", resolve));
  async function send(req) {
    await ready;
    seq += 1;
    const cs = String(seq);
    const method = req.method ?? "INVITE";
    const headers = [
      `${method} ${req.ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK-golden-${seq}`,
      "Max-Forwards: 70",
      `From: "Caller" <${req.fromUri}>;tag=f${seq}`,
      `To: <${req.toUri}>`,
      `Call-ID: ${req.callId}`,
      `CSeq: ${cs} ${method}`,
      `X-Set: ${req.set}`,
      `X-Alg: ${req.alg}`,
    ];
    if (req.authUsername !== undefined) {
      headers.push(`Authorization: Digest username="${req.authUsername}", realm="localhost", ` +
        `nonce="n", uri="${req.ruri}", response="00000000000000000000000000000000"`);
    }
    if (req.pvarValue !== undefined) headers.push(`X-Hash: ${req.pvarValue}`);
    const msg = [...headers, "Content-Length: 0", "", ""].join("\r\n");
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to request ${cs}`)), 3000);
      pending.set(cs, (r) => { clearTimeout(timer); resolve(r); });
      sock.send(msg, Number(sipPort), "127.0.0.1");
    });
  }
  return { send, close: () => sock.close() };
}

const base = {
  method: "INVITE", callId: "golden-base@127.0.0.1", fromUri: "sip:alice@127.0.0.1",
  toUri: "sip:bob@127.0.0.1", ruri: "sip:100@127.0.0.1",
};
const selectCases = [
  ["Call-ID as sent", { alg: 0, callId: "a84b4c76e66710@pc33.atlanta.com" }],
  ["Call-ID, numeric", { alg: 0, callId: "3848276298220188511@atlanta.example.com" }],
  ["From: user and host", { alg: 1, fromUri: "sip:alice@server.com" }],
  ["From: default port 5060 is left out", { alg: 1, fromUri: "sip:alice@server.com:5060" }],
  ["From: other port is hashed", { alg: 1, fromUri: "sip:alice@server.com:5080" }],
  ["From: URI parameters and headers are ignored", { alg: 1, fromUri: "sip:alice@server.com;transport=tcp?x=y" }],
  ["From: case is kept", { alg: 1, fromUri: "sip:Alice@Server.COM" }],
  ["From: sips default port 5061 is left out", { alg: 1, fromUri: "sips:alice@server.com:5061" }],
  ["From: sips with port 5060 keeps it", { alg: 1, fromUri: "sips:alice@server.com:5060" }],
  ["From: no user part", { alg: 1, fromUri: "sip:server.com" }],
  ["From: password is not hashed", { alg: 1, fromUri: "sip:alice:secret@server.com" }],
  ["From: IPv6 reference with port", { alg: 1, fromUri: "sip:alice@[::1]:5070" }],
  ["To: user and host", { alg: 2, toUri: "sip:bob@biloxi.example.com" }],
  ["R-URI: user, host and port", { alg: 3, ruri: "sip:+15551234567@gw.example.net:5070;user=phone" }],
  ["R-URI: PSTN number at loopback", { alg: 3, ruri: "sip:0123@127.0.0.1" }],
  ["auth username", { alg: 5, authUsername: "alice" }],
  ["auth username: only the user part of user@domain", { alg: 5, authUsername: "alice@example.com" }],
  ["hash_pvar value", { alg: 7, pvarValue: "some-key-42" }],
];

async function selections(client) {
  const rows = [];
  // Round robin from a fresh start: the order Kamailio walks set 1 and its failover lists.
  for (let i = 0; i < 4; i++) {
    const r = await client.send({ ...base, set: 1, alg: 4 });
    rows.push({ name: `round robin pick ${i + 1} on set 1`, set: 1, ...base, alg: 4, ...r });
  }
  for (const set of [1, 3, 9]) {
    for (const [name, req] of selectCases) {
      const full = { ...base, set, ...req };
      rows.push({ name: `${name} (set ${set})`, ...full, ...(await client.send(full)) });
    }
  }
  for (const [name, req] of [
    ["serial by priority", { set: 4, alg: 8 }],
    ["unknown algorithm uses the first entry", { set: 3, alg: 99 }],
    ["call load for a non-INVITE uses the first entry", { set: 3, alg: 10, method: "OPTIONS" }],
  ]) {
    const full = { ...base, ...req };
    rows.push({ name, ...full, ...(await client.send(full)) });
  }
  return rows;
}

const { stdout: version } = await run("kamailio", ["-v"]);
const client = sipClient();
try {
  const golden = {
    generatedBy: "test/unit/dispatcher/gen-golden.sh",
    kamailio: /version:\s*(\S+\s+\S+)/.exec(version)?.[1] ?? "unknown",
    list: "fixtures/golden-dispatcher.list",
    modparams: { flags: 2, use_default: 0, hash_pvar: "$hdr(X-Hash)" },
    hash: await hashTable(),
    select: await selections(client),
  };
  await writeFile(out, JSON.stringify(golden, null, 1) + "\n");
  console.log(`wrote ${golden.hash.length} hash rows and ${golden.select.length} selections to ${out}`);
} finally {
  client.close();
}

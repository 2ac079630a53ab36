/**
 * Drives the fuzz world like a population of softphones, gateways and attackers: clients register
 * and call with real digest rounds (so mutated requests still carry valid credentials and reach
 * the registrar, the location lookup, the dispatcher and in-dialog routing), gateways call users
 * sipp-style, and in between come mutated seeds, grammar-generated requests, retransmissions,
 * sockets closing and garbage. Every delivery is checked (pipeline-check.ts); at the end the clock
 * runs on until every timer has fired, and the tables must be empty again.
 */
import fc from "fast-check";
import { parseNameAddr } from "../../src/sip/name-addr.ts";
import { parseMessage } from "../../src/sip/parser.ts";
import { formatUri } from "../../src/sip/uri.ts";
import { request as generatedRequest } from "./arbitraries.ts";
import { credentialsFor } from "./digest-client.ts";
import { mutate } from "./mutate.ts";
import type { Violation } from "./parser-check.ts";
import { checkDelivery, checkDrained } from "./pipeline-check.ts";
import type { Rng } from "./random.ts";
import { DOMAIN, type Seed } from "./seeds.ts";
import { USERS, FuzzWorld, type Delivery, type Peer } from "./world.ts";

export interface PipelineFinding extends Violation {
  /** The message that was being delivered (undefined for end-of-run findings). */
  data?: string | Uint8Array;
  action: string;
}

export interface PipelineStats {
  /** Messages handed to the pipeline, peers' responses included. */
  messages: number;
  /** Of those, produced by mutation or generation rather than by a well-behaved peer. */
  hostile: number;
  actions: number;
  findings: PipelineFinding[];
  /** Table sizes: at the start, the largest seen, at the end of the load, after the drain. */
  sizes: { start: Record<string, number>; peak: Record<string, number>; end: Record<string, number>; drained: Record<string, number> };
}

interface Ctx {
  world: FuzzWorld;
  rng: Rng;
  seeds: Seed[];
  stats: PipelineStats;
  history: { peer: Peer; data: string | Uint8Array }[];
  action: string;
  n: number;
}

const SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/** Runs `messages` deliveries' worth of actions (or until `deadline`, ms since epoch), then drains. */
export async function runPipelineCampaign(options: { seed: number; seeds: Seed[]; messages: number; deadline?: number }): Promise<PipelineStats> {
  const world = new FuzzWorld(options.seed);
  const stats: PipelineStats = { messages: 0, hostile: 0, actions: 0, findings: [], sizes: { start: world.sizes(), peak: world.sizes(), end: {}, drained: {} } };
  const ctx: Ctx = { world, rng: world.rng, seeds: options.seeds, stats, history: [], action: "", n: 0 };
  while (stats.messages < options.messages && (options.deadline === undefined || Date.now() < options.deadline)) {
    const action = pickAction(ctx);
    ctx.action = action.name;
    stats.actions++;
    await action.run(ctx);
    if (ctx.rng.chance(0.3)) await step(ctx, ctx.rng.pick([0, 20, 200, 1000, 4000]));
    for (const [k, v] of Object.entries(world.sizes())) stats.sizes.peak[k] = Math.max(stats.sizes.peak[k] ?? 0, v);
  }
  stats.sizes.end = world.sizes();
  // Drain: every transaction times out or completes, bindings, bans and blocks expire.
  ctx.action = "drain";
  for (let t = 0; t < 3 * 3600_000; t += 60_000) await step(ctx, 60_000);
  world.sweep();
  stats.sizes.drained = world.sizes();
  for (const v of checkDrained(world)) stats.findings.push({ ...v, action: "drain" });
  return stats;
}

const ACTIONS: { name: string; weight: number; run: (c: Ctx) => Promise<void> }[] = [
  { name: "register", weight: 3, run: (c) => register(c, c.rng.pick(c.world.clients()), c.rng.pick(Object.keys(USERS))) },
  { name: "call-user", weight: 3, run: (c) => call(c, c.rng.pick(c.world.clients()), `sip:${c.rng.pick(Object.keys(USERS))}@${DOMAIN}`) },
  { name: "call-pstn", weight: 2, run: (c) => call(c, c.rng.pick(c.world.clients()), `sip:+1555${c.rng.range(1000000, 9999999)}@${DOMAIN}`) },
  { name: "gateway-call", weight: 2, run: (c) => gatewayCall(c) },
  { name: "message", weight: 1, run: (c) => message(c) },
  { name: "mutated-seed", weight: 8, run: (c) => mutatedSeed(c) },
  { name: "generated", weight: 2, run: (c) => generated(c) },
  { name: "retransmit", weight: 1, run: (c) => retransmit(c) },
  { name: "close-reopen", weight: 0.3, run: async (c) => closeReopen(c) },
];
const TOTAL_WEIGHT = ACTIONS.reduce((s, a) => s + a.weight, 0);

function pickAction(c: Ctx) {
  let r = c.rng.next() * TOTAL_WEIGHT;
  for (const a of ACTIONS) if ((r -= a.weight) < 0) return a;
  return ACTIONS[0]!;
}

/** Delivers and checks one message; `hostile` counts it as fuzz input. */
async function send(c: Ctx, peer: Peer, data: string | Uint8Array, hostile: boolean): Promise<Delivery> {
  const before = c.world.errors.length;
  const d = await c.world.deliver(peer, data);
  record(c, d, before, hostile);
  c.history.push({ peer, data });
  if (c.history.length > 64) c.history.shift();
  if (c.rng.chance(0.05)) await step(c, 0);
  return d;
}

function record(c: Ctx, d: Delivery, errorsBefore: number, hostile: boolean): void {
  c.stats.messages++;
  if (hostile) c.stats.hostile++;
  for (const v of checkDelivery(c.world, d, errorsBefore)) c.stats.findings.push({ ...v, data: d.data, action: c.action });
}

/** Lets time pass; the peers' answers that became due are delivered and checked. */
async function step(c: Ctx, ms: number): Promise<void> {
  const before = c.world.errors.length;
  const ds = await c.world.advance(ms);
  for (const d of ds) record(c, d, before, false);
}

/** Sometimes mutates a well-formed message: the fuzz input that still carries valid credentials. */
async function sendMaybeMutated(c: Ctx, peer: Peer, text: string): Promise<Delivery> {
  if (c.rng.chance(0.25)) {
    const m = mutate(c.rng, text, c.rng.pick(c.seeds).data);
    return send(c, peer, m.data, true);
  }
  return send(c, peer, text, false);
}

function id(c: Ctx, prefix: string): string {
  return `${prefix}${(++c.n).toString(36)}${c.rng.int(1e9).toString(36)}`;
}

interface Req {
  method: string;
  ruri: string;
  from: string;
  to: string;
  callId: string;
  cseq: number;
  peer: Peer;
  headers?: string[];
  body?: string;
}

function requestText(c: Ctx, r: Req, extra: string[] = []): string {
  const via = r.peer.kind === "client" ? `SIP/2.0/WSS ${r.peer.name}.invalid` : `SIP/2.0/UDP ${r.peer.source.ip}:${r.peer.source.port}`;
  const body = r.body ?? "";
  return [
    `${r.method} ${r.ruri} SIP/2.0`,
    `Via: ${via};branch=z9hG4bK${id(c, "")}`,
    "Max-Forwards: 70",
    `To: ${r.to}`,
    `From: ${r.from}`,
    `Call-ID: ${r.callId}`,
    `CSeq: ${r.cseq} ${r.method}`,
    ...(r.headers ?? []),
    ...extra,
    ...(body ? ["Content-Type: application/sdp"] : []),
    `Content-Length: ${new TextEncoder().encode(body).length}`,
    "",
    body,
  ].join("\r\n");
}

/** Sends a request; answers a 401/407 with digest credentials for `user`, as JsSIP does. */
async function withAuth(c: Ctx, r: Req, user: string): Promise<Delivery> {
  const first = await send(c, r.peer, requestText(c, r), false);
  const challenge = first.replies.map((t) => parseMessage(t)).find((p) => p.ok && p.message.kind === "response" && (p.message.status === 401 || p.message.status === 407));
  if (!challenge?.ok || challenge.message.kind !== "response") return first;
  const password = c.rng.chance(0.9) ? (USERS[user] ?? "x") : "wrong";
  const line = credentialsFor(challenge.message, { method: r.method, ruri: r.ruri, user, password, cnonce: id(c, "cn"), offer: c.rng.int(2) });
  if (line === undefined) return first;
  r.cseq++;
  return sendMaybeMutated(c, r.peer, requestText(c, r, [`${line[0]}: ${line[1]}`]));
}

async function register(c: Ctx, peer: Peer, user: string): Promise<void> {
  const aor = `<sip:${user}@${DOMAIN}>`;
  const expires = c.rng.pick(["0", "60", "600", "3600", "100000"]);
  const contact = `<sip:${id(c, "ct")}@${peer.name}.invalid;transport=ws>;+sip.instance="<urn:uuid:${peer.name}-${user}>";reg-id=1;expires=${expires}`;
  await withAuth(c, { method: "REGISTER", ruri: `sip:${DOMAIN}`, from: `${aor};tag=${id(c, "t")}`, to: aor, callId: id(c, "reg"), cseq: 1, peer, headers: [`Contact: ${contact}`, "Supported: path, outbound"] }, user);
}

/** An INVITE with credentials; if answered 2xx, the ACK and a BYE along the route set; else maybe a CANCEL. */
async function call(c: Ctx, peer: Peer, target: string): Promise<void> {
  const user = c.rng.pick(Object.keys(USERS));
  const r: Req = { method: "INVITE", ruri: target, from: `<sip:${user}@${DOMAIN}>;tag=${id(c, "t")}`, to: `<${target}>`, callId: id(c, "call"), cseq: 1, peer, body: SDP, headers: [`Contact: <sip:${user}@${peer.name}.invalid;transport=ws;ob>`] };
  await withAuth(c, r, user);
  const final = await awaitFinal(c, peer, r);
  if (final === undefined) {
    if (c.rng.chance(0.6)) await sendMaybeMutated(c, peer, requestText(c, { ...r, method: "CANCEL" }));
    return;
  }
  if (final.status < 200 || final.status >= 300) return;
  await inDialog(c, peer, r, final);
}

async function gatewayCall(c: Ctx): Promise<void> {
  const peer = c.rng.pick([...c.world.peers.values()].filter((p) => p.kind !== "client"));
  const user = c.rng.pick([...Object.keys(USERS), "nobody"]);
  const r: Req = { method: "INVITE", ruri: `sip:${user}@${DOMAIN}`, from: `"PSTN" <sip:15550001111@${peer.source.ip}:5060>;tag=${id(c, "gw")}`, to: `<sip:${user}@${DOMAIN}>`, callId: id(c, "gwcall"), cseq: 1, peer, body: SDP, headers: [`Contact: <sip:15550001111@${peer.source.ip}:5060>`] };
  await sendMaybeMutated(c, peer, requestText(c, r));
  const final = await awaitFinal(c, peer, r);
  if (final !== undefined && final.status >= 200 && final.status < 300) await inDialog(c, peer, r, final);
}

interface Final {
  status: number;
  toTag: string | undefined;
  contact: string | undefined;
  routes: string[];
}

/** Lets up to 4 s pass until the caller has a final response to its INVITE. */
async function awaitFinal(c: Ctx, peer: Peer, r: Req): Promise<Final | undefined> {
  for (let waited = 0; waited < 4000; waited += 250) {
    for (const text of peer.received.slice(-8)) {
      const p = parseMessage(text);
      if (!p.ok || p.message.kind !== "response" || p.message.callId !== r.callId || p.message.cseq.seq !== r.cseq || p.message.cseq.method !== "INVITE" || p.message.status < 200) continue;
      const to = parseNameAddr(p.message.headers.get("to") ?? "");
      const contact = p.message.headers.get("contact");
      const contactUri = contact === undefined ? undefined : parseNameAddr(contact);
      return {
        status: p.message.status,
        toTag: to.ok ? (to.value.params.get("tag") ?? undefined) : undefined,
        contact: contactUri?.ok ? formatUri(contactUri.value.uri) : undefined,
        routes: p.message.headers.getAll("record-route").reverse(),
      };
    }
    await step(c, 250);
  }
  return undefined;
}

/** ACK and BYE of an answered call, along the route set the 2xx taught (RFC 3261 §12.1.2). */
async function inDialog(c: Ctx, peer: Peer, r: Req, final: Final): Promise<void> {
  const dialog: Req = { ...r, ruri: final.contact ?? r.ruri, to: `${r.to};tag=${final.toTag ?? "none"}`, body: "", headers: final.routes.map((v) => `Route: ${v}`) };
  await sendMaybeMutated(c, peer, requestText(c, { ...dialog, method: "ACK", cseq: r.cseq }));
  await step(c, c.rng.pick([10, 500, 3000]));
  await sendMaybeMutated(c, peer, requestText(c, { ...dialog, method: "BYE", cseq: r.cseq + 1 }));
}

async function message(c: Ctx): Promise<void> {
  const peer = c.rng.pick(c.world.clients());
  const user = c.rng.pick(Object.keys(USERS));
  const to = `sip:${c.rng.pick(Object.keys(USERS))}@${DOMAIN}`;
  await withAuth(c, { method: "MESSAGE", ruri: to, from: `<sip:${user}@${DOMAIN}>;tag=${id(c, "m")}`, to: `<${to}>`, callId: id(c, "msg"), cseq: 1, peer, body: "hello" }, user);
}

async function mutatedSeed(c: Ctx): Promise<void> {
  const seed = c.rng.pick(c.seeds);
  const peers = [...c.world.peers.values()].filter((p) => (seed.via === "udp" ? p.kind !== "client" : p.kind === "client"));
  const m = mutate(c.rng, seed.data, c.rng.pick(c.seeds).data);
  await send(c, c.rng.pick(peers), c.rng.chance(0.1) ? seed.data : m.data, true);
}

async function generated(c: Ctx): Promise<void> {
  const [text] = fc.sample(generatedRequest, { seed: c.rng.fork(), numRuns: 1 });
  await send(c, c.rng.pick([...c.world.peers.values()]), text ?? "", true);
}

async function retransmit(c: Ctx): Promise<void> {
  if (c.history.length === 0) return;
  const past = c.rng.pick(c.history);
  await send(c, past.peer, past.data, true);
}

function closeReopen(c: Ctx): void {
  const peer = c.rng.pick(c.world.clients());
  if (peer.open) c.world.close(peer);
  else c.world.reopen(peer);
}

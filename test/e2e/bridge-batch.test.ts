import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack } from "../../scripts/stack.mjs";
import { SipUa } from "../helpers/sip-ua.ts";
import { Sipp, hangUp } from "../helpers/sipp.ts";
import { freePort } from "../helpers/ports.ts";

// The bridge link batches under load (sipedge-bridge.v2, bridge/README.md "Batch frames"): the
// whole stack, the bridge process and three sipp gateways; the link's traffic is read from the
// bridge's /metrics (frames: datagrams and control; messages: what crossed as WebSocket messages).

type Stack = Awaited<ReturnType<typeof startStack>>;

const GATEWAYS = [7070, 7072, 7074];
const NUMBER = "sip:15551234567@localhost";
const CONCURRENT = 30;

let stack: Stack;
let stateDir: string;
let metricsAt = "";
const gateways: Sipp[] = [];
// No keepalives during the test (they would share frames with the calls): the first probe runs
// at start, the next an hour later. CALLS_PER_MINUTE and the per-address cap: one host, many calls.
const vars = { DS_PING_INTERVAL: "3600", LOG_LEVEL: "warn", CALLS_PER_MINUTE: "0", MAX_CONNECTIONS_PER_ADDRESS: "0" };

beforeAll(async () => {
  for (const port of GATEWAYS) gateways.push(Sipp.uas(port));
  stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-batch-"));
  metricsAt = `127.0.0.1:${await freePort()}`;
  const listen = `127.0.0.1:${15000 + Math.floor(Math.random() * 4000)}`;
  stack = await startStack({ port: 0, stateDir, build: false, bridge: { listen, extraArgs: ["--http", metricsAt] }, vars });
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all(gateways.map((g) => g.stop()));
  await rm(stateDir, { recursive: true, force: true });
});

interface LinkCounts {
  frames: { to_edge: number; from_edge: number };
  messages: { to_edge: number; from_edge: number };
}

async function linkCounts(): Promise<LinkCounts> {
  const text = await (await fetch(`http://${metricsAt}/metrics`)).text();
  const read = (name: string, direction: string) => Number(new RegExp(`^${name}\\{direction="${direction}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
  return {
    frames: { to_edge: read("sipedge_bridge_frames_total", "to_edge"), from_edge: read("sipedge_bridge_frames_total", "from_edge") },
    messages: { to_edge: read("sipedge_bridge_link_messages_total", "to_edge"), from_edge: read("sipedge_bridge_link_messages_total", "from_edge") },
  };
}

const delta = (a: LinkCounts, b: LinkCounts) => ({
  frames: { to_edge: b.frames.to_edge - a.frames.to_edge, from_edge: b.frames.from_edge - a.frames.from_edge },
  messages: { to_edge: b.messages.to_edge - a.messages.to_edge, from_edge: b.messages.from_edge - a.messages.from_edge },
});

/** Registers, calls the number (407, INVITE, 100/180/200), ACKs and hangs up; the statuses. */
async function call(ua: SipUa): Promise<{ invite: number; bye: number | undefined }> {
  const placed = await ua.invite(NUMBER);
  if (placed.response.status !== 200) return { invite: placed.response.status, bye: undefined };
  const bye = await hangUp(ua, placed.response, placed.cseq);
  return { invite: 200, bye: bye.status };
}

describe("the bridge link under load and at rest", () => {
  it("a lone call on an idle link: what comes alone crosses alone, at once", async () => {
    const alice = await SipUa.connect(stack.wsUrl, { user: "user0401", password: "pw" });
    expect((await alice.register()).response.status).toBe(200);
    const before = await linkCounts();
    const started = performance.now();
    expect(await call(alice)).toEqual({ invite: 200, bye: 200 });
    const ms = performance.now() - started;
    const d = delta(before, await linkCounts());
    await alice.close();
    // INVITE, ACK, BYE out, each in a message of its own: none waited for company. Back come
    // 100, 180, 200 and the BYE's 200; sipp sends the first three back to back, so the bridge may
    // read them in one turn and send them together; the BYE's 200 comes alone, after the BYE.
    // (The link also carries what else the edge sends meanwhile, e.g. a probe round on a slow
    // box: counted as at least, with every frame from the edge alone in its message.)
    expect(d.frames.from_edge).toBeGreaterThanOrEqual(3);
    expect(d.frames.to_edge).toBeGreaterThanOrEqual(4);
    expect(d.messages.from_edge).toBe(d.frames.from_edge);
    expect(d.messages.to_edge).toBeGreaterThanOrEqual(2);
    expect(d.messages.to_edge).toBeLessThanOrEqual(d.frames.to_edge);
    expect(ms).toBeLessThan(2_000);
  });

  it(`${CONCURRENT} concurrent calls: datagrams that arrive together share a frame, and every call completes`, async () => {
    const uas = await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => SipUa.connect(stack.wsUrl, { user: `user05${String(i).padStart(2, "0")}`, password: "pw" })));
    for (const ua of uas) expect((await ua.register()).response.status).toBe(200);
    const before = await linkCounts();
    const results = await Promise.all(uas.map((ua) => call(ua)));
    const d = delta(before, await linkCounts());
    await Promise.all(uas.map((ua) => ua.close()));
    expect(results).toEqual(Array.from({ length: CONCURRENT }, () => ({ invite: 200, bye: 200 })));
    // Every datagram crossed (4 in, 3 out per call; a gateway may resend its 200, RFC 6026 relays
    // each copy, and the link carries whatever else the edge sends meanwhile); fewer messages
    // carried them.
    expect(d.frames.from_edge).toBeGreaterThanOrEqual(3 * CONCURRENT);
    expect(d.frames.to_edge).toBeGreaterThanOrEqual(4 * CONCURRENT);
    expect(d.messages.to_edge + d.messages.from_edge).toBeLessThan(7 * CONCURRENT);
    expect(d.messages.to_edge).toBeLessThan(d.frames.to_edge);
  });
});

import { createSocket, type Socket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBridge } from "../../scripts/stack.mjs";
import { BRIDGE, DOMAIN, GATEWAYS, NUMBER, clientAddress, gatewayUri, startDeployment, waitFor, waitForDestinations, type Deployment } from "../helpers/deployment.ts";
import { SipUa, header } from "../helpers/sip-ua.ts";
import { ackOk, byeOk } from "../helpers/sipp.ts";

// The bridge host that dies without a word: the process stops (SIGSTOP here: a host that lost
// power or its network), so the edge sees no TCP close and keeps sending into links it believes
// open; then the bridge comes back (a new process, the same bridge id and advertised address) and
// dials in again while the old links still look open. Requests that went into the old links had
// no answer: the shard sends them again through the new link once its hello arrives, as a UDP hop
// would retransmit them. Here the new process listens on another local address (the frozen one
// still holds the UDP port) and advertises the old address. The gateways answer where a request
// came from (RFC 3581 rport), so their answers reach the new process; sipp would not do here (it
// answers a call's later requests to the address its INVITE came from: the frozen process).

/** tm's fr_timer in this stack: a BYE left unanswered this long gets tm's own 408. */
const FR_TIMER_MS = 8000;
/** The restarted bridge's own UDP address (it advertises BRIDGE, the frozen one's). */
const NEW_BRIDGE = "127.0.0.10:5060";
const CALLS = 6;
let dep: Deployment;
const gateways: Gateway[] = [];
const uas: SipUa[] = [];

beforeAll(async () => {
  dep = await startDeployment({ vars: { DS_PING_INTERVAL: "1", FR_TIMER: String(FR_TIMER_MS), CALLS_PER_MINUTE: "0" } });
  for (const ip of GATEWAYS) gateways.push(await Gateway.bind(ip));
  await waitForDestinations(dep, GATEWAYS.map(gatewayUri), "active");
  for (let i = 0; i < CALLS; i++) {
    const ua = await SipUa.connect(dep.wsUrl, { user: `user${String(200 + i).padStart(4, "0")}`, password: "pw", domain: DOMAIN, localAddress: clientAddress(i), ca: dep.ca.cert });
    expect((await ua.register()).response.status).toBe(200);
    uas.push(ua);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(uas.map((u) => u.close().catch(() => undefined)));
  for (const g of gateways) g.close();
  await dep?.destroy();
});

/**
 * A gateway that answers OPTIONS, INVITE and BYE with 200 and sends every answer where its request
 * came from (RFC 3581 §4, as a UAS does for a Via with rport), counting the BYEs per Call-ID.
 */
class Gateway {
  readonly byes = new Map<string, number>();
  private constructor(private readonly socket: Socket, private readonly ip: string) {
    socket.on("message", (data, from) => {
      const text = data.toString("utf8");
      const method = /^([A-Z]+) /.exec(text)?.[1];
      if (method === undefined || method === "ACK") return;
      const lines = text.slice(0, text.indexOf("\r\n\r\n")).split("\r\n");
      const pick = (re: RegExp) => lines.filter((l) => re.test(l));
      const callId = pick(/^(call-id|i):/i)[0]?.replace(/^[^:]+:\s*/, "") ?? "";
      if (method === "BYE") this.byes.set(callId, (this.byes.get(callId) ?? 0) + 1);
      const to = pick(/^(to|t):/i)[0] ?? "To: <sip:gw>";
      const answer = [
        "SIP/2.0 200 OK",
        ...pick(/^(via|v):/i),
        ...(method === "INVITE" ? pick(/^record-route:/i) : []),
        ...pick(/^(from|f):/i),
        /;tag=/i.test(to) ? to : `${to};tag=gw${callId.length}`,
        ...pick(/^(call-id|i):/i),
        ...pick(/^cseq:/i),
        ...(method === "INVITE" ? [`Contact: <sip:gw@${this.ip}:5060>`] : []),
        "Content-Length: 0",
        "",
        "",
      ].join("\r\n");
      socket.send(answer, from.port, from.address);
    });
  }

  static async bind(ip: string): Promise<Gateway> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => socket.once("error", reject).bind(5060, ip, () => resolve()));
    return new Gateway(socket, ip);
  }

  close(): void {
    this.socket.close();
  }
}

describe("a bridge that stops without closing its links, then dials in again", () => {
  it("the BYEs sent into the links it left open are sent again through its new links and answered", async () => {
    const answered = await Promise.all(uas.map((ua) => ua.invite(NUMBER)));
    expect(answered.map((o) => o.response.status)).toEqual(Array(CALLS).fill(200));
    answered.forEach((o, i) => ackOk(uas[i]!, o.response, o.cseq));

    const frozen = dep.bridge!.process;
    const { shards } = await dep.bridgeLinks();
    process.kill(frozen.pid!, "SIGSTOP");
    let again: Awaited<ReturnType<typeof startBridge>> | undefined;
    try {
      // Every caller hangs up: the BYEs go into links whose reader is gone (the edge still counts them up).
      const byes = answered.map((o, i) => byeOk(uas[i]!, o.response, o.cseq));
      await new Promise((r) => setTimeout(r, 500));
      expect((await dep.bridgeLinks()).up).toBe(shards);
      const frozenAt = Date.now();
      again = await startBridge({
        edgeUrl: dep.url, secret: dep.bridgeSecret, listen: NEW_BRIDGE, shards,
        extraArgs: ["--advertise", BRIDGE], env: { NODE_EXTRA_CA_CERTS: dep.ca.certPath },
      });
      await waitFor(async () => (await dep.bridgeLinks()).up >= shards, 10_000, "the new bridge's links");
      const statuses = (await Promise.all(byes)).map((r) => r.status);
      const answeredAfterMs = Date.now() - frozenAt;
      // 200 from the gateways, not tm's 408 at fr_timer: the BYEs crossed the new bridge.
      expect(statuses).toEqual(Array(CALLS).fill(200));
      for (const o of answered) {
        const callId = header(o.response, "call-id") ?? "";
        expect(gateways.reduce((n, g) => n + (g.byes.get(callId) ?? 0), 0), callId).toBeGreaterThanOrEqual(1);
      }
      console.info(`bridge frozen: ${CALLS} BYEs sent into the old links answered 200 through the new bridge ${answeredAfterMs} ms after it was started`);
    } finally {
      process.kill(frozen.pid!, "SIGKILL");
      await again?.stop();
    }
  }, 60_000);
});

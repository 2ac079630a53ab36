// The soak's traffic on a deployment-shaped stack: registrations refreshing, calls to the sipp
// gateways, calls between registered users (the callee answers), and a trickle of malformed
// messages. Open loop: each kind is started at its rate whether or not earlier ones finished,
// so a slow edge shows as latency and failures, not as a lower offered load.
import { DOMAIN, NUMBER, type Deployment } from "../helpers/deployment.ts";
import { SipUa, header, type SipMessage } from "../helpers/sip-ua.ts";
import { ackOk, byeOk } from "../helpers/sipp.ts";

export interface Rates {
  /** REGISTER refreshes per second over all clients. */
  registers: number;
  /** Calls to the gateways per second. */
  gatewayCalls: number;
  /** Calls between registered users per second. */
  userCalls: number;
  /** Malformed messages per second (each must be answered 400). */
  malformed: number;
}

export interface Tally {
  registers: number;
  gatewayCalls: number;
  userCalls: number;
  malformedAnswered: number;
  /** Offers dropped because every client was busy. */
  skipped: number;
  failures: string[];
}

/** 127.3.x.y: one address per soak client, clear of the topology's 127.0.0.x. */
const address = (i: number) => `127.3.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Answers what a registered client receives: INVITE 200 (with a tag), BYE 200, ACK nothing. */
async function answer(ua: SipUa, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    const m = await ua.nextRequest(undefined, 1000).catch(() => undefined);
    if (m === undefined) continue;
    if (m.method === "INVITE" || m.method === "BYE") ua.send(ok(m, m.method === "INVITE"));
  }
}

function ok(request: SipMessage, tag: boolean): string {
  const keep = request.raw.split("\r\n").filter((l) => /^(via|v|from|f|to|t|call-id|i|cseq|record-route):/i.test(l));
  const lines = keep.map((l) => (tag && /^(to|t):/i.test(l) && !/;tag=/i.test(l) ? `${l};tag=soak` : l));
  const contact = tag ? ["Contact: <sip:callee@soak.invalid;transport=ws>"] : [];
  return ["SIP/2.0 200 OK", ...lines, ...contact, "Content-Length: 0", "", ""].join("\r\n");
}

export class Workload {
  readonly tally: Tally = { registers: 0, gatewayCalls: 0, userCalls: 0, malformedAnswered: 0, skipped: 0, failures: [] };
  private readonly clients: SipUa[] = [];
  private malformedUa: SipUa | undefined;
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();
  private next = 0;
  private readonly busy = new Set<SipUa>();

  constructor(
    private readonly dep: Deployment,
    private readonly size: number,
  ) {}

  /** Connects and registers every client (100 at a time) and starts their answering loops. */
  async start(): Promise<void> {
    for (let i = 0; i < this.size; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, this.size - i) }, async (_, j) => {
          const n = i + j;
          const ua = await SipUa.connect(this.dep.wsUrl, { user: `user${String(n % 1000).padStart(4, "0")}`, password: "pw", domain: DOMAIN, localAddress: address(n), ca: this.dep.ca.cert });
          const status = (await ua.register()).response.status;
          if (status !== 200) throw new Error(`soak client ${n}: registration ${status}`);
          return ua;
        }),
      );
      this.clients.push(...batch);
    }
    for (const ua of this.clients) void answer(ua, () => this.stopping);
    this.malformedUa = await SipUa.connect(this.dep.wsUrl, { user: "malformed", password: "x", domain: DOMAIN, localAddress: address(this.size), ca: this.dep.ca.cert });
  }

  /** Offers `rates` for `ms`, then waits for what is still running. */
  async run(rates: Rates, ms: number): Promise<void> {
    const end = Date.now() + ms;
    const kinds: [string, number, () => Promise<void>][] = [
      ["register", rates.registers, () => this.register()],
      ["gateway call", rates.gatewayCalls, () => this.gatewayCall()],
      ["user call", rates.userCalls, () => this.userCall()],
      ["malformed", rates.malformed, () => this.malformed()],
    ];
    await Promise.all(
      kinds.filter(([, rate]) => rate > 0).map(async ([kind, rate, start]) => {
        const gap = 1000 / rate;
        for (let at = Date.now(); at < end; at += gap) {
          await sleep(Math.max(0, at - Date.now()));
          this.track(kind, start());
        }
      }),
    );
    await Promise.all(this.inFlight);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await sleep(1100); // the answering loops notice
    await Promise.all([...this.clients, this.malformedUa].map((ua) => ua?.close().catch(() => undefined)));
  }

  private track(kind: string, p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => void this.tally.failures.push(`${kind}: ${String(err)}`)).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /**
   * The next idle client, round robin, marked busy until `release`: a phone does one thing at a
   * time here (its REGISTERs share a Call-ID and its requests a nonce-count). None idle: the
   * offer is skipped and counted, a sign that the clients are too few for the rates.
   */
  private pick(): SipUa | undefined {
    for (let i = 0; i < this.clients.length; i++) {
      const ua = this.clients[this.next++ % this.clients.length]!;
      if (!this.busy.has(ua)) {
        this.busy.add(ua);
        return ua;
      }
    }
    this.tally.skipped++;
    return undefined;
  }

  private async using(n: 1 | 2, f: (a: SipUa, b: SipUa) => Promise<void>): Promise<void> {
    const a = this.pick();
    const b = n === 2 ? this.pick() : a;
    try {
      if (a !== undefined && b !== undefined) await f(a, b);
    } finally {
      if (a !== undefined) this.busy.delete(a);
      if (b !== undefined) this.busy.delete(b);
    }
  }

  private register(): Promise<void> {
    return this.using(1, async (ua) => {
      const status = (await ua.register()).response.status;
      if (status !== 200) throw new Error(`REGISTER ${status}`);
      this.tally.registers++;
    });
  }

  private gatewayCall(): Promise<void> {
    return this.using(1, async (ua) => {
      const o = await ua.invite(NUMBER);
      if (o.response.status !== 200) throw new Error(`gateway INVITE ${o.response.status}`);
      ackOk(ua, o.response, o.cseq);
      await sleep(1000);
      const bye = await byeOk(ua, o.response, o.cseq);
      if (bye.status !== 200) throw new Error(`gateway BYE ${bye.status}`);
      this.tally.gatewayCalls++;
    });
  }

  private userCall(): Promise<void> {
    return this.using(2, async (caller, callee) => {
      const o = await caller.invite(`sip:${callee.options.user}@${DOMAIN}`);
      if (o.response.status !== 200) throw new Error(`user INVITE ${o.response.status} ${o.response.reason}`);
      ackOk(caller, o.response, o.cseq);
      await sleep(500);
      const bye = await byeOk(caller, o.response, o.cseq);
      if (bye.status !== 200) throw new Error(`user BYE ${bye.status}`);
      this.tally.userCalls++;
    });
  }

  /** A request whose Via is broken: the edge answers 400 with a reason, and nothing stays behind. */
  private async malformed(): Promise<void> {
    const ua = this.malformedUa!;
    const callId = `malformed-${crypto.randomUUID()}`;
    ua.send(`OPTIONS sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/WSS soak.invalid;branch=z9hG4bK${callId}\r\nMax-Forwards: 70\r\nFrom: <sip:m@x.test>;tag=m\r\nTo: <sip:${DOMAIN}>\r\nCall-ID: ${callId}\r\nCSeq: nonsense OPTIONS\r\nContent-Length: 0\r\n\r\n`);
    const reply = await ua.nextResponse(callId, 5000);
    if (reply.status !== 400) throw new Error(`malformed request answered ${reply.status} ${header(reply, "cseq") ?? ""}`);
    this.tally.malformedAnswered++;
  }
}

/**
 * The shipped route script with the uac module wired in, in one process: a caller on a WebSocket
 * flow that answers the edge's 407 with the uac module's own digest client, a carrier gateway
 * (127.0.0.20:5060 behind the bridge 127.0.0.9) whose answers the test writes, a trusted carrier
 * calling in (127.0.0.23), and in-memory uacreg rows, DIDs, groups and call counters.
 */
import { parseConfig, type Config } from "../../../src/config.ts";
import { createLogger } from "../../../src/log.ts";
import { computeHa1, createAuth } from "../../../src/modules/auth/index.ts";
import { DispatcherClient } from "../../../src/modules/dispatcher/client.ts";
import type { DialogService } from "../../../src/modules/dialog/script.ts";
import { Permissions } from "../../../src/modules/permissions/index.ts";
import { createRegistrar } from "../../../src/modules/registrar/index.ts";
import { createRr } from "../../../src/modules/rr/index.ts";
import { Tm, type Target } from "../../../src/modules/tm/index.ts";
import type { UserProfile } from "../../../src/modules/uac/caller-id.ts";
import { answerChallenge } from "../../../src/modules/uac/digest-client.ts";
import type { CallRefusal, UacService } from "../../../src/modules/uac/service.ts";
import type { UacRegRow } from "../../../src/modules/uac/uacreg.ts";
import { defaultScript } from "../../../src/routes/default.ts";
import { isMyself, type Services, type Source } from "../../../src/routing/context.ts";
import { processMessage } from "../../../src/routing/pipeline.ts";
import type { SipRequest, SipResponse } from "../../../src/sip/message.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { createResponse } from "../../../src/sip/response.ts";
import { serialize } from "../../../src/sip/serializer.ts";
import { Signer } from "../../../src/util/signer.ts";
import { FakeClock, MemoryDispatcher, MemoryGuard, MemoryLocation } from "../../fuzz/services.ts";

export const DOMAIN = "sip.example.test";
export const BRIDGE = "127.0.0.9";
export const GATEWAY = "127.0.0.20";
export const CARRIER = "127.0.0.23";
export const PASSWORD = "pw";

export function uacregRow(row: Partial<UacRegRow> & Pick<UacRegRow, "l_uuid">): UacRegRow {
  return {
    l_username: "", l_domain: DOMAIN, r_username: "", r_domain: "", realm: "", auth_username: "", auth_password: "", auth_ha1: "",
    auth_proxy: "", expires: 0, flags: 0, reg_delay: 0, contact_addr: "", socket: "", ...row,
  };
}

export interface Sent {
  request: SipRequest;
  target: Target;
}

export class UacWorld {
  readonly clock = new FakeClock();
  readonly config: Config;
  readonly logLines: string[] = [];
  readonly tm: Tm;
  readonly rows: UacRegRow[] = [];
  readonly profiles = new Map<string, UserProfile>();
  readonly dids = new Map<string, string>();
  readonly refusals: CallRefusal[] = [];
  /** Makes reading the uacreg rows fail, as a D1 outage would. */
  failRows = false;
  /** Requests the proxy sent toward the gateway side. */
  readonly toGateway: Sent[] = [];
  private readonly calls = new Map<string, number[]>();
  private readonly shifts = new Map<string, number>();
  private readonly services: Services;
  private cseq = 1;

  constructor(vars: Record<string, string> = {}) {
    this.config = parseConfig({ SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", LOG_LEVEL: "debug", ...vars });
    const log = createLogger("debug", (line) => this.logLines.push(line));
    const now = this.clock.now;
    const signer = new Signer({ current: "uac-test-secret" }, "sipedge rr");
    this.tm = new Tm({
      ownerId: "0", sentBy: { transport: "WS", host: DOMAIN }, signer: new Signer({ current: "uac-test-secret" }, "sipedge branch"),
      sendRequest: (request, target) => {
        if (target.dst !== undefined) this.toGateway.push({ request, target });
        return true;
      },
      timers: this.clock, clock: this.clock, serverHeader: "sipedge",
    });
    const isBridge = (h: string, p: number | undefined): boolean => h === BRIDGE && (p ?? 5060) === 5060;
    const dialogs: DialogService = {
      answered: () => undefined,
      ended: () => undefined,
      cseqShift: (callId) => this.shifts.get(callId) ?? 0,
      shiftCseq: (callId, by) => void this.shifts.set(callId, (this.shifts.get(callId) ?? 0) + by),
    };
    const uac: UacService = {
      rows: async () => {
        if (this.failRows) throw new Error("D1 is down");
        return this.rows;
      },
      profile: async (user) => this.profiles.get(user) ?? { numbers: [], groups: [] },
      did: async (e164) => (this.dids.has(e164) ? { user: this.dids.get(e164) as string, domain: DOMAIN } : undefined),
      takeCall: async (aor, perMinute) => {
        const t = (this.calls.get(aor) ?? []).filter((x) => now() - x < 60_000);
        if (t.length >= perMinute) return false;
        this.calls.set(aor, [...t, now()]);
        return true;
      },
      refused: (record) => {
        this.refusals.push(record);
        log.warn("call refused", { ...record });
      },
    };
    const permissions = Permissions.compile({ trustedRows: [{ src_ip: CARRIER, proto: "udp" }] });
    this.services = {
      auth: createAuth({ secrets: { current: "uac-nonce" }, clock: now, lookup: ({ user, realm }) => (realm === DOMAIN ? { ha1: computeHa1("MD5", user, realm, PASSWORD), ha1Sha256: computeHa1("SHA-256", user, realm, PASSWORD) } : undefined) }),
      location: new MemoryLocation(createRegistrar(this.config.registrar), now),
      subscriberExists: async () => true,
      tm: this.tm,
      rr: createRr({ listen: { ws: { host: DOMAIN }, wss: { host: DOMAIN }, udp: { host: BRIDGE, port: 5060 } }, isMyself: (t) => isMyself(this.config, t, isBridge), signer }),
      routeResponse: (response) => void this.tm.receiveResponse(response),
      dispatcher: new DispatcherClient(new MemoryDispatcher(`1 sip:${GATEWAY}:5060`, now), 1000, now),
      bridgeVia: () => ({ transport: "UDP", host: BRIDGE, port: 5060, bridge: "b1" }),
      bridgeAt: (h, p) => (isBridge(h, p) ? "b1" : undefined),
      isBridgeAddress: isBridge,
      guard: new MemoryGuard(this.config.security, now),
      permissions: async () => permissions,
      dialogs,
      uac,
      shard: "0",
    };
  }

  /** Hands `text` to the pipeline from `source`; resolves with what goes back on that socket (a live list: later answers join it). */
  async deliver(text: string, source: Source): Promise<SipResponse[]> {
    const sent: SipResponse[] = [];
    const transport = { send: (m: unknown) => void sent.push(parse(typeof m === "string" ? m : serialize(m as SipRequest)) as SipResponse) };
    await processMessage(defaultScript, { data: text, source, transport, config: this.config, log: createLogger("debug", (l) => this.logLines.push(l)), services: this.services });
    await new Promise((r) => setTimeout(r, 0));
    return sent;
  }

  /** The caller (a WebSocket flow) sends `text`; a 407 from the edge is answered once with the caller's password. */
  async fromCaller(build: (cseq: number) => string, user = "alice"): Promise<{ challenge?: SipResponse; replies: SipResponse[] }> {
    const source: Source = { transport: "ws", ip: "127.0.1.1", flow: "0.caller" };
    const cseq = this.cseq;
    const first = await this.deliver(build(cseq), source);
    const challenge = first.find((r) => r.status === 407);
    if (challenge === undefined) return { replies: first };
    this.cseq = cseq + 2;
    const request = parse(build(cseq + 1)) as SipRequest;
    const answer = answerChallenge(challenge, { method: request.method, uri: request.uri }, { username: user, password: PASSWORD, ha1: "", realm: "" });
    if (!answer.ok) throw new Error(answer.reason);
    const replies = await this.deliver(build(cseq + 1).replace("\r\n\r\n", `\r\n${answer.answer.header}: ${answer.answer.value}\r\n\r\n`), source);
    return { challenge, replies };
  }

  /** The gateway answers the request the proxy sent it (responses come back through the bridge). */
  async gatewayAnswers(request: SipRequest, status: number, reason: string, headers: [string, string][] = [], toTag = "gw1"): Promise<void> {
    const response = createResponse(request, status, reason, { toTag, headers });
    if (status >= 200 && status < 300 && request.method === "INVITE") {
      for (const rr of request.headers.getAll("record-route")) response.headers.append("Record-Route", rr);
      response.headers.append("Contact", `<sip:${GATEWAY}:5060>`);
    }
    await this.deliver(serialize(response), { transport: "udp", ip: GATEWAY, port: 5060, bridge: "b1" });
  }

  /** The last request of `method` the proxy sent toward the gateway. */
  lastToGateway(method: string): SipRequest {
    const found = this.toGateway.filter((s) => s.request.method === method).at(-1);
    if (found === undefined) throw new Error(`nothing sent to the gateway with ${method}`);
    return found.request;
  }
}

export function parse(text: string): SipRequest | SipResponse {
  const parsed = parseMessage(text);
  if (!parsed.ok) throw new Error(`does not parse: ${parsed.reason}\n${text}`);
  return parsed.message;
}

/** An INVITE from alice to `target` at CSeq `cseq`. */
export function inviteText(target: string, cseq: number, extra: string[] = [], callId = "uac-call-1", user = "alice"): string {
  return [
    `INVITE ${target} SIP/2.0`, `Via: SIP/2.0/WSS a.invalid;branch=z9hG4bKc${cseq}${callId}`, "Max-Forwards: 70",
    `From: <sip:${user}@${DOMAIN}>;tag=caller1`, `To: <${target}>`, `Call-ID: ${callId}`, `CSeq: ${cseq} INVITE`,
    `Contact: <sip:${user}@a.invalid;transport=ws>`, ...extra, "Content-Length: 0", "", "",
  ].join("\r\n");
}

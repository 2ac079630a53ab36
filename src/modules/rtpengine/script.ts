/**
 * `ctx.rtpengine`: Kamailio's rtpengine functions over one message (`rtpengine_offer`,
 * `rtpengine_answer`, `rtpengine_delete`, `rtpengine_manage`, `set_rtpengine_set`). The SDP is
 * replaced whole with rtpengine's, or left untouched: a half-rewritten SDP never leaves.
 */
import type { Logger } from "../../log.ts";
import type { SipMessage, SipRequest } from "../../sip/message.ts";
import type { RtpengineClient, RtpengineError } from "./client.ts";
import { compileFlags, type NgDict } from "./flags.ts";
import { checkRewritten, sdpOf } from "./sdp.ts";

export type RtpengineFailure = RtpengineError | "no-sdp" | "bad-sdp" | "bad-flags";

export type RtpengineResult =
  | { ok: true; command: "offer" | "answer" | "delete" | "none" }
  | { ok: false; error: RtpengineFailure; detail: string; status: number; reason: string };

/** The one table of what each failure answers, when the script chooses to answer it. */
export const FAILURE_REPLY: Record<RtpengineFailure, { status: number; reason: string }> = {
  "no-bridge": { status: 503, reason: "Media Relay Unavailable" },
  timeout: { status: 503, reason: "Media Relay Unavailable" },
  unavailable: { status: 503, reason: "Media Relay Unavailable" },
  send: { status: 503, reason: "Media Relay Unavailable" },
  refused: { status: 500, reason: "Media Relay Refused" },
  invalid: { status: 500, reason: "Media Relay Error" },
  "bad-sdp": { status: 500, reason: "Media Relay Error" },
  "bad-flags": { status: 500, reason: "Server Internal Error" },
  "no-sdp": { status: 488, reason: "Not Acceptable Here" },
};

/** What the module needs from its host: the client, and the source of the message. */
export interface RtpengineHost {
  client: RtpengineClient;
  /** The bridge the message (or its transaction's request) came through, if any: its rtpengine holds the call. */
  bridge?: string;
  /** The address the message came from, for rtpengine's `received-from`. */
  sourceIp?: string;
}

export class RtpengineScript {
  private set = 0;

  constructor(
    /** The message whose SDP is offered or answered (a request, or a reply in an onreply route). */
    private readonly msg: SipMessage,
    /** For a reply: the request it answers (for `manage` and `via-branch`). */
    private readonly request: SipRequest | undefined,
    private readonly host: RtpengineHost,
    private readonly log: Logger,
  ) {}

  /**
   * Whether the bridge this message would use runs rtpengine (started with `--rtpengine`). A bridge
   * without it carries calls un-anchored, as before media support; one with it that cannot reach
   * rtpengine makes the commands fail (503).
   */
  available(): boolean {
    return this.host.client.available(this.host.bridge);
  }

  /** Kamailio `set_rtpengine_set(n)`: the set the following commands use. */
  setSet(set: number): void {
    this.set = set;
  }

  /** Kamailio `rtpengine_offer(flags)`: the message's SDP becomes rtpengine's offer. */
  offer(flags = ""): Promise<RtpengineResult> {
    return this.sdpCommand("offer", flags);
  }

  /** Kamailio `rtpengine_answer(flags)`: the message's SDP becomes rtpengine's answer. */
  answer(flags = ""): Promise<RtpengineResult> {
    return this.sdpCommand("answer", flags);
  }

  /** Kamailio `rtpengine_delete(flags)`: ends the call's media session (or one side of it with `to-tag`). */
  async delete(flags = ""): Promise<RtpengineResult> {
    const compiled = compileFlags(flags);
    if (!compiled.ok) return failure("bad-flags", compiled.reason);
    const ng = this.base("delete", compiled.value.ng, compiled.value.viaBranch);
    if (!/(^|\s)to-tag=/.test(flags)) delete ng["to-tag"]; // a whole call, unless the script names a side
    const outcome = await this.host.client.request(ng, this.set, this.host.bridge);
    if (!outcome.ok) return failure(outcome.error, outcome.detail);
    return { ok: true, command: "delete" };
  }

  /**
   * Kamailio `rtpengine_manage(flags)`: offer, answer or delete, chosen by the message. A request:
   * INVITE/UPDATE with SDP → offer, ACK/PRACK with SDP → answer, BYE/CANCEL → delete. A reply with
   * SDP → answer when its request had SDP, else offer (late offer); a failure reply to an INVITE →
   * delete. Anything else: nothing to do.
   */
  manage(flags = ""): Promise<RtpengineResult> {
    const msg = this.msg;
    const hasSdp = sdpOf(msg) !== undefined;
    if (msg.kind === "request") {
      if (msg.method === "BYE" || msg.method === "CANCEL") return this.delete(flags);
      if (!hasSdp) return Promise.resolve({ ok: true, command: "none" });
      if (msg.method === "INVITE" || msg.method === "UPDATE") return this.offer(flags);
      if (msg.method === "ACK" || msg.method === "PRACK") return this.answer(flags);
      return Promise.resolve({ ok: true, command: "none" });
    }
    if (msg.status >= 300 && msg.cseq.method === "INVITE") return this.delete(flags);
    if (!hasSdp) return Promise.resolve({ ok: true, command: "none" });
    const offered = this.request !== undefined && sdpOf(this.request) !== undefined;
    return offered ? this.answer(flags) : this.offer(flags);
  }

  private async sdpCommand(command: "offer" | "answer", flags: string): Promise<RtpengineResult> {
    const compiled = compileFlags(flags);
    if (!compiled.ok) return failure("bad-flags", compiled.reason);
    const sdp = sdpOf(this.msg);
    if (sdp === undefined) return failure("no-sdp", `rtpengine_${command}: the message has no SDP body`);
    const ng = this.base(command, compiled.value.ng, compiled.value.viaBranch);
    ng.sdp = sdp;
    const outcome = await this.host.client.request(ng, this.set, this.host.bridge);
    if (!outcome.ok) return failure(outcome.error, outcome.detail);
    const rewritten = outcome.ng.sdp;
    if (typeof rewritten !== "string") return failure("bad-sdp", `rtpengine answered the ${command} without SDP`);
    const whole = checkRewritten(sdp, rewritten);
    if (!whole.ok) return failure("bad-sdp", whole.reason);
    this.msg.body = rewritten;
    this.log.debug("rtpengine " + command, { instance: outcome.instance, bridge: outcome.bridge });
    return { ok: true, command };
  }

  /** The ng dictionary every command starts from: the call's identity, then the flags' entries. */
  private base(command: string, flags: Readonly<NgDict>, viaBranch: string | undefined): NgDict {
    const msg = this.msg;
    const ng: NgDict = { ...flags, command, "call-id": msg.callId };
    const fromTag = msg.from().params.get("tag");
    const toTag = msg.to().params.get("tag");
    if (fromTag) ng["from-tag"] = fromTag;
    if (toTag) ng["to-tag"] = toTag;
    const branch = viaBranch === undefined ? undefined : this.viaBranch(viaBranch);
    if (branch !== undefined) ng["via-branch"] = branch;
    const ip = this.host.sourceIp;
    if (ip !== undefined && ip !== "") ng["received-from"] = [ip.includes(":") ? "IP6" : "IP4", ip];
    return ng;
  }

  /**
   * Kamailio's `via-branch=`: 1 the top Via's branch, 2 the second's, auto the top for a request
   * and the second for a reply (in a reply the proxy's own Via is still on top, so both name the
   * caller's branch). `extra` and `next` have no value here and are left out.
   */
  private viaBranch(which: string): string | undefined {
    const vias = this.msg.vias();
    const index = which === "1" ? 0 : which === "2" ? 1 : which === "auto" ? (this.msg.kind === "request" ? 0 : 1) : -1;
    return index < 0 ? undefined : vias[index]?.branch;
  }
}

function failure(error: RtpengineFailure, detail: string): RtpengineResult {
  const reply = FAILURE_REPLY[error];
  return { ok: false, error, detail, status: reply.status, reason: reply.reason };
}

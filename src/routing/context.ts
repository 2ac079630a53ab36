import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { SipMessage, SipRequest, SipResponse } from "../sip/message.ts";
import type { Uri } from "../sip/uri.ts";
import { AuthScript } from "../modules/auth/script.ts";
import { DispatcherScript } from "../modules/dispatcher/script.ts";
import { FROM_LIST_IGNORE_PROTO, isFromList } from "../modules/dispatcher/lookup.ts";
import { Maxfwd } from "../modules/maxfwd/index.ts";
import { RegistrarScript } from "../modules/registrar/script.ts";
import type { Leg } from "../modules/rr/index.ts";
import { RrScript } from "../modules/rr/script.ts";
import { bindRequest, type SentBy, type Target, type TmRequest } from "../modules/tm/index.ts";
import { notifyFinals, RouteView, Upstream, type RtpengineOfCall } from "./kept.ts";
import type { BaseContext, Services, Source, Transport } from "./services.ts";
import type { ForwardResult } from "../modules/forward/index.ts";
import { Textops } from "../modules/textops/index.ts";
import { Sanity } from "../modules/sanity/index.ts";
import { Sl } from "../modules/sl/index.ts";
import type { AuthFailure } from "../modules/auth/index.ts";
import { HtableScript, IpBanTable } from "../modules/htable/script.ts";
import { PermissionsScript } from "../modules/permissions/script.ts";
import { PikeScript } from "../modules/pike/script.ts";
import { DialogScript } from "../modules/dialog/script.ts";
import { AccScript } from "../modules/acc/index.ts";
import { RtpengineScript } from "../modules/rtpengine/script.ts";
import { CallLimitScript } from "../modules/calllimit/script.ts";
import { UacScript } from "../modules/uac/script.ts";

export type { BaseContext, Services, Source, Transport } from "./services.ts";

/**
 * Kamailio `is_myself`: the host (or the host of a URI) is the edge's domain or an alias, or an
 * address one of its bridges advertises (a gateway addresses the proxy by the bridge it reaches:
 * `sip:+4930123@203.0.113.10:5060`).
 */
export function isMyself(config: Config, target: string | Uri, isBridgeAddress?: (host: string, port: number | undefined) => boolean): boolean {
  const host = typeof target === "string" ? target : "host" in target ? target.host : undefined;
  if (host === undefined) return false;
  const h = host.toLowerCase();
  if (h === config.domain || config.aliases.includes(h)) return true;
  const port = typeof target === "string" ? undefined : "port" in target ? target.port : undefined;
  return isBridgeAddress !== undefined && isBridgeAddress(h.replace(/^\[|\]$/g, ""), port);
}

export type { RtpengineOfCall };

export class RequestContext implements BaseContext {
  readonly kind = "request";
  #handled = false;
  #sl?: Sl;
  #maxfwd?: Maxfwd;
  #sanity?: Sanity;
  #auth?: AuthScript;
  #registrar?: RegistrarScript;
  #tm?: TmRequest;
  #rr?: RrScript;
  #dispatcher?: DispatcherScript;
  #acc?: AccScript;
  /** The last stateless reply sent (`sl_send_reply`); acc records a request answered so. */
  lastReply: SipResponse | undefined;
  #rtpengine?: RtpengineScript;
  #uac?: UacScript;
  /** Set by the script once the caller has authenticated (Kamailio scripts keep a flag). */
  authenticated = false;
  /** Set by the script for a trusted source (a gateway of the dispatcher list, a trusted address). */
  trusted = false;
  /** Set by `ctx.auth` when a digest check failed (the excessive-REGISTER rule counts these). */
  authFailure: { code: AuthFailure; username: string | undefined } | undefined;
  #finals: ((response: SipResponse) => void)[] | undefined;
  /**
   * Kamailio `$du`: the next hop when it is not the Request-URI. `ds_select_dst` sets it (unless
   * told not to overwrite one, OpenSIPS `force_dst` 0), a script may; `forward()` sends there.
   */
  du: Target | undefined = undefined;

  constructor(
    readonly msg: SipRequest,
    readonly source: Source,
    readonly config: Config,
    readonly log: Logger,
    private readonly transport: Transport,
    private readonly services: Services = {},
  ) {}

  /** True once the request was answered, dropped or handed on: the script's defaults stay quiet. */
  get handled(): boolean {
    return this.#handled;
  }

  /** Kamailio `drop`: end processing without an answer. */
  drop(): void {
    this.#handled = true;
  }

  /** Sends a message on the transport the request came from and marks the request handled. */
  reply(response: SipResponse): void {
    this.#handled = true;
    this.lastReply = response;
    this.#sent(response);
    this.transport.send(response);
  }

  /**
   * `fn` hears of every final response sent back for this request, by sl or by its transaction
   * (Kamailio: a tm `TMCB_RESPONSE_OUT` callback). A transaction restored after an eviction
   * has lost it.
   */
  onFinalResponse(fn: (response: SipResponse) => void): void {
    (this.#finals ??= []).push(fn);
  }

  #sent(message: SipMessage | string): void {
    if (this.#finals !== undefined) notifyFinals(this.#finals, message);
  }

  isMyself(target: string | Uri): boolean {
    return isMyself(this.config, target, this.services.isBridgeAddress);
  }

  /** Whether the host wired a service in (a script can skip a module the host does not offer). */
  has(service: keyof Services): boolean {
    return this.services[service] !== undefined;
  }

  /** This object's shard number (written into Record-Route so the bridge finds the dialog). */
  get shard(): string {
    return this.services.shard ?? "0";
  }

  /** The Via sent-by (and bridge id) for a branch through a bridge: `bridge` when its link is up, else any. */
  bridgeVia(bridge?: string): (SentBy & { bridge: string }) | undefined {
    return this.services.bridgeVia?.(bridge);
  }

  /** Waits up to `ms` for a bridge link (a restarted bridge dialling in again); true when one is up. */
  async whenBridgeLinked(ms: number): Promise<boolean> {
    return (await this.services.bridgeLinked?.(ms)) ?? false;
  }

  /** The bridge that advertises host[:port], if one of this edge's does. */
  bridgeAt(host: string, port: number | undefined): string | undefined {
    return this.services.bridgeAt?.(host, port);
  }

  get sl(): Sl {
    return (this.#sl ??= new Sl(this));
  }

  get maxfwd(): Maxfwd {
    return (this.#maxfwd ??= new Maxfwd(this.msg));
  }

  get sanity(): Sanity {
    return (this.#sanity ??= new Sanity(this.msg));
  }

  get auth(): AuthScript {
    return (this.#auth ??= new AuthScript(this, need(this.services.auth, "auth"), this.services.subscriberExists));
  }

  get registrar(): RegistrarScript {
    return (this.#registrar ??= new RegistrarScript(this, this.services));
  }

  /** Kamailio textops over this request (`append_hf`, `remove_hf`, `is_present_hf`). */
  get textops(): Textops {
    return new Textops(this.msg);
  }

  /**
   * Kamailio and OpenSIPS core `forward()`: sends the request on statelessly (RFC 3261 §16.11) to
   * `target`, by default `$du`; its responses come back by the Via alone. Only a client's flow or
   * a destination the script vetted through a bridge can be a target: there is no DNS route out.
   */
  forward(target: Target | undefined = this.du): ForwardResult {
    if (target === undefined) return { ok: false, error: "no-destination", status: 404, reason: "No destination" };
    const result = need(this.services.forwarder, "forwarder").forward(this.msg, target, this.source);
    if (result.ok) this.#handled = true;
    return result;
  }

  /** Kamailio tm over this request (`t_relay`, `t_check_trans`, `t_on_failure`, ...). */
  get tm(): TmRequest {
    if (!this.#tm) {
      const upstream = new Upstream(this.transport, (this.#finals ??= []));
      // Once tm owns the request (relayed, answered, or matched to a transaction), the SIP
      // defaults stay quiet: the transaction answers from then on.
      const base = new RouteView(this.config, this.log, this.source, this.services.isBridgeAddress);
      this.#tm = bindRequest(need(this.services.tm, "tm"), this.msg, upstream, base, this.source.flow, () => {
        this.#handled = true;
      });
    }
    return this.#tm;
  }

  /** Kamailio dispatcher over this request. */
  get dispatcher(): DispatcherScript {
    return (this.#dispatcher ??= new DispatcherScript(this, need(this.services.dispatcher, "dispatcher"), this.services.bridgeVia ?? (() => undefined)));
  }

  /** Kamailio rtpengine over this request (`rtpengine_offer`, `rtpengine_answer`, `rtpengine_delete`, `rtpengine_manage`). */
  get rtpengine(): RtpengineScript {
    return (this.#rtpengine ??= this.rtpengineFor(this.msg));
  }

  /**
   * rtpengine over another message of this call (a reply in an onreply route, the request in a
   * failure route), through the same bridge as this request.
   */
  rtpengineFor(msg: SipMessage, request?: SipRequest): RtpengineScript {
    const host = { client: need(this.services.rtpengine, "rtpengine"), bridge: this.source.bridge, sourceIp: msg === this.msg ? this.source.ip : undefined };
    return new RtpengineScript(msg, request, host, this.log);
  }

  /**
   * `rtpengineFor` for routes that outlive the request route (an onreply route still runs for a
   * 2xx retransmitted 32 s later): it holds the client, the bridge and the log, not this context.
   */
  rtpengineOfCall(): RtpengineOfCall {
    const client = need(this.services.rtpengine, "rtpengine");
    const { bridge, ip } = this.source;
    const log = this.log;
    return (msg, request, fromSource = false) => new RtpengineScript(msg, request, { client, bridge, sourceIp: fromSource ? ip : undefined }, log);
  }

  /** Kamailio pike over this request (`pike_check_req`). */
  get pike(): PikeScript {
    return new PikeScript(this, need(this.services.guard, "guard"));
  }

  /** The shipped htables over this request's source: `ipban`, `auth_block_list`. */
  get htable(): HtableScript {
    return new HtableScript(this, need(this.services.guard, "guard"));
  }

  /** A per-user cap on concurrent calls (`ctx.callLimit.start(limit)`, Kamailio dialog profiles). */
  get callLimit(): CallLimitScript {
    return new CallLimitScript(this, need(this.services.calls, "calls"), this.config.security.callLimitTimeout * 1000);
  }

  /** Kamailio permissions over this request (`allow_source_address`, `allow_trusted`, ...). */
  get permissions(): PermissionsScript {
    return new PermissionsScript(this, need(this.services.permissions, "permissions"));
  }

  /** Kamailio dialog over this request (`dlg_manage`). */
  get dialog(): DialogScript {
    return new DialogScript(this, need(this.services.dialogs, "dialogs"));
  }

  /** Kamailio rr over this request. */
  get rr(): RrScript {
    return (this.#rr ??= new RrScript(this, need(this.services.rr, "rr")));
  }

  /** Kamailio acc over this request (`setflag(FLT_ACC)`). */
  get acc(): AccScript {
    return (this.#acc ??= new AccScript(this, need(this.services.acc, "acc")));
  }

  /** Kamailio path over this request (`add_path`): its entries are rr's, signed the same way. */
  get path(): { addPath(toward: Leg): void } {
    return { addPath: (toward) => this.rr.addPath(toward) };
  }

  /** Kamailio uac over this request (`uac_auth`, `uac_reg_lookup`, caller ID, toll-fraud limits). */
  get uac(): UacScript {
    return (this.#uac ??= new UacScript(this, need(this.services.uac, "uac")));
  }
}

function need<T>(service: T | undefined, name: string): T {
  if (service === undefined) throw new Error(`route script uses ${name}, but no ${name} service is wired in`);
  return service;
}

/** An onreply route: sees a response on its way back; may only inspect it or drop it. */
export class ReplyContext implements BaseContext {
  readonly kind = "reply";
  #dropped = false;

  constructor(
    readonly msg: SipResponse,
    readonly source: Source,
    readonly config: Config,
    readonly log: Logger,
    private readonly services: Services = {},
  ) {}

  /** Whether the host wired a service in. */
  has(service: keyof Services): boolean {
    return this.services[service] !== undefined;
  }

  /** Kamailio pike over this response: responses count toward an address's rate like requests. */
  get pike(): PikeScript {
    return new PikeScript(this, need(this.services.guard, "guard"));
  }

  /** `$sht(ipban=>$si)` for the response's source: read from the shard's view, set in the Guard. */
  get ipban(): IpBanTable {
    return new IpBanTable(need(this.services.guard, "guard"), this.source);
  }

  /** Kamailio `ds_is_from_list()` for the response's source (a gateway, reached through a bridge). */
  async isFromGateway(): Promise<boolean> {
    const { ip, port, transport } = this.source;
    const dispatcher = this.services.dispatcher;
    if (transport !== "udp" || port === undefined || dispatcher === undefined) return false;
    return isFromList(await dispatcher.list(), { host: ip, port, transport }, -1, FROM_LIST_IGNORE_PROTO).found;
  }

  /** Kamailio `ds_load_update()` in an onreply route: a 2xx confirms an algorithm-10 call. */
  dsLoadUpdate(): void {
    if (this.msg.status >= 200 && this.msg.status < 300 && this.msg.cseq.method === "INVITE") {
      this.services.dispatcher?.loadEvent(this.msg.callId, "confirm");
    }
  }

  get dropped(): boolean {
    return this.#dropped;
  }

  drop(): void {
    this.#dropped = true;
  }

  isMyself(target: string | Uri): boolean {
    return isMyself(this.config, target, this.services.isBridgeAddress);
  }
}

/**
 * What a failure route sees when every branch of a transaction ended without a 2xx: the original
 * request and the winning reply (tm's `TmFailureContext` adds relaying again).
 */
export interface FailureContext extends BaseContext {
  readonly kind: "failure";
  readonly request: SipRequest;
  /** The best final response of the branches (RFC 3261 §16.7), absent on a local timeout. */
  readonly reply?: SipResponse;
  /** Kamailio `t_check_status`. */
  checkStatus(pattern: RegExp | string): boolean;
  /** Kamailio `t_is_canceled`. */
  isCanceled(): boolean;
  /** Kamailio `t_branch_timeout` / `t_branch_replied`. */
  branchTimeout(): boolean;
  branchReplied(): boolean;
}

export type RequestRoute = (ctx: RequestContext) => Promise<void>;
export type ReplyRoute = (ctx: ReplyContext) => Promise<void>;

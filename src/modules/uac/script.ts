/**
 * The `ctx.uac` namespace (Kamailio uac, with the alias_db lookup and caller-ID rules a carrier
 * trunk needs). Request route: `regLookup` (uac_reg_lookup), `didLookup` (alias_db_lookup),
 * `normaliseCaller`, `checkDestination` (toll-fraud limits), `callerId` (uac_replace_from +
 * P-Asserted-Identity), `withinDialog` (CSeq and From of a dialog's requests toward the carrier).
 * Failure route: `auth` (uac_auth) and `challenged`, which answers a carrier's 401/407 or ends
 * the transaction — a carrier's challenge never reaches a WebSocket caller.
 */
import type { RequestContext } from "../../routing/context.ts";
import type { LooseRouteResult } from "../rr/index.ts";
import type { FailureRoute, Target, TmFailureContext } from "../tm/types.ts";
import type { SipResponse } from "../../sip/message.ts";
import { parseNameAddr, formatNameAddr } from "../../sip/name-addr.ts";
import { formatUri, isSipUri, isTelUri } from "../../sip/uri.ts";
import { aorOf } from "../registrar/index.ts";
import { callerIdEdits, cidParam, fromForCid, presentedIdentity, type Presented } from "./caller-id.ts";
import { answerChallenge } from "./digest-client.ts";
import { dialString, toE164 } from "./numbers.ts";
import type { UacService } from "./service.ts";
import { checkDestination, refusal, type TollVerdict } from "./toll.ts";
import { credentialsOf, regLookup, rowForDestination, rowForRealm, type UacRegRow } from "./uacreg.ts";
import { parseChallenge } from "../../sip/digest.ts";

/** The RR parameters the uac module writes (signed with the entry): the CSeq shift and the caller ID. */
export const CSEQ_PARAM = "cs";
export const CID_PARAM = "cid";
/** The calling number as the carrier wrote it, for the To of the callee's requests back to it. */
export const CALLER_PARAM = "ou";

export type UacAuthResult = { ok: true; target: Target; row: UacRegRow } | { ok: false; reason: string };

type Routed = Extract<LooseRouteResult, { routed: true }>;

/** A parameter of the dialog's own Record-Route entries, the inbound one first. */
function routeParam(route: Routed, name: string): string | undefined {
  for (const entry of [route.inbound, route.outbound]) {
    const v = entry?.params.get(name);
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

/** The To of a callee's request back to a carrier, with the calling number as the carrier wrote it (`ou`). */
function restoredCaller(to: string | undefined, original: string | undefined): string | undefined {
  if (to === undefined || original === undefined || !/^[0-9]{1,32}$/.test(original)) return undefined;
  const parsed = parseNameAddr(to);
  if (!parsed.ok || !isSipUri(parsed.value.uri)) return undefined;
  return formatNameAddr({ ...parsed.value, uri: { ...parsed.value.uri, user: original } });
}

/** The realms a 401/407 names. */
function challengeRealms(reply: SipResponse): string[] {
  const key = reply.status === 401 ? "www-authenticate" : "proxy-authenticate";
  return reply.headers.lines().filter((l) => l.key === key).flatMap((l) => {
    const c = parseChallenge(l.value);
    return c.ok ? [c.value.realm] : [];
  });
}

/** Authenticated retries of one request at most (the second only after stale=true, RFC 7616 §3.3). */
const MAX_AUTH_ATTEMPTS = 2;

export class UacScript {
  /** The CSeq the first branch toward the carrier carried: retries are counted from it. */
  #baseCseq: number;

  constructor(
    private readonly ctx: RequestContext,
    private readonly service: UacService,
  ) {
    this.#baseCseq = ctx.msg.cseq.seq;
  }

  /** The Request-URI's user part or tel number. */
  private ruriUser(): string | undefined {
    const ruri = this.ctx.msg.ruri();
    return isSipUri(ruri) ? ruri.user : isTelUri(ruri) ? ruri.number : undefined;
  }

  private setRuriUser(user: string, domain?: string): void {
    const ruri = this.ctx.msg.ruri();
    if (isSipUri(ruri)) this.ctx.msg.uri = formatUri({ ...ruri, user, ...(domain === undefined ? {} : { host: domain, port: undefined }), params: domain === undefined ? ruri.params : new Map() });
    else if (isTelUri(ruri)) this.ctx.msg.uri = domain === undefined ? `tel:${user}` : `sip:${user}@${domain}`;
  }

  /**
   * Kamailio `uac_reg_lookup("$rU", "$ru")`: a call to a contact registered at a carrier (its user
   * part is the row's `l_uuid`) is for the row's local user: the Request-URI becomes
   * `sip:<l_username>@<l_domain>`. True when it did.
   */
  async regLookup(): Promise<boolean> {
    const user = this.ruriUser();
    if (user === undefined) return false;
    const local = regLookup(await this.service.rows(), user);
    if (local === undefined) return false;
    this.setRuriUser(local.user, local.domain);
    return true;
  }

  /**
   * Kamailio `alias_db_lookup("dbaliases")` for DIDs: a number (normalised to E.164) that a user
   * owns becomes that user's URI. True when it did.
   */
  async didLookup(): Promise<boolean> {
    const user = this.ruriUser();
    const e164 = user === undefined ? undefined : toE164(user, this.ctx.config.uac.plan);
    if (e164 === undefined) return false;
    const owner = await this.service.did(e164);
    if (owner === undefined) return false;
    this.setRuriUser(owner.user, owner.domain);
    return true;
  }

  /**
   * A carrier's calling number, as the callee's phone shows it: From's user in E.164 (the request
   * as received keeps its own, so the carrier's answers do too). The route set keeps the number as
   * the carrier wrote it (`ou`), so the callee's requests back to the carrier name it in To again.
   */
  normaliseCaller(): void {
    const from = this.ctx.msg.headers.get("from");
    const parsed = from === undefined ? undefined : parseNameAddr(from);
    if (parsed === undefined || !parsed.ok || !isSipUri(parsed.value.uri) || parsed.value.uri.user === undefined) return;
    const user = parsed.value.uri.user;
    const e164 = toE164(user, this.ctx.config.uac.plan);
    if (e164 === undefined || e164 === user || !/^[0-9]{1,32}$/.test(user)) return;
    this.ctx.tm.edit({ set: [["From", formatNameAddr({ ...parsed.value, uri: { ...parsed.value.uri, user: e164 } })]] });
    this.ctx.rr.addRrParam(CALLER_PARAM, user);
  }

  /**
   * The toll-fraud limits for the Request-URI's number, for the authenticated caller: emergency
   * numbers always pass (and are not counted); the number must be of a class the caller may
   * call; then the calls-per-minute limit. A refusal is reported (log line, accounting hook); the
   * script answers it. A number that passes is written back as E.164: what was checked is sent.
   */
  async checkDestination(): Promise<TollVerdict> {
    const { ctx } = this;
    const dialled = this.ruriUser() ?? "";
    const from = ctx.msg.from().uri;
    const user = isSipUri(from) ? from.user ?? "" : "";
    const caller = aorOf(user, ctx.config.domain);
    const uac = ctx.config.uac;
    const rules = { plan: uac.plan, premiumPrefixes: uac.premiumPrefixes, emergencyNumbers: ctx.config.security.authBlock.emergencyNumbers };
    let verdict = checkDestination(dialled, dialString(dialled) === undefined ? [] : (await this.service.profile(user, ctx.config.domain)).groups, rules);
    if (verdict.ok && !verdict.emergency && uac.callsPerMinute > 0 && !(await this.service.takeCall(caller, uac.callsPerMinute))) {
      verdict = refusal("calls-per-minute", verdict.e164);
    }
    if (!verdict.ok) {
      this.service.refused({ callId: ctx.msg.callId, caller, dialled, ...(verdict.e164 === undefined ? {} : { e164: verdict.e164 }), rule: verdict.rule, status: verdict.status, reason: verdict.reason });
    } else if (!verdict.emergency) {
      this.setRuriUser(verdict.e164);
    }
    return verdict;
  }

  /**
   * The caller ID a carrier sees (caller-id.ts): the From of every branch replaced (Kamailio
   * `uac_replace_from`), P-Asserted-Identity set, the phone's identity headers removed; the
   * request as received keeps its From, so the caller's own answers are untouched. The route
   * set carries the presented identity (`cid`), so the dialog's later requests show the same.
   */
  async callerId(): Promise<Presented> {
    const { ctx } = this;
    const from = ctx.msg.from().uri;
    const user = isSipUri(from) ? from.user ?? "" : "";
    const presented = presentedIdentity(ctx.msg, await this.service.profile(user, ctx.config.domain), ctx.config.uac.plan);
    ctx.tm.edit(callerIdEdits(ctx.msg, presented, ctx.config.domain));
    const cid = cidParam(presented);
    if (cid !== undefined) ctx.rr.addRrParam(CID_PARAM, cid);
    return presented;
  }

  /**
   * A request of a dialog on its way to the carrier: the CSeq raised by the dialog's shift (the
   * route set's `cs`, from the INVITE's authenticated retry, plus the shifts of challenges
   * answered inside the dialog, Kamailio dialog `track_cseq_updates`), the From the carrier saw
   * (`cid`), the phone's credentials for this proxy removed, and `uac_auth()` armed in case the
   * carrier challenges this one too.
   */
  withinDialog(route: Routed, target: Target): void {
    const { ctx } = this;
    if (target.dst === undefined || target.flow !== undefined) return;
    // consume_credentials(): what a phone proves to this proxy is not the carrier's business.
    ctx.msg.headers.remove("Authorization");
    ctx.msg.headers.remove("Proxy-Authorization");
    const signed = Number(routeParam(route, CSEQ_PARAM) ?? "0");
    const shift = (Number.isInteger(signed) && signed > 0 ? signed : 0) + (ctx.has("dialogs") ? ctx.dialog.cseqShift() : 0);
    if (shift > 0) target.cseq = ctx.msg.cseq.seq + shift;
    this.#baseCseq = target.cseq ?? ctx.msg.cseq.seq;
    const cid = routeParam(route, CID_PARAM);
    const from = cid === undefined ? undefined : fromForCid(cid, ctx.msg.from().params.get("tag") ?? undefined, ctx.config.domain);
    if (from !== undefined) target.headers = [...(target.headers ?? []), ["From", from]];
    const to = restoredCaller(ctx.msg.headers.get("to"), routeParam(route, CALLER_PARAM));
    if (to !== undefined) target.headers = [...(target.headers ?? []), ["To", to]];
    if (ctx.msg.method !== "ACK" && ctx.msg.method !== "CANCEL") ctx.tm.onFailure(this.inDialogAuth());
  }

  /**
   * Kamailio `uac_auth()` in a failure route: the winning branch's request again, to the same
   * carrier, with the credentials of the `uacreg` row whose next hop it is, and its CSeq one
   * higher (RFC 3261 §22.2). Not for a request that already failed with credentials (unless the
   * nonce was only stale), nor a carrier without a row.
   */
  async auth(f: TmFailureContext): Promise<UacAuthResult> {
    const sent = f.branch;
    const reply = f.reply;
    if (sent === undefined || reply === undefined || (reply.status !== 401 && reply.status !== 407)) return { ok: false, reason: "not a challenge" };
    const dst = sent.target.dst;
    if (dst === undefined) return { ok: false, reason: "not a request to a carrier" };
    const from = this.ctx.msg.from().uri;
    const rows = await this.service.rows();
    const row = rowForDestination(rows, dst, isSipUri(from) ? from.user : undefined) ?? rowForRealm(rows, challengeRealms(reply));
    if (row === undefined) return { ok: false, reason: `no uacreg credentials for ${dst} or its realm` };
    const answer = answerChallenge(reply, { method: sent.request.method, uri: sent.request.uri, body: sent.request.body }, credentialsOf(row));
    if (!answer.ok) return { ok: false, reason: answer.reason };
    const attempts = sent.request.cseq.seq - this.#baseCseq;
    if (attempts >= MAX_AUTH_ATTEMPTS || (attempts > 0 && !answer.answer.stale)) return { ok: false, reason: "the carrier refused the credentials" };
    const target: Target = { ...sent.target, cseq: sent.request.cseq.seq + 1, headers: [...(sent.target.headers ?? []).filter(([n]) => n !== answer.answer.header), [answer.answer.header, answer.answer.value]] };
    return { ok: true, target, row };
  }

  /**
   * A failure route's handling of a carrier's 401/407: answered with `uac_auth()` and relayed
   * again (with `rearm` armed for the new branch): "relayed"; or, when it cannot be, the
   * transaction ends with 503 — the caller's phone must not see the carrier's challenge (it would
   * answer it with its own password, hashed for the carrier's realm): "refused". False when the
   * reply is no challenge.
   */
  async challenged(f: TmFailureContext, rearm: FailureRoute): Promise<"relayed" | "refused" | false> {
    if (f.isCanceled() || !f.checkStatus("401|407")) return false;
    // A failing read must not let the challenge through (a throwing failure route sends the best response: the 401).
    const result = await this.auth(f).catch((err: unknown): UacAuthResult => ({ ok: false, reason: `credentials unavailable: ${err instanceof Error ? err.message : String(err)}` }));
    if (!result.ok) {
      f.log.warn("carrier challenge not answered", { callId: f.request.callId, method: f.request.method, dst: f.branch?.target.dst, status: f.status, reason: result.reason });
      f.tm.reply(503, "Carrier Authentication Failed");
      return "refused";
    }
    f.tm.onFailure(rearm);
    const relayed = f.tm.relay([result.target]);
    if (!relayed.ok) {
      f.tm.reply(relayed.status, relayed.reason);
      return "refused";
    }
    // Inside a dialog the route set cannot change: the shard keeps the shift for the later requests.
    if (f.request.to().params.get("tag") !== undefined && f.request.method !== "BYE" && this.ctx.has("dialogs")) this.ctx.dialog.shiftCseq(1);
    f.log.info("carrier challenge answered", { callId: f.request.callId, method: f.request.method, dst: result.target.dst, l_uuid: result.row.l_uuid });
    return "relayed";
  }

  /** failure_route[UAC_AUTH] for a request inside a dialog. */
  private inDialogAuth(): FailureRoute {
    const challenged = (f: TmFailureContext, rearm: FailureRoute): Promise<unknown> => this.challenged(f, rearm);
    return async function UAC_AUTH(f: TmFailureContext): Promise<void> {
      await challenged(f, UAC_AUTH);
    };
  }
}

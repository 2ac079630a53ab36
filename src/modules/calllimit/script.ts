import type { RequestContext } from "../../routing/context.ts";
import { isSipUri, type Uri } from "../../sip/uri.ts";
import { aorOf } from "../registrar/index.ts";
import type { CallStart } from "./counter.ts";

/** What the host object provides: the per-user counters, each in the user's own object. */
export interface CallCountService {
  /** Counts `callId` for `aor` for at most `ttlMs`, unless `limit` calls are in progress. */
  start(aor: string, callId: string, limit: number, ttlMs: number): Promise<CallStart>;
  /** Ends `callId` for `aor`; false when it was not counted there. */
  end(aor: string, callId: string): Promise<boolean>;
  /** Whether `user@domain` is a subscriber: only subscribers place counted calls. */
  isSubscriber(user: string, domain: string): Promise<boolean>;
}

/**
 * The `ctx.callLimit` namespace: a per-user cap on concurrent calls, in the manner of Kamailio's
 * dialog profiles (`set_dlg_profile("caller", "$au")` + `get_profile_size`), counted in the
 * caller's Location object. A call counts from its INVITE to its final failure (any final
 * response of 300 or more sent back, CANCEL's 487 and local timeouts included) or to the 2xx or
 * 481 answering its BYE, from either side; `ttlMs` (CALL_LIMIT_TIMEOUT) at most.
 */
export class CallLimitScript {
  constructor(
    private readonly ctx: RequestContext,
    private readonly service: CallCountService,
    private readonly ttlMs: number,
  ) {}

  /**
   * Counts this initial INVITE against its caller (the From user, which `auth_check` made the
   * authenticated one) unless `limit` calls are already active; arms the end of the count on
   * the final response. Fails open: an unreachable counter lets the call through.
   */
  async start(limit: number): Promise<CallStart> {
    const aor = this.callerAor();
    if (aor === undefined) return { ok: true, active: 0 };
    const callId = this.ctx.msg.callId;
    let verdict: CallStart;
    try {
      verdict = await this.service.start(aor, callId, limit, this.ttlMs);
    } catch (err) {
      this.ctx.log.warn("call limit unreachable: call not counted", { aor, error: String(err) });
      return { ok: true, active: 0 };
    }
    if (!verdict.ok) return verdict;
    let settled = false;
    this.ctx.onFinalResponse((response) => {
      if (settled) return;
      settled = true;
      // A 2xx: the call goes on until its BYE. Anything else ends it now.
      if (response.status < 300) return;
      this.service.end(aor, callId).catch((err: unknown) => this.ctx.log.warn("call limit update failed", { aor, error: String(err) }));
    });
    return verdict;
  }

  /**
   * A BYE (from either side): once it is answered 2xx or 481 (the dialog is over there), the call
   * stops counting for whichever party placed it: the From user's object is asked first (the
   * caller hangs up), then the To user's. A BYE that reached nobody ends nothing, so a caller
   * cannot free its place while the call goes on.
   */
  endOnBye(): void {
    const msg = this.ctx.msg;
    const parties = [msg.from().uri, msg.to().uri];
    this.ctx.onFinalResponse((response) => {
      if (!(response.status >= 200 && response.status < 300) && response.status !== 481) return;
      void this.endFirst(parties, msg.callId).catch(() => undefined);
    });
  }

  private async endFirst(parties: readonly Uri[], callId: string): Promise<void> {
    const domain = this.ctx.config.domain;
    for (const uri of parties) {
      if (!isSipUri(uri) || !uri.user || !this.ctx.isMyself(uri.host)) continue;
      if (!(await this.service.isSubscriber(uri.user, domain))) continue;
      if (await this.service.end(aorOf(uri.user, domain), callId)) return;
    }
  }

  private callerAor(): string | undefined {
    const from = this.ctx.msg.from().uri;
    if (!isSipUri(from) || !from.user) return undefined;
    return aorOf(from.user, this.ctx.isMyself(from.host) ? this.ctx.config.domain : from.host);
  }
}

import type { RequestContext } from "../../routing/context.ts";
import type { SipRequest } from "../../sip/message.ts";
import type { Leg, LooseRouteResult, RecordRouteOptions, Rr } from "./index.ts";

/** The `ctx.rr` namespace: `record_route`, `loose_route` over the request at hand. */
export class RrScript {
  /** Parameters added before `record_route` ran (Kamailio keeps them for it). */
  #pending: Record<string, string | null> = {};

  constructor(
    private readonly ctx: RequestContext,
    private readonly rr: Rr,
  ) {}

  /**
   * Kamailio `record_route()`; in a branch route, pass the branch's copy of the request. A branch
   * whose CSeq was raised (a retry with credentials, `uac_auth`) records the shift in its entries
   * (`cs`, signed with them): every later request of the dialog from this side is raised by it
   * toward the next hop, with no state kept anywhere.
   */
  recordRoute(options?: RecordRouteOptions, request: SipRequest = this.ctx.msg): void {
    const shift = request === this.ctx.msg ? 0 : request.cseq.seq - this.ctx.msg.cseq.seq;
    const params = { ...this.#pending, ...options?.params, ...(shift > 0 ? { cs: String(shift) } : {}) };
    this.rr.recordRoute(request, { ...options, params });
  }

  /**
   * Kamailio `add_rr_param(";name=value")`: on the entries already recorded on the request, and
   * on every entry `record_route` writes later (called before it, Kamailio keeps the parameter).
   */
  addRrParam(name: string, value?: string): void {
    this.#pending[name.toLowerCase()] = value ?? null;
    this.rr.addRrParam(this.ctx.msg, name, value);
  }

  /** Kamailio `loose_route()`: pops this proxy's Route entries; `flow` names the next socket. */
  looseRoute(): LooseRouteResult {
    return this.rr.looseRoute(this.ctx.msg, this.ctx.source.flow);
  }

  /**
   * Kamailio path `add_path()` for a REGISTER (`ctx.path.addPath`: the path module writes rr's entries) (RFC 3327): this proxy's entry, facing the
   * registrar on the leg `toward`, naming the flow the REGISTER came on, so requests to the
   * contact come back through this proxy to that socket (RFC 5626 §5.1 edge proxy).
   */
  addPath(toward: Leg): void {
    const leg: Leg = this.ctx.source.flow === undefined ? toward : { ...toward, flow: this.ctx.source.flow };
    this.rr.addPath(this.ctx.msg, leg);
  }
}

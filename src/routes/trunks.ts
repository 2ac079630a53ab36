import type { Route } from "../routing/compose.ts";
import type { RequestContext } from "../routing/context.ts";
import { isSipUri, isTelUri } from "../sip/uri.ts";
import { dialString } from "../modules/uac/numbers.ts";

/**
 * Carrier trunks in the shipped script (src/modules/uac): the route for calls that come in from
 * a carrier, the route for calls that go out to one, and (in default.ts) `uac_auth()` in the
 * dispatcher's failure route and inside dialogs. Each does nothing when the host wires no `uac`
 * service.
 */

/**
 * route[CARRIER_IN]: a request from a trusted carrier for a contact registered with it
 * (`uac_reg_lookup`: the user part is a `uacreg` row's `l_uuid`) or for a DID (`dbaliases`, the
 * number normalised to E.164) goes to the local user that owns it; the callee's phone sees the
 * calling number in E.164. Anything else goes on unchanged (a gateway calling another number is
 * refused by DISPATCH: the edge is no transit).
 */
export const carrierInbound: Route<RequestContext> = async (ctx, next) => {
  if (!ctx.trusted || ctx.source.transport !== "udp" || !ctx.has("uac") || ctx.msg.method === "ACK") return next();
  const registered = await ctx.uac.regLookup();
  // l_username may itself be a DID: look it up as one.
  const mapped = (await ctx.uac.didLookup()) || registered;
  if (mapped) {
    ctx.log.debug("call from a carrier for a local user", { callId: ctx.msg.callId, ruri: ctx.msg.uri });
    if (ctx.msg.method === "INVITE") ctx.uac.normaliseCaller();
  }
  await next();
};

/**
 * route[CARRIER_OUT]: an authenticated caller's request for a number, before DISPATCH sends it to
 * a gateway: a number that is one of this edge's DIDs goes to its user instead; otherwise the
 * toll-fraud limits (emergency numbers always pass; premium and international
 * numbers only for users allowed them; a calls-per-minute limit), refused with 403 and a reason;
 * then the caller ID the carrier sees (an owned number, or anonymous).
 */
export const carrierOutbound: Route<RequestContext> = async (ctx, next) => {
  if (!ctx.authenticated || !ctx.has("uac") || !isNumber(ctx)) return next();
  // A local DID goes to its user (alias_db_lookup), not out to a carrier and back in.
  if (await ctx.uac.didLookup()) return next();
  if (ctx.msg.method === "INVITE") {
    const verdict = await ctx.uac.checkDestination();
    if (!verdict.ok) {
      ctx.log.warn("call refused by the toll-fraud limits", { callId: ctx.msg.callId, rule: verdict.rule, number: verdict.e164 ?? ctx.msg.uri, status: verdict.status });
      ctx.sl.sendReply(verdict.status, verdict.reason);
      return;
    }
  }
  if (ctx.msg.method !== "ACK" && ctx.msg.method !== "CANCEL") await ctx.uac.callerId();
  await next();
};

function isNumber(ctx: RequestContext): boolean {
  const ruri = ctx.msg.ruri();
  const user = isSipUri(ruri) ? ruri.user : isTelUri(ruri) ? ruri.number : undefined;
  return user !== undefined && dialString(user) !== undefined;
}

import { compose, type Route } from "../routing/compose.ts";
import type { ReplyContext, RequestContext } from "../routing/context.ts";
import type { Script } from "../routing/pipeline.ts";
import type { DispatcherScript } from "../modules/dispatcher/script.ts";
import type { TmFailureContext } from "../modules/tm/index.ts";
import type { LooseRouteResult, RouteEntry } from "../modules/rr/index.ts";
import { isSipUri } from "../sip/uri.ts";
import { authenticated, cancelAndRetransmissions, dialogTarget, flowLeg, gatewayLeg, inboundLeg, mayFollowDialog, notHere, optionsToMyself, refusedRouteSet, reqinit } from "./common.ts";
import { anchorCall, anchorInDialog, endMedia, reofferMedia } from "./media.ts";
import { callLimit, replySecurity, security } from "./security.ts";
import { carrierInbound, carrierOutbound } from "./trunks.ts";
import type { UacScript } from "../modules/uac/script.ts";

/**
 * The shipped route script. Read it as you would read Kamailio's `request_route`: each route
 * either answers (and does not call `next`) or passes the request on. It starts with the seed's
 * request checks, then routes in-dialog requests by Record-Route, registers, authenticates local
 * callers and relays to registered users statefully. The dispatcher joins it with the bridge.
 */

/**
 * Kamailio acc (`setflag(FLT_ACC)`): an INVITE that passed authentication or came from a trusted
 * gateway is recorded when its final reply goes out, failover branches included, and so is a BYE
 * that ends a dialog; calls are assembled from the two (src/modules/acc).
 */
const accounting: Route<RequestContext> = (ctx, next) => {
  // Only INVITEs and BYEs are recorded: anything else passes on without an awaited step.
  const method = ctx.msg.method;
  if (!ctx.has("acc") || (method !== "INVITE" && method !== "BYE")) return next();
  return accounted(ctx, next);
};

async function accounted(ctx: RequestContext, next: () => Promise<void>): Promise<void> {
  const receivedAt = Date.now();
  // Kamailio's $ou: the record names the number as dialled, before the script rewrites it.
  const dialled = ctx.msg.ruri();
  await next();
  const inDialog = ctx.msg.to().params.get("tag") !== undefined;
  const method = ctx.msg.method;
  if ((method === "INVITE" && !inDialog && (ctx.authenticated || ctx.trusted)) || (method === "BYE" && inDialog)) ctx.acc.setFlag(receivedAt, dialled);
}

/**
 * route[WITHINDLG]: a request with a To-tag belongs to a dialog and follows its route set. The
 * Record-Route entries this proxy wrote are signed and name the flows of both sides, so
 * `loose_route` tells which socket is next; a set whose entries of this proxy were forged or
 * altered is refused (403). A WebSocket client that owns neither side of the dialog — not the
 * flow the entries name, not the client instance registered behind it — proves who it is first,
 * as any request outside a dialog would. An ACK that matches nothing is absorbed; anything else
 * unroutable gets 404 "Not here".
 */
const withinDialog: Route<RequestContext> = (ctx, next) => (ctx.msg.to().params.get("tag") === undefined ? next() : routeInDialog(ctx));

async function routeInDialog(ctx: RequestContext): Promise<void> {
  const route = ctx.rr.looseRoute();
  if (refusedRouteSet(ctx, route)) return;
  if (!route.routed || route.popped === 0) return notHere(ctx);
  if (!(await mayFollowDialog(ctx, route.inbound))) return;
  if (ctx.msg.method === "BYE") {
    // ds_load_update(): a BYE ends a call counted by algorithm 10 (a no-op for any other call).
    if (ctx.has("dispatcher")) ctx.dispatcher.loadUpdate("release");
    // A gateway call: the shard its route set names keeps its record (dlg_manage).
    const keeper = gatewayEntry(route)?.params.get("shard");
    if (keeper && ctx.has("dialogs")) ctx.dialog.ended(keeper);
  }
  const target = await dialogTarget(ctx, route);
  if (target === undefined) return notHere(ctx);
  // Toward a carrier: the dialog's CSeq shift and caller ID, and uac_auth() armed (src/modules/uac).
  if (ctx.has("uac")) ctx.uac.withinDialog(route, target);
  if (!(await anchorInDialog(ctx, target.flow !== undefined ? "ws" : "udp"))) return; // media.ts
  const relayed = ctx.tm.relay([target]);
  if (!relayed.ok) ctx.sl.sendReply(relayed.status, relayed.reason);
}

/** The popped entry that faces a gateway (it names the gateway's address). */
function gatewayEntry(route: Extract<LooseRouteResult, { routed: true }>): RouteEntry | undefined {
  return [route.inbound, route.outbound].find((e) => e?.params.has("dst"));
}

/** route[REGISTRAR]: digest authentication (401), the AOR's own user only (403), then save. */
const registrar: Route<RequestContext> = async (ctx, next) => {
  if (ctx.msg.method !== "REGISTER") return next();
  const to = ctx.msg.to().uri;
  if (!isSipUri(to) || !to.user) {
    ctx.sl.sendReply(400, "Bad To URI");
    return;
  }
  // Challenged before anything else is read, as Kamailio's auth_check does: an unauthenticated
  // party learns nothing about domains or users from the answer.
  if (!(await authenticated(ctx))) return;
  if (!ctx.isMyself(to.host)) {
    ctx.sl.sendReply(403, "Not relaying");
    return;
  }
  await ctx.registrar.save("location");
};

/**
 * Requests that arrive through the bridge (UDP) come from gateways: trusted when the source is a
 * dispatcher destination (Kamailio `ds_is_from_list()`) or a trusted peer, refused otherwise —
 * before anything else routes them (OPTIONS to the proxy and in-dialog requests included), since
 * UDP sources can be spoofed and nothing else should reach the edge that way.
 */
const fromGateway: Route<RequestContext> = (ctx, next) => (ctx.source.transport !== "udp" ? next() : gatewayOnly(ctx, next));

async function gatewayOnly(ctx: RequestContext, next: () => Promise<void>): Promise<void> {
  const trusted = (ctx.has("permissions") && (await ctx.permissions.allowTrusted())) || (await ctx.dispatcher.isFromList());
  if (!trusted) {
    ctx.sl.sendReply(403, "Forbidden");
    return;
  }
  ctx.trusted = true;
  await next();
}

/**
 * No open relay: a request that is neither from this domain nor for it is refused at once
 * (a trusted gateway's requests are for local users or numbers, so this never applies to them).
 */
const relayPolicy: Route<RequestContext> = (ctx, next) => {
  const ruri = ctx.msg.ruri();
  const from = ctx.msg.from().uri;
  if (!ctx.trusted && isSipUri(ruri) && !ctx.isMyself(ruri) && !(isSipUri(from) && ctx.isMyself(from.host))) {
    ctx.sl.sendReply(403, "Not relaying");
    return;
  }
  return next();
};

/**
 * route[AUTH]: every request that is not from a trusted source must prove who it is (407) before
 * anything is looked up, so only authenticated callers can tell an offline user (480) from an
 * unknown one (404). ACK and CANCEL are never challenged (RFC 3261 §22.1). The From user must be
 * the authenticated one (403). An authenticated user's request for a foreign domain has nowhere
 * to go: there is no outbound route but the gateways.
 */
const authenticateCaller: Route<RequestContext> = async (ctx, next) => {
  if (!ctx.trusted && ctx.msg.method !== "ACK" && !(await authenticated(ctx))) return;
  const ruri = ctx.msg.ruri();
  if (isSipUri(ruri) && !ctx.isMyself(ruri)) {
    ctx.sl.sendReply(403, "Not relaying");
    return;
  }
  await next();
};

const PSTN_NUMBER = /^\+?[0-9]+$/;

/**
 * route[DISPATCH] (the seed's Kamailio route): numeric Request-URIs (PSTN numbers) go to the
 * gateways of set 1, round robin (`ds_select_dst("1", "4")`), with `RTF_DISPATCH` as the failure
 * route; 404 "No destination" when no gateway is up. Only authenticated users may call out.
 */
const dispatch: Route<RequestContext> = async (ctx, next) => {
  const ruri = ctx.msg.ruri();
  const user = isSipUri(ruri) ? ruri.user : ruri.scheme === "tel" && "number" in ruri ? ruri.number : undefined;
  if (user === undefined || !PSTN_NUMBER.test(user)) return next();
  if (!ctx.authenticated) {
    ctx.sl.sendReply(403, "Forbidden");
    return;
  }
  if (!(await ctx.dispatcher.selectDst(1, 4))) {
    ctx.sl.sendReply(404, "No destination");
    return;
  }
  if (!(await anchorCall(ctx, "udp"))) return; // rtpengine_offer toward the gateway (media.ts)
  const inbound = inboundLeg(ctx);
  const params = { shard: ctx.shard };
  ctx.tm.onBranch((request, target) => ctx.rr.recordRoute({ inbound, outbound: gatewayLeg(target.via, target.dst), params }, request));
  ctx.tm.onFailure(rtfDispatch(ctx.dispatcher, ctx.has("uac") ? ctx.uac : undefined));
  if (ctx.has("dialogs")) ctx.dialog.manage(); // dlg_manage(): a BYE if the caller's socket goes for good
  relayToDestination(ctx.dispatcher, (t) => ctx.tm.relay(t), (status, reason) => ctx.sl.sendReply(status, reason));
};

/**
 * failure_route[RTF_DISPATCH]: the next gateway, only for a 500 or a branch that got no reply at
 * all — a local timeout, or a datagram the bridge could not deliver (its `unreachable` report
 * ends the branch with a local 503 at once). Such a destination is marked inactive and probed
 * (`ds_mark_dst("ip")`); a cancelled call ends here.
 */
function rtfDispatch(ds: DispatcherScript, uac?: UacScript) {
  return async function RTF_DISPATCH(ctx: TmFailureContext): Promise<void> {
    // uac_auth(): a carrier's 401/407 is answered with its credentials (src/modules/uac), never passed on.
    const challenge = uac === undefined ? false : await uac.challenged(ctx, RTF_DISPATCH);
    if (challenge === "refused") ds.loadUpdate("release");
    if (challenge) return;
    const unanswered = !ctx.branchReplied() && (ctx.branchTimeout() || ctx.checkStatus("503"));
    if (ctx.isCanceled() || (!ctx.checkStatus("500") && !unanswered)) {
      ds.loadUpdate("release"); // ds_load_unset(): the call failed for good
      await endMedia(ctx); // rtpengine_delete
      return;
    }
    if (unanswered) await ds.markDst("ip");
    if (!(await ds.nextDst())) {
      ds.loadUpdate("release");
      await endMedia(ctx);
      return;
    }
    if (!(await reofferMedia(ctx))) return; // rtpengine_offer for the next gateway
    ctx.tm.onFailure(RTF_DISPATCH);
    relayToDestination(ds, (t) => ctx.tm.relay(t), (status, reason) => ctx.tm.reply(status, reason));
  };
}

function relayToDestination(
  ds: DispatcherScript,
  relay: (targets: NonNullable<ReturnType<DispatcherScript["target"]>>[]) => { ok: boolean; status?: number; reason?: string },
  reply: (status: number, reason: string) => unknown,
): void {
  const target = ds.target();
  if (!target) {
    reply(404, "No destination");
    return;
  }
  if (!target.via) {
    reply(503, "No bridge link");
    return;
  }
  const relayed = relay([target]);
  if (!relayed.ok) reply(relayed.status ?? 500, relayed.reason ?? "Server Internal Error");
}

/**
 * route[LOCATION]: `lookup("location")` then `t_relay()` to every binding, q-ordered, each over its
 * own flow; Record-Route names both flows so the dialog's later requests find their sockets.
 */
const location: Route<RequestContext> = async (ctx, next) => {
  const ruri = ctx.msg.ruri();
  if (!isSipUri(ruri) || !ruri.user) return next();
  const found = await ctx.registrar.lookup("location");
  if (!found.found) {
    if (found.reason === "offline") ctx.sl.sendReply(480, "Temporarily Unavailable");
    else ctx.sl.sendReply(404, "Not Found");
    return;
  }
  if (ctx.msg.method !== "MESSAGE" && ctx.msg.method !== "OPTIONS") {
    const inbound = inboundLeg(ctx);
    const params = { shard: ctx.shard };
    ctx.tm.onBranch((request, target) => ctx.rr.recordRoute({ inbound, outbound: flowLeg(target.flow, target.successor?.instance), params }, request));
    if (ctx.source.transport === "udp" && ctx.has("dialogs")) ctx.dialog.manage();
  }
  if (!(await anchorCall(ctx, "ws"))) return; // rtpengine_offer toward the users (media.ts)
  const relayed = ctx.tm.relay(found.targets);
  if (!relayed.ok) ctx.sl.sendReply(relayed.status, relayed.reason);
};

/** onreply_route: flood control for responses too, then a 2xx to a dispatched INVITE confirms its call load (algorithm 10). */
const onReply = async (ctx: ReplyContext): Promise<void> => {
  if (!(await replySecurity(ctx))) {
    ctx.drop();
    return;
  }
  ctx.dsLoadUpdate();
};

export const defaultScript: Script = {
  reply: onReply,
  request: compose<RequestContext>([
    security, // ipban, pike, scanners, auth-failure block (routes/security.ts)
    reqinit,
    fromGateway,
    optionsToMyself,
    cancelAndRetransmissions,
    accounting,
    withinDialog,
    registrar,
    relayPolicy,
    authenticateCaller,
    carrierInbound, // uac_reg_lookup / DIDs for calls from carriers (routes/trunks.ts)
    carrierOutbound, // toll-fraud limits and caller ID for calls to carriers (routes/trunks.ts)
    // MAX_CALLS_PER_USER (routes/security.ts): counted last, so a call refused above is never counted.
    callLimit,
    dispatch,
    location,
  ]),
};


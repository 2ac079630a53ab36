import { compose, type Route } from "../routing/compose.ts";
import type { ReplyContext, RequestContext } from "../routing/context.ts";
import type { Script } from "../routing/pipeline.ts";
import type { DispatcherScript } from "../modules/dispatcher/script.ts";
import type { Target, TmFailureContext } from "../modules/tm/index.ts";
import { aorOf } from "../modules/registrar/index.ts";
import type { Leg, LooseRouteResult, RouteEntry } from "../modules/rr/index.ts";
import { formatHostPort } from "../transport/bridge.ts";
import { parseNameAddr } from "../sip/name-addr.ts";
import { isSipUri, parseUri } from "../sip/uri.ts";
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
 * route[REQINIT]: the seed's checks, then Kamailio's `sanity_check()`. (The seed's `$ml >= 65535`
 * → 513 runs before this script, on the header lines alone: MAX_MESSAGE_SIZE, routing/pipeline.ts.)
 */
export const reqinit: Route<RequestContext> = async (ctx, next) => {
  if (!ctx.maxfwd.process(10).ok) {
    ctx.sl.sendReply(483, "Too Many Hops");
    return;
  }
  const sanity = ctx.sanity.check();
  if (!sanity.ok) {
    ctx.sl.sendReply(sanity.status, sanity.reason, { headers: sanity.headers });
    return;
  }
  await next();
};

/** OPTIONS to the proxy itself (no user part) is a keep-alive or capability probe: 200. */
export const optionsToMyself: Route<RequestContext> = async (ctx, next) => {
  const ruri = ctx.msg.ruri();
  if (ctx.msg.method === "OPTIONS" && isSipUri(ruri) && !ruri.user && ctx.isMyself(ruri)) {
    ctx.sl.sendReply(200, "OK", {
      headers: [
        ["Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, INFO, UPDATE, PRACK, REFER, NOTIFY, SUBSCRIBE"],
        ["Accept", "application/sdp"],
        ["Supported", "path, outbound"],
      ],
    });
    return;
  }
  await next();
};

/**
 * CANCEL and retransmissions (Kamailio: `if (is_method("CANCEL")) { if (t_check_trans())
 * route(RELAY); exit; }`): a CANCEL that matches a transaction is answered 200 and cancels its
 * branches; one that matches nothing gets 481 (RFC 3261 §9.2). The ACK of a non-2xx final response
 * is hop-by-hop and ends its server transaction here (RFC 3261 §17.2.1: Completed → Confirmed);
 * an ACK for a 2xx matches nothing and goes on along the dialog's route set.
 */
export const cancelAndRetransmissions: Route<RequestContext> = async (ctx, next) => {
  if (ctx.msg.method === "CANCEL") {
    if (!ctx.tm.checkTrans().found) ctx.sl.sendReply(481, "Call/Transaction Does Not Exist");
    return;
  }
  const match = ctx.tm.checkTrans();
  if (match.found && match.action !== "ack-forward") return;
  await next();
};

/**
 * Kamailio acc (`setflag(FLT_ACC)`): an INVITE that passed authentication or came from a trusted
 * gateway is recorded when its final reply goes out, failover branches included, and so is a BYE
 * that ends a dialog; calls are assembled from the two (src/modules/acc).
 */
const accounting: Route<RequestContext> = async (ctx, next) => {
  if (!ctx.has("acc")) return next();
  const receivedAt = Date.now();
  // Kamailio's $ou: the record names the number as dialled, before the script rewrites it.
  const dialled = ctx.msg.ruri();
  await next();
  const inDialog = ctx.msg.to().params.get("tag") !== undefined;
  const method = ctx.msg.method;
  if ((method === "INVITE" && !inDialog && (ctx.authenticated || ctx.trusted)) || (method === "BYE" && inDialog)) ctx.acc.setFlag(receivedAt, dialled);
};

/**
 * route[WITHINDLG]: a request with a To-tag belongs to a dialog and follows its route set. The
 * Record-Route entries this proxy wrote are signed and name the flows of both sides, so
 * `loose_route` tells which socket is next; a set whose entries of this proxy were forged or
 * altered is refused (403). A WebSocket client that owns neither side of the dialog — not the
 * flow the entries name, not the client instance registered behind it — proves who it is first,
 * as any request outside a dialog would. An ACK that matches nothing is absorbed; anything else
 * unroutable gets 404 "Not here".
 */
const withinDialog: Route<RequestContext> = async (ctx, next) => {
  if (ctx.msg.to().params.get("tag") === undefined) return next();
  const route = ctx.rr.looseRoute();
  if (route.refused !== undefined) {
    ctx.log.warn("route set refused", { reason: route.refused, ip: ctx.source.ip, transport: ctx.source.transport });
    if (ctx.msg.method === "ACK") ctx.drop();
    else ctx.sl.sendReply(403, "Forbidden");
    return;
  }
  if (!route.routed || route.popped === 0) {
    if (ctx.msg.method === "ACK") ctx.drop();
    else ctx.sl.sendReply(404, "Not here");
    return;
  }
  if (ctx.source.transport !== "udp" && !ownsDialog(ctx, route.inbound)) {
    // RFC 3261 §22.1: an ACK cannot be challenged; from a stranger it goes nowhere.
    if (ctx.msg.method === "ACK") {
      ctx.drop();
      return;
    }
    const auth = await ctx.auth.authCheck();
    if (!auth.ok) {
      ctx.auth.reject(auth);
      return;
    }
    ctx.auth.consumeCredentials();
    ctx.authenticated = true;
  }
  if (ctx.msg.method === "BYE") {
    // ds_load_update(): a BYE ends a call counted by algorithm 10 (a no-op for any other call).
    if (ctx.has("dispatcher")) ctx.dispatcher.loadUpdate("release");
    // A gateway call: the shard its route set names keeps its record (dlg_manage).
    const keeper = gatewayEntry(route)?.params.get("shard");
    if (keeper && ctx.has("dialogs")) ctx.dialog.ended(keeper);
  }
  // Toward a WebSocket user: the flow named in the route set. From a WebSocket user with no
  // flow left to follow: the other leg is a gateway, reached through the bridge.
  const target = route.flow !== undefined ? flowTarget(ctx, route) : ctx.source.transport !== "udp" ? await gatewayTarget(ctx, route) : undefined;
  if (target === undefined) {
    if (ctx.msg.method === "ACK") ctx.drop();
    else ctx.sl.sendReply(404, "Not here");
    return;
  }
  // Toward a carrier: the dialog's CSeq shift and caller ID, and uac_auth() armed (src/modules/uac).
  if (ctx.has("uac")) ctx.uac.withinDialog(route, target);
  if (!(await anchorInDialog(ctx, target.flow !== undefined ? "ws" : "udp"))) return; // media.ts
  const relayed = ctx.tm.relay([target]);
  if (!relayed.ok) ctx.sl.sendReply(relayed.status, relayed.reason);
};

/** The popped entry that faces a gateway (it names the gateway's address). */
function gatewayEntry(route: Extract<LooseRouteResult, { routed: true }>): RouteEntry | undefined {
  return [route.inbound, route.outbound].find((e) => e?.params.has("dst"));
}

/** The sender is a side of the dialog: its flow is the one the entry facing it names, or its client instance is. */
export function ownsDialog(ctx: RequestContext, inbound: RouteEntry | undefined): boolean {
  if (inbound === undefined) return false;
  if (inbound.flow !== undefined && inbound.flow === ctx.source.flow) return true;
  const instance = inbound.params.get("inst");
  return instance !== undefined && instance !== null && instance === ctx.source.instance;
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
  const auth = await ctx.auth.authCheck();
  if (!auth.ok) {
    ctx.auth.reject(auth);
    return;
  }
  if (!ctx.isMyself(to.host)) {
    ctx.sl.sendReply(403, "Not relaying");
    return;
  }
  ctx.auth.consumeCredentials();
  await ctx.registrar.save("location");
};

/**
 * Requests that arrive through the bridge (UDP) come from gateways: trusted when the source is a
 * dispatcher destination (Kamailio `ds_is_from_list()`) or a trusted peer, refused otherwise —
 * before anything else routes them (OPTIONS to the proxy and in-dialog requests included), since
 * UDP sources can be spoofed and nothing else should reach the edge that way.
 */
const fromGateway: Route<RequestContext> = async (ctx, next) => {
  if (ctx.source.transport !== "udp") return next();
  const trusted = (ctx.has("permissions") && (await ctx.permissions.allowTrusted())) || (await ctx.dispatcher.isFromList());
  if (!trusted) {
    ctx.sl.sendReply(403, "Forbidden");
    return;
  }
  ctx.trusted = true;
  await next();
};

/**
 * No open relay: a request that is neither from this domain nor for it is refused at once
 * (a trusted gateway's requests are for local users or numbers, so this never applies to them).
 */
const relayPolicy: Route<RequestContext> = async (ctx, next) => {
  const ruri = ctx.msg.ruri();
  const from = ctx.msg.from().uri;
  if (!ctx.trusted && isSipUri(ruri) && !ctx.isMyself(ruri) && !(isSipUri(from) && ctx.isMyself(from.host))) {
    ctx.sl.sendReply(403, "Not relaying");
    return;
  }
  await next();
};

/**
 * route[AUTH]: every request that is not from a trusted source must prove who it is (407) before
 * anything is looked up, so only authenticated callers can tell an offline user (480) from an
 * unknown one (404). ACK and CANCEL are never challenged (RFC 3261 §22.1). The From user must be
 * the authenticated one (403). An authenticated user's request for a foreign domain has nowhere
 * to go: there is no outbound route but the gateways.
 */
const authenticateCaller: Route<RequestContext> = async (ctx, next) => {
  if (!ctx.trusted && ctx.msg.method !== "ACK") {
    const auth = await ctx.auth.authCheck();
    if (!auth.ok) {
      ctx.auth.reject(auth);
      return;
    }
    ctx.auth.consumeCredentials();
    ctx.authenticated = true;
  }
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

/** The SIP URI of a Route value or Request-URI (`<sip:a@h:5060;lr>` or `sip:a@h`). */
function sipUriOf(text: string) {
  const t = text.trim();
  const parsed = t.startsWith("<") ? parseNameAddr(t) : parseUri(t);
  if (!parsed.ok) return undefined;
  const uri = "uri" in parsed.value ? parsed.value.uri : parsed.value;
  return isSipUri(uri) ? uri : undefined;
}

/** The Record-Route leg of the side a request came from: its flow and instance, or the bridge and gateway. */
export function inboundLeg(ctx: RequestContext): Leg {
  const { source } = ctx;
  if (source.transport !== "udp") return flowLeg(source.flow, source.instance, source.transport);
  const via = ctx.bridgeVia(source.bridge);
  return gatewayLeg(via, source.port === undefined ? undefined : formatHostPort({ host: source.ip, port: source.port }));
}

/** The leg facing a client's flow: its token and, for the successor of a closed flow, its instance. */
export function flowLeg(flow: string | undefined, instance: string | undefined, transport: Leg["transport"] = "ws"): Leg {
  const leg: Leg = { transport };
  if (flow !== undefined) leg.flow = flow;
  if (instance !== undefined) leg.params = { inst: instance };
  return leg;
}

/** The leg facing a gateway: the bridge's advertised address, and the gateway's (signed, for the WebSocket side's requests). */
export function gatewayLeg(via: { host: string; port?: number } | undefined, dst: string | undefined): Leg {
  const leg: Leg = { transport: "udp" };
  if (via !== undefined) leg.at = { host: via.host, ...(via.port === undefined ? {} : { port: via.port }) };
  if (dst !== undefined) leg.params = { dst };
  return leg;
}

/**
 * Toward a WebSocket user: the flow named in the route set; when its socket has closed, the
 * instance named beside it is followed to the flow it registered since (a reconnect), under the
 * AOR the request is addressed to (its To, RFC 3261 §12.2.1.1).
 */
export function flowTarget(ctx: RequestContext, route: Extract<LooseRouteResult, { routed: true }>): Target {
  const target: Target = { uri: ctx.msg.uri, flow: route.flow };
  const instance = (route.outbound ?? route.inbound)?.params.get("inst");
  const to = ctx.msg.to().uri;
  if (instance !== undefined && instance !== null && isSipUri(to) && to.user && ctx.isMyself(to.host)) {
    target.successor = { aor: aorOf(to.user, ctx.config.domain), instance };
  }
  return target;
}

/**
 * A branch to the gateway side through a bridge. The entry facing it (signed) names the bridge
 * it reaches (its advertised address) and the gateway's address. The next hop is the Route or
 * Request-URI when it is a destination of the dispatcher list; otherwise (a gateway whose Contact
 * names an address the edge cannot reach, or a forged Request-URI) the request goes to the
 * gateway the dialog was set up with, never to an arbitrary address.
 */
export async function gatewayTarget(ctx: RequestContext, route: Extract<LooseRouteResult, { routed: true }>): Promise<Target | undefined> {
  const facing = route.outbound ?? route.inbound;
  const bridge = facing === undefined ? undefined : ctx.bridgeAt(facing.host, facing.port);
  const via = ctx.bridgeVia(bridge);
  if (via === undefined || !ctx.has("dispatcher")) return undefined;
  const uri = sipUriOf(route.nextHop);
  const port = uri?.port ?? 5060;
  const signedDst = facing?.params.get("dst") ?? undefined;
  const dst = uri !== undefined && (await ctx.dispatcher.isDestination(uri.host, port)) ? formatHostPort({ host: uri.host, port }) : signedDst;
  if (dst === undefined || dst === null) return undefined;
  return { uri: ctx.msg.uri, dst, via: { transport: via.transport, host: via.host, ...(via.port === undefined ? {} : { port: via.port }) }, bridge: via.bridge };
}

import { compose, type Route } from "../routing/compose.ts";
import type { ReplyContext, RequestContext } from "../routing/context.ts";
import type { Script } from "../routing/pipeline.ts";
import type { DispatcherScript } from "../modules/dispatcher/script.ts";
import type { TmFailureContext } from "../modules/tm/index.ts";
import { parseNameAddr } from "../sip/name-addr.ts";
import { isSipUri, parseUri } from "../sip/uri.ts";
import { callLimit, security } from "./security.ts";

/**
 * The shipped route script. Read it as you would read Kamailio's `request_route`: each route
 * either answers (and does not call `next`) or passes the request on. It starts with the seed's
 * request checks, then routes in-dialog requests by Record-Route, registers, authenticates local
 * callers and relays to registered users statefully. The dispatcher joins it with the bridge.
 */

/** route[REQINIT]: the seed's checks, then Kamailio's `sanity_check()`. */
const reqinit: Route<RequestContext> = async (ctx, next) => {
  if (!ctx.maxfwd.process(10).ok) {
    ctx.sl.sendReply(483, "Too Many Hops");
    return;
  }
  if (ctx.msg.size >= ctx.config.maxMessageSize) {
    ctx.sl.sendReply(513, "Message too big");
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
const optionsToMyself: Route<RequestContext> = async (ctx, next) => {
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
 * branches; one that matches nothing gets 481 (RFC 3261 §9.2).
 */
const cancelAndRetransmissions: Route<RequestContext> = async (ctx, next) => {
  if (ctx.msg.method === "CANCEL") {
    if (!ctx.tm.checkTrans().found) ctx.sl.sendReply(481, "Call/Transaction Does Not Exist");
    return;
  }
  if (ctx.msg.method !== "ACK" && ctx.tm.checkTrans().found) return;
  await next();
};

/**
 * route[WITHINDLG]: a request with a To-tag belongs to a dialog and follows its route set. The
 * Record-Route this proxy wrote names both flows, so `loose_route` tells which socket is next.
 * An ACK that matches nothing is absorbed; anything else unroutable gets 404 "Not here".
 */
const withinDialog: Route<RequestContext> = async (ctx, next) => {
  if (ctx.msg.to().params.get("tag") === undefined) return next();
  // ds_load_update(): a BYE ends a call counted by algorithm 10 (a no-op for any other call).
  if (ctx.msg.method === "BYE" && ctx.has("dispatcher")) ctx.dispatcher.loadUpdate("release");
  const route = ctx.rr.looseRoute();
  if (route.routed && route.popped > 0) {
    // Toward a WebSocket user: the flow named in the route set. From a WebSocket user with no
    // flow left to follow: the other leg is a gateway, reached through the bridge.
    const target =
      route.flow !== undefined
        ? { uri: ctx.msg.uri, flow: route.flow }
        : ctx.source.transport !== "udp"
          ? await gatewayTarget(ctx, route.nextHop)
          : undefined;
    if (target) {
      const relayed = ctx.tm.relay([target]);
      if (!relayed.ok) ctx.sl.sendReply(relayed.status, relayed.reason);
      return;
    }
  }
  if (ctx.msg.method === "ACK") {
    ctx.drop();
    return;
  }
  ctx.sl.sendReply(404, "Not here");
};

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
 * dispatcher destination (Kamailio `ds_is_from_list()`), refused otherwise, since UDP sources can
 * be spoofed and nothing else should reach the edge that way.
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
  const inbound = { transport: ctx.source.transport, flow: ctx.source.flow };
  const params = { shard: ctx.shard };
  ctx.tm.onBranch((request) => ctx.rr.recordRoute({ inbound, outbound: { transport: "udp" }, params }, request));
  ctx.tm.onFailure(rtfDispatch(ctx.dispatcher));
  relayToDestination(ctx.dispatcher, (t) => ctx.tm.relay(t), (status, reason) => ctx.sl.sendReply(status, reason));
};

/**
 * failure_route[RTF_DISPATCH]: the next gateway, only for a 500 or a local timeout without any
 * reply (a timed-out destination is marked inactive and probed, `ds_mark_dst("ip")`); a cancelled
 * call ends here.
 */
function rtfDispatch(ds: DispatcherScript) {
  return async function RTF_DISPATCH(ctx: TmFailureContext): Promise<void> {
    const timeout = ctx.branchTimeout() && !ctx.branchReplied();
    if (ctx.isCanceled() || (!ctx.checkStatus("500") && !timeout)) {
      ds.loadUpdate("release"); // ds_load_unset(): the call failed for good
      return;
    }
    if (timeout) await ds.markDst("ip");
    if (!ds.nextDst()) {
      ds.loadUpdate("release");
      return;
    }
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
  const inbound = { transport: ctx.source.transport, flow: ctx.source.flow };
  if (ctx.msg.method !== "MESSAGE" && ctx.msg.method !== "OPTIONS") {
    const params = { shard: ctx.shard };
    ctx.tm.onBranch((request, target) => ctx.rr.recordRoute({ inbound, outbound: { transport: "ws", flow: target.flow }, params }, request));
  }
  const relayed = ctx.tm.relay(found.targets);
  if (!relayed.ok) ctx.sl.sendReply(relayed.status, relayed.reason);
};

/** onreply_route: a 2xx to a dispatched INVITE confirms its call load (algorithm 10). */
const onReply = async (ctx: ReplyContext): Promise<void> => {
  ctx.dsLoadUpdate();
};

export const defaultScript: Script = {
  reply: onReply,
  request: compose<RequestContext>([
    security, // ipban, pike, scanners, auth-failure block (routes/security.ts)
    reqinit,
    optionsToMyself,
    cancelAndRetransmissions,
    withinDialog,
    fromGateway,
    registrar,
    relayPolicy,
    authenticateCaller,
    callLimit, // MAX_CALLS_PER_USER (routes/security.ts)
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

/**
 * A branch to the next hop through the bridge (5060 when the URI gives no port). Record-Route
 * entries are not signed, so a client could write any next hop into a Route set: only gateways
 * of the dispatcher list are reachable this way, never an arbitrary address.
 */
async function gatewayTarget(ctx: RequestContext, nextHop: string) {
  const uri = sipUriOf(nextHop);
  const via = ctx.bridgeVia();
  if (!uri || !via || !ctx.has("dispatcher")) return undefined;
  const port = uri.port ?? 5060;
  if (!(await ctx.dispatcher.isDestination(uri.host, port))) return undefined;
  return { uri: ctx.msg.uri, dst: `${uri.host}:${port}`, via };
}

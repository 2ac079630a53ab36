import { compose, type Route } from "../routing/compose.ts";
import type { RequestContext } from "../routing/context.ts";
import type { Script } from "../routing/pipeline.ts";
import { isSipUri } from "../sip/uri.ts";

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
  const route = ctx.rr.looseRoute();
  if (route.routed && route.flow !== undefined) {
    const relayed = ctx.tm.relay([{ uri: ctx.msg.uri, flow: route.flow }]);
    if (!relayed.ok) ctx.sl.sendReply(relayed.status, relayed.reason);
    return;
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
 * route[AUTH]: requests from this domain's users must prove who they are (407), except ACK and
 * CANCEL, which cannot be challenged (RFC 3261 §22.1). The From user must be the authenticated one.
 */
const authenticateCaller: Route<RequestContext> = async (ctx, next) => {
  const from = ctx.msg.from().uri;
  if (ctx.msg.method !== "ACK" && isSipUri(from) && ctx.isMyself(from.host)) {
    const auth = await ctx.auth.authCheck();
    if (!auth.ok) {
      ctx.auth.reject(auth);
      return;
    }
    ctx.auth.consumeCredentials();
    ctx.authenticated = true;
  }
  await next();
};

/** No open relay: a request for a domain this edge does not serve is refused. */
const relayPolicy: Route<RequestContext> = async (ctx, next) => {
  const ruri = ctx.msg.ruri();
  if (isSipUri(ruri) && !ctx.isMyself(ruri)) {
    ctx.sl.sendReply(403, "Not relaying");
    return;
  }
  await next();
};

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
    ctx.tm.onBranch((request, target) => ctx.rr.recordRoute({ inbound, outbound: { transport: "ws", flow: target.flow } }, request));
  }
  const relayed = ctx.tm.relay(found.targets);
  if (!relayed.ok) ctx.sl.sendReply(relayed.status, relayed.reason);
};

export const defaultScript: Script = {
  request: compose<RequestContext>([
    reqinit,
    optionsToMyself,
    cancelAndRetransmissions,
    withinDialog,
    registrar,
    authenticateCaller,
    relayPolicy,
    location,
  ]),
};

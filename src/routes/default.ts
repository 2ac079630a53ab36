import { compose, type Route } from "../routing/compose.ts";
import type { RequestContext } from "../routing/context.ts";
import type { Script } from "../routing/pipeline.ts";
import { isSipUri } from "../sip/uri.ts";

/**
 * The shipped route script. Read it as you would read Kamailio's `request_route`: each route
 * either answers (and does not call `next`) or passes the request on. It starts with the seed's
 * request checks; the stateful proxy (calls) and the dispatcher join it as they land.
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
 * route[WITHINDLG]: a request with a To-tag belongs to a dialog. Until the stateful proxy routes
 * them by Record-Route, an in-dialog request is not ours: an ACK is absorbed, the rest get
 * 404 "Not here" (Kamailio's default script answers the same when loose_route fails).
 */
const withinDialog: Route<RequestContext> = async (ctx, next) => {
  if (ctx.msg.to().params.get("tag") === undefined) return next();
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
 * RFC 3261 §9.2: a CANCEL that matches no transaction gets 481. The stateful proxy (tm) that can
 * match one is not wired in yet, so no CANCEL has a transaction here.
 */
const cancelWithoutTransaction: Route<RequestContext> = async (ctx, next) => {
  if (ctx.msg.method === "CANCEL") {
    ctx.sl.sendReply(481, "Call/Transaction Does Not Exist");
    return;
  }
  await next();
};

export const defaultScript: Script = {
  request: compose<RequestContext>([reqinit, optionsToMyself, withinDialog, registrar, relayPolicy, cancelWithoutTransaction]),
};

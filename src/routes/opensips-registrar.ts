import { compose, type Route } from "../routing/compose.ts";
import type { ReplyContext, RequestContext } from "../routing/context.ts";
import type { Script } from "../routing/pipeline.ts";
import type { Target } from "../modules/tm/index.ts";
import { isSipUri, parseUri } from "../sip/uri.ts";
import { formatHostPort } from "../transport/bridge.ts";
import { authenticated, cancelAndRetransmissions, dialogTarget, flowLeg, gatewayLeg, inboundLeg, mayFollowDialog, notHere, optionsToMyself, refusedRouteSet, reqinit } from "./common.ts";
import { replySecurity, security } from "./security.ts";

/**
 * `opensips-registrar`: the seed's OpenSIPS configuration with db_text, auth and usrloc, read top
 * to bottom like its `route{}` (README "opensips-registrar" has the seed's lines beside these):
 * record-route all but REGISTER; in-dialog requests follow the route set ("P-hint: rr-enforced");
 * another domain is relayed ("P-hint: outbound"); REGISTER is digest-authenticated against
 * `subscriber` and saved; otherwise `lookup("aliases")` may turn the Request-URI into another
 * domain ("P-hint: outbound alias") or a local user, who is looked up in location ("P-hint:
 * usrloc applied") or gets 404.
 *
 * Deliberate differences (the seed is an open relay): relaying to another domain, directly or
 * through an alias, is for authenticated callers only (407 first; From must be the authenticated
 * user), and reaches only addresses of the `address` group RELAY_ADDRESS_GROUP through the
 * bridge; a REGISTER must be for the authenticated user's own AOR. sipedge's REQINIT (bans,
 * flood, scanners, sanity) runs first, OPTIONS to the proxy itself is answered, and requests
 * through the bridge must come from a dispatcher destination, a trusted peer or the relay group.
 */

/** UDP sources: gateways (`ds_is_from_list`), trusted peers, and the hosts of the relay group (their in-dialog requests). */
const fromUdp: Route<RequestContext> = async (ctx, next) => {
  if (ctx.source.transport !== "udp") return next();
  const trusted = (await ctx.dispatcher.isFromList()) || (ctx.has("permissions") && (await ctx.permissions.allowTrusted()));
  if (!trusted && !(ctx.has("permissions") && (await ctx.permissions.allowSourceAddress(ctx.config.relayAddressGroup)))) {
    ctx.sl.sendReply(403, "Forbidden");
    return;
  }
  ctx.trusted = trusted;
  await next();
};

/**
 * `if (!$rm=="REGISTER") record_route();` (the seed's typo for `$rm != "REGISTER"`): every
 * branch of an initial request gets this proxy's entries, one facing each side, so the dialog's
 * later requests come back through it and find the client's socket. An in-dialog request
 * already has its route set.
 */
const recordRoute: Route<RequestContext> = async (ctx, next) => {
  if (ctx.msg.method !== "REGISTER" && ctx.msg.to().params.get("tag") === undefined) {
    const inbound = inboundLeg(ctx);
    const params = { shard: ctx.shard }; // the bridge sends the dialog's requests to this shard
    ctx.tm.onBranch((request, target) =>
      ctx.rr.recordRoute({ inbound, outbound: target.flow !== undefined ? flowLeg(target.flow, target.successor?.instance) : gatewayLeg(target.via, target.dst), params }, request),
    );
  }
  await next();
};

/** `if (loose_route()) { append_hf("P-hint: rr-enforced\r\n"); route(1); exit; }` */
const looseRoute: Route<RequestContext> = async (ctx, next) => {
  if (!ctx.msg.headers.has("Route")) return next();
  const route = ctx.rr.looseRoute();
  if (refusedRouteSet(ctx, route)) return;
  if (!route.routed || route.popped === 0) return next();
  // The route set may lead through the bridge: a stranger to the dialog proves who it is first.
  if (!(await mayFollowDialog(ctx, route.inbound))) return;
  ctx.textops.appendHf("P-hint: rr-enforced\r\n");
  const target = await dialogTarget(ctx, route);
  if (target === undefined) return notHere(ctx);
  relay(ctx, [target]);
};

/** `if (!is_myself("$rd")) { append_hf("P-hint: outbound\r\n"); route(1); exit; }`, for authenticated callers only. */
const outbound: Route<RequestContext> = async (ctx, next) => {
  if (ctx.isMyself(ctx.msg.ruri())) return next();
  await relayOut(ctx, "P-hint: outbound\r\n");
};

/** REGISTER: `www_authorize("", "subscriber")` or `www_challenge("", "0")`, then `save("location")`. */
const registrar: Route<RequestContext> = async (ctx, next) => {
  if (ctx.msg.method !== "REGISTER") return next();
  const auth = await ctx.auth.wwwAuthorize();
  if (!auth.ok) {
    ctx.auth.reject(auth); // www_challenge, with stale=true for an expired nonce
    return;
  }
  // Not in the seed: the AOR must be the authenticated user's own (Kamailio's auth_check does this).
  const to = ctx.msg.to().uri;
  if (!isSipUri(to) || to.user?.toLowerCase() !== auth.user.toLowerCase()) {
    ctx.sl.sendReply(403, "Forbidden");
    return;
  }
  ctx.auth.consumeCredentials();
  await ctx.registrar.save("location");
};

/** `lookup("aliases"); if (!is_myself("$rd")) { append_hf("P-hint: outbound alias\r\n"); route(1); exit; }` */
const aliases: Route<RequestContext> = async (ctx, next) => {
  const alias = await ctx.registrar.lookup("aliases");
  if (alias.found && !ctx.isMyself(ctx.msg.ruri())) {
    await relayOut(ctx, "P-hint: outbound alias\r\n");
    return;
  }
  await next();
};

/** `if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }` then `append_hf("P-hint: usrloc applied\r\n"); route(1);` */
const location: Route<RequestContext> = async (ctx) => {
  // The seed lets anyone call a local user, so a guessed name must cost no Location object:
  // only a subscriber can have registered (is_subscriber, from the subscriber cache).
  const found = (await ctx.auth.isSubscriber()) ? await ctx.registrar.lookup("location") : undefined;
  if (found === undefined || !found.found) {
    ctx.sl.sendReply(404, "Not Found");
    return;
  }
  ctx.textops.appendHf("P-hint: usrloc applied\r\n");
  const targets: Target[] = [];
  for (const t of found.targets) {
    // A binding without a flow (imported from a location table) is a UDP contact: the relay group's rule applies.
    const target = t.flow !== undefined ? t : await udpTarget(ctx, t.uri);
    if (target !== undefined) targets.push(target);
  }
  if (targets.length === 0) {
    ctx.sl.sendReply(404, "Not Found");
    return;
  }
  relay(ctx, targets);
};

/** route[1]: `if (!t_relay()) { sl_reply_error(); };` */
function relay(ctx: RequestContext, targets: Target[]): void {
  const relayed = ctx.tm.relay(targets);
  if (!relayed.ok) ctx.sl.sendReply(relayed.status, relayed.reason);
}

/**
 * Relaying to another domain: an authenticated caller (or a trusted gateway), and a Request-URI
 * whose host is an address of the relay group, reached through the bridge. A UDP peer that is
 * neither is refused without a challenge: digest over UDP would invite guessing.
 */
async function relayOut(ctx: RequestContext, hint: string): Promise<void> {
  if (!ctx.trusted) {
    if (ctx.source.transport === "udp") {
      ctx.sl.sendReply(403, "Relaying forbidden");
      return;
    }
    if (!(await authenticated(ctx))) return;
  }
  const target = await udpTarget(ctx, ctx.msg.uri);
  if (target === undefined) {
    ctx.sl.sendReply(403, "Relaying forbidden");
    return;
  }
  ctx.textops.appendHf(hint);
  relay(ctx, [target]);
}


/**
 * A URI as a branch through the bridge, when its host is an IP address in the `address` group
 * RELAY_ADDRESS_GROUP (host names are not resolved at the edge, and no other address is reached).
 */
async function udpTarget(ctx: RequestContext, uriText: string): Promise<Target | undefined> {
  const parsed = parseUri(uriText);
  if (!parsed.ok || !isSipUri(parsed.value)) return undefined;
  const uri = parsed.value;
  const host = uri.host.replace(/^\[|\]$/g, "");
  const port = uri.port ?? 5060;
  if (!ctx.has("permissions") || !(await ctx.permissions.allowAddress(ctx.config.relayAddressGroup, host, port))) return undefined;
  const via = ctx.bridgeVia();
  if (via === undefined) return undefined;
  const sentBy = { transport: via.transport, host: via.host, ...(via.port === undefined ? {} : { port: via.port }) };
  return { uri: uriText, dst: formatHostPort({ host, port }), via: sentBy, bridge: via.bridge };
}

/** onreply_route: responses count toward an address's flood limit too. */
const onReply = async (ctx: ReplyContext): Promise<void> => {
  if (!(await replySecurity(ctx))) ctx.drop();
};

export const opensipsRegistrar: Script = {
  reply: onReply,
  request: compose<RequestContext>([
    security, // sipedge: bans, flood, scanners, auth-failure block (routes/security.ts)
    reqinit, // mf_process_maxfwd_header("10") → 483; sanity_check() (sipedge)
    fromUdp,
    optionsToMyself, // sipedge: the proxy answers OPTIONS to itself
    cancelAndRetransmissions, // what OpenSIPS' t_relay does for CANCEL and retransmissions
    recordRoute,
    looseRoute,
    outbound,
    registrar,
    aliases,
    location,
  ]),
};

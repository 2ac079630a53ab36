/**
 * Building blocks the shipped route scripts share, and that a script of one's own may use
 * (README, "Write your own route script"): the seed's request checks, CANCEL and retransmission
 * handling, authentication, the checks on a route set, the Record-Route legs and the in-dialog
 * targets. Each is a Kamailio idiom; the scripts in this folder read as `request_route` blocks
 * built from them.
 */
import type { Route } from "../routing/compose.ts";
import type { RequestContext } from "../routing/context.ts";
import type { Target } from "../modules/tm/index.ts";
import { aorOf } from "../modules/registrar/index.ts";
import type { Leg, LooseRouteResult, RouteEntry } from "../modules/rr/index.ts";
import { formatHostPort } from "../transport/bridge.ts";
import { parseNameAddr } from "../sip/name-addr.ts";
import { isSipUri, parseUri } from "../sip/uri.ts";

/**
 * route[REQINIT]: the seed's checks, then Kamailio's `sanity_check()`. (The seed's `$ml >= 65535`
 * → 513 runs before this script, on the header lines alone: MAX_MESSAGE_SIZE, routing/pipeline.ts.)
 */
export const reqinit: Route<RequestContext> = (ctx, next) => {
  if (!ctx.maxfwd.process(10).ok) {
    ctx.sl.sendReply(483, "Too Many Hops");
    return;
  }
  const sanity = ctx.sanity.check();
  if (!sanity.ok) {
    ctx.sl.sendReply(sanity.status, sanity.reason, { headers: sanity.headers });
    return;
  }
  return next();
};

/** OPTIONS to the proxy itself (no user part) is a keep-alive or capability probe: 200. */
export const optionsToMyself: Route<RequestContext> = (ctx, next) => {
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
  return next();
};

/**
 * CANCEL and retransmissions (Kamailio: `if (is_method("CANCEL")) { if (t_check_trans())
 * route(RELAY); exit; }`): a CANCEL that matches a transaction is answered 200 and cancels its
 * branches; one that matches nothing gets 481 (RFC 3261 §9.2). The ACK of a non-2xx final response
 * is hop-by-hop and ends its server transaction here (RFC 3261 §17.2.1: Completed → Confirmed);
 * an ACK for a 2xx matches nothing and goes on along the dialog's route set.
 */
export const cancelAndRetransmissions: Route<RequestContext> = (ctx, next) => {
  if (ctx.msg.method === "CANCEL") {
    if (!ctx.tm.checkTrans().found) ctx.sl.sendReply(481, "Call/Transaction Does Not Exist");
    return;
  }
  const match = ctx.tm.checkTrans();
  if (match.found && match.action !== "ack-forward") return;
  return next();
};


/** The sender is a side of the dialog: its flow is the one the entry facing it names, or its client instance is. */
export function ownsDialog(ctx: RequestContext, inbound: RouteEntry | undefined): boolean {
  if (inbound === undefined) return false;
  if (inbound.flow !== undefined && inbound.flow === ctx.source.flow) return true;
  const instance = inbound.params.get("inst");
  return instance !== undefined && instance !== null && instance === ctx.source.instance;
}


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
 * The Via of the bridge the signed entry facing the gateway names, or of any linked bridge. A
 * module-level function: a closure here would be wrapped in `__name` per request (esbuild keep_names).
 */
function facingBridgeVia(ctx: RequestContext, facing: { host: string; port?: number | undefined } | undefined): ReturnType<RequestContext["bridgeVia"]> {
  return ctx.bridgeVia(facing === undefined ? undefined : ctx.bridgeAt(facing.host, facing.port));
}

/** How long an in-dialog request toward a gateway waits for a bridge link (a bridge restarting). */
export const BRIDGE_WAIT_MS = 5000;

/**
 * A branch to the gateway side through a bridge. The entry facing it (signed) names the bridge
 * it reaches (its advertised address) and the gateway's address. The next hop is the Route or
 * Request-URI when it is a destination of the dispatcher list; otherwise (a gateway whose Contact
 * names an address the edge cannot reach, or a forged Request-URI) the request goes to the
 * gateway the dialog was set up with, never to an arbitrary address.
 */
export async function gatewayTarget(ctx: RequestContext, route: Extract<LooseRouteResult, { routed: true }>): Promise<Target | undefined> {
  const facing = route.outbound ?? route.inbound;
  let via = facingBridgeVia(ctx, facing);
  // No link while a bridge restarts (its supervisor has it back within seconds): the caller's ACK
  // or BYE waits for the link instead of being lost, so the gateway's side of the call ends too.
  if (via === undefined && (await ctx.whenBridgeLinked(BRIDGE_WAIT_MS))) via = facingBridgeVia(ctx, facing);
  if (via === undefined || !ctx.has("dispatcher")) return undefined;
  const uri = sipUriOf(route.nextHop);
  const port = uri?.port ?? 5060;
  const signedDst = facing?.params.get("dst") ?? undefined;
  const dst = uri !== undefined && (await ctx.dispatcher.isDestination(uri.host, port)) ? formatHostPort({ host: uri.host, port }) : signedDst;
  if (dst === undefined || dst === null) return undefined;
  return { uri: ctx.msg.uri, dst, via: { transport: via.transport, host: via.host, ...(via.port === undefined ? {} : { port: via.port }) }, bridge: via.bridge };
}

/**
 * Kamailio `auth_check()` / OpenSIPS `www_authorize` + `consume_credentials()`: true when the
 * request proved who sent it (now or earlier in the script); otherwise the challenge or the
 * refusal has been sent and the script ends.
 */
export async function authenticated(ctx: RequestContext): Promise<boolean> {
  if (ctx.authenticated) return true;
  const auth = await ctx.auth.authCheck();
  if (!auth.ok) {
    ctx.auth.reject(auth);
    return false;
  }
  ctx.auth.consumeCredentials();
  ctx.authenticated = true;
  return true;
}

/**
 * A route set whose entries of this proxy were forged or altered (their signature fails) is
 * refused: 403, or nothing for an ACK. True when it was, and the script ends.
 */
export function refusedRouteSet(ctx: RequestContext, route: LooseRouteResult): boolean {
  if (route.refused === undefined) return false;
  ctx.log.warn("route set refused", { reason: route.refused, ip: ctx.source.ip, transport: ctx.source.transport });
  if (ctx.msg.method === "ACK") ctx.drop();
  else ctx.sl.sendReply(403, "Forbidden");
  return true;
}

/**
 * A WebSocket client that is neither side of the dialog proves who it is before its in-dialog
 * request goes anywhere, as it would outside a dialog; an ACK cannot be challenged (RFC 3261
 * §22.1), so from a stranger it goes nowhere. True when the request may go on.
 */
export async function mayFollowDialog(ctx: RequestContext, inbound: RouteEntry | undefined): Promise<boolean> {
  if (ctx.source.transport === "udp" || ownsDialog(ctx, inbound)) return true;
  if (ctx.msg.method === "ACK") {
    ctx.drop();
    return false;
  }
  return authenticated(ctx);
}

/**
 * The next hop of an in-dialog request that loose_route recognised: the flow named in the route
 * set (or its instance's successor), or, from a WebSocket user with no flow left to follow, the
 * gateway through the bridge. Undefined: nowhere (the caller answers 404 "Not here").
 */
export async function dialogTarget(ctx: RequestContext, route: Extract<LooseRouteResult, { routed: true }>): Promise<Target | undefined> {
  if (route.flow !== undefined) return flowTarget(ctx, route);
  return ctx.source.transport !== "udp" ? gatewayTarget(ctx, route) : undefined;
}

/** 404 "Not here" for a request that cannot be routed; nothing for an ACK. */
export function notHere(ctx: RequestContext): void {
  if (ctx.msg.method === "ACK") ctx.drop();
  else ctx.sl.sendReply(404, "Not here");
}

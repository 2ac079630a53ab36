import { compose, type Route } from "../routing/compose.ts";
import type { ReplyContext, RequestContext } from "../routing/context.ts";
import type { Script } from "../routing/pipeline.ts";
import type { Target } from "../modules/tm/index.ts";
import { isSipUri, parseUri } from "../sip/uri.ts";
import { formatHostPort } from "../transport/bridge.ts";
import { flowShard } from "../transport/flow.ts";
import { flowLeg, gatewayLeg, inboundLeg, refusedRouteSet } from "./common.ts";
import { replySecurity, security } from "./security.ts";

/**
 * `opensips-balancer`: the seed's "OpenSIPS as SIP gateway", a stateless load balancer in front
 * of the proxies of dispatcher set 2:
 *
 * ```
 * # modparam("dispatcher", "force_dst", 1)   -- commented out: force_dst 0
 * route{
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483","To Many Hops"); drop(); };
 *   ds_select_dst("2", "0");                  # hash over the Call-ID
 *   forward();                                # stateless; replies go back by Via
 * }
 * ```
 *
 * What sipedge adds, because its callers are WebSocket clients whose Contact (`….invalid`) the
 * proxies cannot reach: the balancer record-routes dialog-creating requests that have a client's
 * flow on one side, and puts itself into the Path of their REGISTERs (RFC 3327, RFC 5626 edge
 * proxy), so the proxies' requests to a client come back through it to its socket. Before the
 * seed's lines run sipedge's REQINIT security (bans, flood, scanners), and requests through the
 * bridge must come from a dispatcher destination or a trusted peer: the balancer relays between
 * its clients and set 2, never from or to any other UDP address.
 */

/** The seed's one check: Max-Forwards (483). (513 for oversized messages runs before any script.) */
const maxfwd: Route<RequestContext> = async (ctx, next) => {
  if (!ctx.maxfwd.process(10).ok) {
    ctx.sl.sendReply(483, "Too Many Hops");
    return;
  }
  await next();
};

/** UDP (through the bridge) only from the proxies and gateways of the dispatcher list, or trusted peers. */
const fromProxies: Route<RequestContext> = async (ctx, next) => {
  if (ctx.source.transport !== "udp") return next();
  if (!(await ctx.dispatcher.isFromList()) && !(ctx.has("permissions") && (await ctx.permissions.allowTrusted()))) {
    ctx.sl.sendReply(403, "Forbidden");
    return;
  }
  ctx.trusted = true;
  await next();
};

/**
 * The balancer's own Route entries (its Record-Route, its Path): `loose_route` takes them off.
 * The entry facing a client names its flow, which becomes `$du`; a next Route that is one of the
 * proxies becomes `$du` as well (`force_dst` 0: `ds_select_dst` keeps it); a next hop that is
 * neither is refused, so no Route can aim the bridge at an arbitrary address.
 */
const looseRoute: Route<RequestContext> = async (ctx, next) => {
  if (!ctx.msg.headers.has("Route")) return next();
  const route = ctx.rr.looseRoute();
  if (refusedRouteSet(ctx, route)) return;
  if (!route.routed || route.popped === 0) return next();
  if (route.flow !== undefined) {
    ctx.du = { uri: ctx.msg.uri, flow: route.flow };
  } else if (route.next === "route") {
    const du = await proxyTarget(ctx, route.nextHop);
    if (du === undefined) {
      if (ctx.msg.method === "ACK") ctx.drop();
      else ctx.sl.sendReply(403, "Forbidden");
      return;
    }
    ctx.du = du;
  }
  await next();
};

/** `ds_select_dst("2", "0")` then `forward()`; 404 "No destination" when no proxy is up and no Route said where. */
const balance: Route<RequestContext> = async (ctx) => {
  await ctx.dispatcher.selectDst(2, 0, { forceDst: false });
  const du = ctx.du;
  if (du === undefined) {
    if (ctx.msg.method === "ACK") ctx.drop();
    else ctx.sl.sendReply(404, "No destination");
    return;
  }
  recordRouteFlows(ctx, du);
  const forwarded = ctx.forward(du);
  if (!forwarded.ok) ctx.sl.sendReply(forwarded.status, forwarded.reason);
};

const DIALOG_CREATING = new Set(["INVITE", "SUBSCRIBE", "REFER"]);

/**
 * The one difference from the seed: a dialog with a client's flow on one side is record-routed
 * (double: an entry facing each side), and a client's REGISTER gets a Path entry naming its flow.
 */
function recordRouteFlows(ctx: RequestContext, du: Target): void {
  const fromClient = ctx.source.flow !== undefined;
  if (ctx.msg.method === "REGISTER") {
    if (fromClient && du.via !== undefined) ctx.path.addPath(gatewayLeg(du.via, undefined));
    return;
  }
  if (!fromClient && du.flow === undefined) return;
  if (!DIALOG_CREATING.has(ctx.msg.method) || ctx.msg.to().params.get("tag") !== undefined) return;
  const outbound = du.flow !== undefined ? flowLeg(du.flow, undefined) : gatewayLeg(du.via, undefined);
  // The shard that holds the client's socket: the bridge sends the dialog's requests to it (bridge/README.md).
  const shard = flowShard(ctx.source.flow ?? du.flow ?? "");
  ctx.rr.recordRoute({ inbound: inboundLeg(ctx), outbound, ...(shard === undefined ? {} : { params: { shard } }) });
}

/** A Route URI that is a destination of the dispatcher list, as a target through the bridge. */
async function proxyTarget(ctx: RequestContext, route: string): Promise<Target | undefined> {
  const parsed = parseUri(route);
  if (!parsed.ok || !isSipUri(parsed.value)) return undefined;
  const uri = parsed.value;
  const port = uri.port ?? 5060;
  if (!(await ctx.dispatcher.isDestination(uri.host, port))) return undefined;
  const via = ctx.bridgeVia();
  if (via === undefined) return undefined;
  return { uri: ctx.msg.uri, dst: formatHostPort({ host: uri.host, port }), via: { transport: via.transport, host: via.host, ...(via.port === undefined ? {} : { port: via.port }) }, bridge: via.bridge };
}

/** onreply_route: responses count toward an address's flood limit too; then they go back by Via. */
const onReply = async (ctx: ReplyContext): Promise<void> => {
  if (!(await replySecurity(ctx))) ctx.drop();
};

export const opensipsBalancer: Script = {
  reply: onReply,
  request: compose<RequestContext>([security, maxfwd, fromProxies, looseRoute, balance]),
};

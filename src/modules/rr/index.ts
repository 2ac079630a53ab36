/**
 * rr: Record-Route and loose routing (RFC 3261 §16.4, §16.6 item 4, §16.12), named after
 * Kamailio's module: `recordRoute` (record_route, with double record-routing when the two legs
 * differ), `looseRoute` (loose_route), `addRrParam` (add_rr_param), `checkRouteParam`
 * (check_route_param). The flow token (RFC 5626) rides in a URI parameter of the entry that faces
 * the flow's socket, so an in-dialog request finds its socket from the Route it carries.
 */
import type { SipRequest } from "../../sip/message.ts";
import { parseNameAddr } from "../../sip/name-addr.ts";
import { formatUri, isSipUri, type SipUri, type Uri } from "../../sip/uri.ts";

export type LegTransport = "ws" | "wss" | "udp" | "tcp" | "tls";

/** One side of the proxy: how a request arrived (inbound) or leaves (outbound). */
export interface Leg {
  transport: LegTransport;
  /** The flow (socket) of this side, written as the flow-token parameter. */
  flow?: string;
}

export interface HostPort {
  host: string;
  port?: number;
}

export interface RrOptions {
  /** The address written into Record-Route per transport (ws: the edge's host; udp: the bridge's). */
  listen: Partial<Record<LegTransport, HostPort>>;
  /** Kamailio `is_myself`: whether a Route URI names this proxy. */
  isMyself(target: string | Uri): boolean;
  /** The leg when `recordRoute` is called without one. Default "ws". */
  defaultTransport?: LegTransport;
  /** URI parameter that carries the flow token. Default "flow". */
  flowParam?: string;
  /** Kamailio `enable_double_rr`: two entries when the legs differ. Default true. */
  doubleRr?: boolean;
  /** Kamailio `append_fromtag`: add ";ftag=<From tag>" (for `is_direction`). Default false. */
  appendFromtag?: boolean;
}

export interface RecordRouteOptions {
  /** The leg the request came in on. Default: `defaultTransport`, no flow. */
  inbound?: Leg;
  /** The leg it leaves on (in a branch route, per branch). Absent: one entry. */
  outbound?: Leg;
  /** Extra URI parameters (Kamailio `record_route(params)` / `add_rr_param`), e.g. { nat: "yes" }. */
  params?: Record<string, string | null>;
}

/** Where an in-dialog request goes next, after this proxy's Route entries were taken off. */
export type LooseRouteResult =
  /** No Route header: not routed by a route set (Kamailio loose_route returns -1). */
  | { routed: false }
  | {
      routed: true;
      /** How many Route values named this proxy (0 when the top Route is someone else's). */
      popped: number;
      /** The previous hop was a strict router: the Request-URI held our Record-Route (§16.4). */
      strictPreviousHop: boolean;
      /** The next hop: the new top Route, else the Request-URI. */
      next: "route" | "ruri";
      nextHop: string;
      /** The flow token of a popped entry that is not the flow the request arrived on. */
      flow?: string;
      /** The URI parameters of the popped entries, ";name=value..." (for `checkRouteParam`). */
      routeParams: string;
    };

export interface Rr {
  recordRoute(request: SipRequest, options?: RecordRouteOptions): void;
  looseRoute(request: SipRequest, arrivalFlow?: string): LooseRouteResult;
  addRrParam(request: SipRequest, name: string, value?: string): boolean;
  checkRouteParam(result: LooseRouteResult, pattern: RegExp): boolean;
}

/** The rr namespace, with its configuration compiled once. */
export function createRr(options: RrOptions): Rr {
  const flowParam = options.flowParam ?? "flow";
  const doubleRr = options.doubleRr ?? true;
  const defaultLeg: Leg = { transport: options.defaultTransport ?? "ws" };
  const configured = options.listen[defaultLeg.transport];
  // A configuration error, found when the script is built, not on a request.
  if (configured === undefined) throw new Error(`rr: no listen address for the default transport ${defaultLeg.transport}`);
  const fallback: HostPort = configured;

  function entry(request: SipRequest, leg: Leg, double: boolean, params: RecordRouteOptions["params"]): string {
    const at = options.listen[leg.transport] ?? fallback;
    let uri = "sip:" + at.host + (at.port === undefined ? "" : ":" + at.port);
    uri += ";transport=" + (leg.transport === "wss" ? "ws" : leg.transport) + ";lr";
    if (double) uri += ";r2=on";
    if (leg.flow !== undefined) uri += ";" + flowParam + "=" + leg.flow;
    if (options.appendFromtag) {
      const tag = request.from().params.get("tag");
      if (tag) uri += ";ftag=" + tag;
    }
    for (const [name, value] of Object.entries(params ?? {})) uri += ";" + name + (value === null ? "" : "=" + value);
    return "<" + uri + ">";
  }

  return {
    /**
     * Kamailio `record_route()`. RFC 3261 §16.6 item 4: the proxy "MUST insert its Record-Route
     * header field value ... before any existing Record-Route header field values". With double
     * record-routing the entry facing the outbound leg goes on top (the callee's route set starts
     * with it) and the one facing the inbound leg below it (the caller's reversed set starts
     * with that): Kamailio's behaviour when transports differ (e.g. ws → udp via the bridge), and
     * here also when the flows differ, so that both flow tokens are in the dialog's route set.
     */
    recordRoute(request, opts = {}) {
      const inbound = opts.inbound ?? defaultLeg;
      const outbound = opts.outbound;
      const double = doubleRr && outbound !== undefined && (outbound.transport !== inbound.transport || outbound.flow !== inbound.flow);
      request.headers.prepend("Record-Route", entry(request, inbound, double, opts.params));
      if (double) request.headers.prepend("Record-Route", entry(request, outbound, true, opts.params));
    },

    looseRoute(request, arrivalFlow) {
      return looseRoute(request, arrivalFlow, options.isMyself, flowParam);
    },

    /**
     * Kamailio `add_rr_param(";name=value")`: adds a parameter to the Record-Route entries this
     * proxy put on the request (call it after `recordRoute`). False when there are none.
     */
    addRrParam(request, name, value) {
      const values = request.headers.getAll("record-route");
      let changed = 0;
      for (let i = 0; i < values.length && i < 2; i++) {
        const parsed = parseNameAddr(values[i] as string);
        if (!parsed.ok || !isSipUri(parsed.value.uri) || !options.isMyself(parsed.value.uri)) break;
        parsed.value.uri.params.set(name.toLowerCase(), value ?? null);
        values[i] = "<" + formatUri(parsed.value.uri) + ">";
        changed++;
        if (!parsed.value.uri.params.has("r2")) break;
      }
      if (changed === 0) return false;
      request.headers.set("Record-Route", values.join(", "));
      return true;
    },

    /** Kamailio `check_route_param(re)`: tests the popped entries' parameters. */
    checkRouteParam(result, pattern) {
      if (!result.routed) return false;
      pattern.lastIndex = 0;
      return pattern.test(result.routeParams);
    },
  };
}

function routeUri(value: string): SipUri | undefined {
  const parsed = parseNameAddr(value);
  return parsed.ok && isSipUri(parsed.value.uri) ? parsed.value.uri : undefined;
}

function paramsText(uri: SipUri): string {
  let out = "";
  for (const [name, value] of uri.params) out += ";" + name + (value === null ? "" : "=" + value);
  return out;
}

/**
 * RFC 3261 §16.4 and §16.12 (Kamailio `loose_route`).
 * 1. "If the Request-URI of the request contains a value this proxy previously placed into a
 *    Record-Route header field ..., the proxy MUST replace the Request-URI in the request with
 *    the last value from the Route header field, and remove that value from the Route header
 *    field." (The previous hop was a strict router; our entries carry no user part and `lr`.)
 * 2. "If the first value in the Route header field indicates this proxy, the proxy MUST remove
 *    that value from the request." With double record-routing (`r2`) the second entry goes too.
 */
export function looseRoute(
  request: SipRequest,
  arrivalFlow: string | undefined,
  isMyself: (target: string | Uri) => boolean,
  flowParam = "flow",
): LooseRouteResult {
  let routes = request.headers.getAll("route");
  if (routes.length === 0) return { routed: false };
  const poppedUris: SipUri[] = [];
  let strict = false;
  const ruri = request.ruri();
  if (isSipUri(ruri) && ruri.user === undefined && ruri.params.has("lr") && isMyself(ruri)) {
    const last = routeUri(routes[routes.length - 1] as string);
    if (last !== undefined) {
      strict = true;
      poppedUris.push(ruri);
      routes = routes.slice(0, -1);
      request.uri = formatUri(last);
      setRoutes(request, routes);
    }
  }
  let popped = 0;
  while (routes.length > 0 && popped < 2) {
    const top = routeUri(routes[0] as string);
    if (top === undefined || !isMyself(top)) break;
    request.headers.removeFirstValue("route");
    routes = routes.slice(1);
    poppedUris.push(top);
    popped++;
    if (!top.params.has("r2")) break;
  }
  return {
    routed: true,
    popped: popped + (strict ? 1 : 0),
    strictPreviousHop: strict,
    ...nextHop(request, routes),
    ...flowOf(poppedUris, arrivalFlow, flowParam),
    routeParams: poppedUris.map(paramsText).join(""),
  };
}

function nextHop(request: SipRequest, routes: string[]): { next: "route" | "ruri"; nextHop: string } {
  const top = routes[0] === undefined ? undefined : routeUri(routes[0]);
  if (top === undefined) return { next: "ruri", nextHop: request.uri };
  if (!top.params.has("lr")) {
    // §16.6 item 6: a strict router next: "the proxy MUST place the Request-URI into the Route
    // header field as the last value, then place the first Route header field value into the
    // Request-URI and remove that value from the Route header field".
    const rest = [...routes.slice(1), "<" + request.uri + ">"];
    request.uri = formatUri(top);
    setRoutes(request, rest);
    return { next: "ruri", nextHop: request.uri };
  }
  return { next: "route", nextHop: formatUri(top) };
}

function flowOf(uris: SipUri[], arrivalFlow: string | undefined, flowParam: string): { flow?: string } {
  for (const uri of uris) {
    const flow = uri.params.get(flowParam);
    if (flow !== undefined && flow !== null && flow !== arrivalFlow) return { flow };
  }
  return {};
}

function setRoutes(request: SipRequest, routes: string[]): void {
  if (routes.length === 0) request.headers.remove("route");
  else request.headers.set("Route", routes.join(", "));
}

/**
 * rr: Record-Route and loose routing (RFC 3261 §16.4, §16.6 item 4, §16.12), named after
 * Kamailio's module: `recordRoute` (record_route, with double record-routing when the two legs
 * differ), `looseRoute` (loose_route), `addRrParam` (add_rr_param), `checkRouteParam`
 * (check_route_param). The flow token (RFC 5626) rides in a URI parameter of the entry that faces
 * the flow's socket, so an in-dialog request finds its socket from the Route it carries.
 *
 * With a signer, every entry the proxy writes carries `;sg=<signature>` over the dialog's Call-ID
 * and the entry's parameters (RFC 5626 §5.2: the proxy must be able to tell that a flow token is
 * its own). `looseRoute` then recognises the proxy's entries by that signature, not by their host
 * (the UDP side's entries name a bridge's address, which is no alias of the proxy), and refuses a
 * set whose entries of the proxy were forged or tampered with.
 */
import type { SipRequest } from "../../sip/message.ts";
import { parseNameAddr } from "../../sip/name-addr.ts";
import { formatUri, isSipUri, type Uri } from "../../sip/uri.ts";
import type { Signer } from "../../util/signer.ts";
import { entrySignatureText, looseRoute, type LooseRouteResult } from "./loose-route.ts";

export { looseRoute, type LooseRouteResult, type RouteEntry } from "./loose-route.ts";

export type LegTransport = "ws" | "wss" | "udp" | "tcp" | "tls";

/** One side of the proxy: how a request arrived (inbound) or leaves (outbound). */
export interface Leg {
  transport: LegTransport;
  /** The flow (socket) of this side, written as the flow-token parameter. */
  flow?: string;
  /** The address written for this side, when it is not the transport's listen address (a bridge of several). */
  at?: HostPort;
  /** Parameters of this side's entry only (e.g. the instance behind a flow, the gateway's address). */
  params?: Record<string, string>;
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
  /**
   * Signs the entries this proxy writes and recognises them by it. With a signer, an entry that
   * names the proxy and carries parameters the proxy trusts (flow token, shard, ...) without a
   * valid signature is refused.
   */
  signer?: Signer;
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
  /** Extra URI parameters of both entries (Kamailio `record_route(params)` / `add_rr_param`), e.g. { nat: "yes" }. */
  params?: Record<string, string | null>;
}

export interface Rr {
  recordRoute(request: SipRequest, options?: RecordRouteOptions): void;
  /** Kamailio path `add_path()`: this proxy's entry, facing `leg`, on top of the REGISTER's Path (RFC 3327). */
  addPath(request: SipRequest, leg: Leg): void;
  looseRoute(request: SipRequest, arrivalFlow?: string): LooseRouteResult;
  addRrParam(request: SipRequest, name: string, value?: string): boolean;
  checkRouteParam(result: LooseRouteResult, pattern: RegExp): boolean;
}

/** The parameter that marks a Path entry (RFC 5626 §5.1 `ob`): signed without a Call-ID. */
export const PATH_PARAM = "ob";

/** The signature parameter of the proxy's entries. */
export const SIGNATURE_PARAM = "sg";

/** The rr namespace, with its configuration compiled once. */
export function createRr(options: RrOptions): Rr {
  const flowParam = options.flowParam ?? "flow";
  const doubleRr = options.doubleRr ?? true;
  const defaultLeg: Leg = { transport: options.defaultTransport ?? "ws" };
  const configured = options.listen[defaultLeg.transport];
  // A configuration error, found when the script is built, not on a request.
  if (configured === undefined) throw new Error(`rr: no listen address for the default transport ${defaultLeg.transport}`);
  const fallback: HostPort = configured;
  const trusted = new Set([flowParam, ...TRUSTED_PARAMS]);

  function entry(request: SipRequest, leg: Leg, double: boolean, params: RecordRouteOptions["params"], path = false): string {
    const at = leg.at ?? options.listen[leg.transport] ?? fallback;
    const host = at.host.includes(":") && !at.host.startsWith("[") ? `[${at.host}]` : at.host;
    let uri = "sip:" + host + (at.port === undefined ? "" : ":" + at.port);
    uri += ";transport=" + (leg.transport === "wss" ? "ws" : leg.transport) + ";lr";
    if (double) uri += ";r2=on";
    const signed: [string, string | null][] = [];
    if (leg.flow !== undefined) signed.push([flowParam, leg.flow]);
    if (options.appendFromtag) {
      const tag = request.from().params.get("tag");
      if (tag) signed.push(["ftag", tag]);
    }
    for (const [name, value] of Object.entries(leg.params ?? {})) signed.push([name.toLowerCase(), value]);
    for (const [name, value] of Object.entries(params ?? {})) signed.push([name.toLowerCase(), value]);
    if (path) signed.push([PATH_PARAM, null]);
    for (const [name, value] of signed) uri += ";" + name + (value === null ? "" : "=" + value);
    if (options.signer) uri += ";" + SIGNATURE_PARAM + "=" + options.signer.sign(entrySignatureText(path ? "" : request.callId, signed));
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

    /**
     * RFC 3327 §4.2: a proxy "MAY insert a Path header field value ... in the REGISTER" so that
     * requests to the registered contact come through it; RFC 5626 §5.1: an edge proxy that
     * does outbound puts `ob` in it. The entry outlives the REGISTER's Call-ID (every later call
     * to the contact carries it as a Route), so its signature covers its parameters only; `ob`
     * is among them, so a Record-Route entry cannot pass for one.
     */
    addPath(request, leg) {
      request.headers.prepend("Path", entry(request, leg, false, undefined, true));
    },

    looseRoute(request, arrivalFlow) {
      return looseRoute(request, arrivalFlow, { isMyself: options.isMyself, flowParam, signer: options.signer, trusted });
    },

    /**
     * Kamailio `add_rr_param(";name=value")`: adds a parameter to the Record-Route entries this
     * proxy put on the request (call it after `recordRoute`), signing them again. False when there
     * are none.
     */
    addRrParam(request, name, value) {
      const values = request.headers.getAll("record-route");
      let changed = 0;
      for (let i = 0; i < values.length && i < 2; i++) {
        const parsed = parseNameAddr(values[i] as string);
        if (!parsed.ok || !isSipUri(parsed.value.uri)) break;
        const uri = parsed.value.uri;
        const ours = options.signer ? uri.params.has(SIGNATURE_PARAM) : options.isMyself(uri);
        if (!ours) break;
        uri.params.delete(SIGNATURE_PARAM);
        uri.params.set(name.toLowerCase(), value ?? null);
        if (options.signer) uri.params.set(SIGNATURE_PARAM, options.signer.sign(entrySignatureText(request.callId, uri.params)));
        values[i] = "<" + formatUri(uri) + ">";
        changed++;
        if (!uri.params.has("r2")) break;
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

/** Parameters that route state depends on: without the proxy's signature, an entry carrying one is refused. */
const TRUSTED_PARAMS = ["shard", "inst", "dst", "cs", "cid", "ou"];

/**
 * Kamailio `loose_route` (RFC 3261 §16.4, §16.12): takes this proxy's entries off the top of the
 * Route set and says where the request goes next. With a signer, an entry is this proxy's when
 * its signature is valid for the request's Call-ID; one that names the proxy and carries a trusted
 * parameter without a valid signature stops routing (`refused`).
 */
import type { SipRequest } from "../../sip/message.ts";
import { parseNameAddr } from "../../sip/name-addr.ts";
import { formatUri, isSipUri, type SipUri, type Uri } from "../../sip/uri.ts";
import type { Signer } from "../../util/signer.ts";

/** One of this proxy's entries that `looseRoute` took off. */
export interface RouteEntry {
  /** The flow token written into it (the socket of the side it faces). */
  flow?: string;
  /** Its URI parameters. */
  params: ReadonlyMap<string, string | null>;
  host: string;
  port?: number;
}

/** Where an in-dialog request goes next, after this proxy's Route entries were taken off. */
export type LooseRouteResult =
  /** No Route header: not routed by a route set (Kamailio loose_route returns -1). */
  | { routed: false; refused?: undefined }
  /** An entry of this proxy was forged or altered (bad signature), or unsigned where signing is on. */
  | { routed: false; refused: "bad-signature" | "unsigned" }
  | {
      routed: true;
      refused?: undefined;
      /** How many Route values named this proxy (0 when the top Route is someone else's). */
      popped: number;
      /** The previous hop was a strict router: the Request-URI held our Record-Route (§16.4). */
      strictPreviousHop: boolean;
      /** The next hop: the new top Route, else the Request-URI. */
      next: "route" | "ruri";
      nextHop: string;
      /**
       * The flow to send on: with two entries popped, the one of the entry facing the next hop
       * (the second); with one, its flow unless the request arrived on it.
       */
      flow?: string;
      /** The first entry popped: it faces the side the request came from (the sender's flow). */
      inbound?: RouteEntry;
      /** The last entry popped when two were: it faces the next hop. */
      outbound?: RouteEntry;
      /** The URI parameters of the popped entries, ";name=value..." (for `checkRouteParam`). */
      routeParams: string;
    };

export interface LooseRouteOptions {
  isMyself(target: string | Uri): boolean;
  flowParam: string;
  signer: Signer | undefined;
  /** Parameter names that make an entry trusted routing state. */
  trusted: ReadonlySet<string>;
}

/**
 * Parameters left out of a signature: the signature itself, and those that say nothing the proxy
 * trusts and that some peers rewrite (`lr=on` for `lr`).
 */
const UNSIGNED: ReadonlySet<string> = new Set(["sg", "lr", "r2", "transport"]);

/** What a Record-Route entry's signature covers: the Call-ID and the signed parameters, sorted. */
export function entrySignatureText(callId: string, params: Iterable<readonly [string, string | null]>): string {
  const list: string[] = [];
  for (const [name, value] of params) if (!UNSIGNED.has(name)) list.push(value === null ? name : name + "=" + value);
  list.sort();
  return callId + "\n" + list.join(";");
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

type Ownership = "ours" | "foreign" | "bad-signature" | "unsigned";

/** Whether a Route URI (or the Request-URI) is one of this proxy's entries. */
function ownership(uri: SipUri, callId: string, o: LooseRouteOptions): Ownership {
  const signature = uri.params.get("sg");
  if (o.signer !== undefined && signature !== undefined) {
    // A Path entry (`ob`) serves every call to its contact: signed without a Call-ID (rr addPath).
    const boundTo = uri.params.has("ob") ? "" : callId;
    return signature !== null && o.signer.verify(entrySignatureText(boundTo, uri.params), signature) ? "ours" : "bad-signature";
  }
  if (!o.isMyself(uri)) return "foreign";
  if (o.signer === undefined) return "ours";
  for (const name of uri.params.keys()) if (name === o.flowParam || o.trusted.has(name)) return "unsigned";
  return "ours";
}

function entryOf(uri: SipUri, flowParam: string): RouteEntry {
  const flow = uri.params.get(flowParam);
  const entry: RouteEntry = { params: uri.params, host: uri.host };
  if (flow !== undefined && flow !== null) entry.flow = flow;
  if (uri.port !== undefined) entry.port = uri.port;
  return entry;
}

/**
 * RFC 3261 §16.4 and §16.12.
 * 1. "If the Request-URI of the request contains a value this proxy previously placed into a
 *    Record-Route header field ..., the proxy MUST replace the Request-URI in the request with
 *    the last value from the Route header field, and remove that value from the Route header
 *    field." (The previous hop was a strict router.)
 * 2. "If the first value in the Route header field indicates this proxy, the proxy MUST remove
 *    that value from the request." With double record-routing (`r2`) the second entry goes too.
 */
export function looseRoute(request: SipRequest, arrivalFlow: string | undefined, o: LooseRouteOptions): LooseRouteResult {
  let routes = request.headers.getAll("route");
  if (routes.length === 0) return { routed: false };
  const callId = request.callId;
  const poppedUris: SipUri[] = [];
  let strict = false;
  const ruri = request.ruri();
  if (isSipUri(ruri) && ruri.user === undefined && ruri.params.has("lr")) {
    const owner = ownership(ruri, callId, o);
    if (owner === "bad-signature" || owner === "unsigned") return { routed: false, refused: owner };
    const last = owner === "ours" ? routeUri(routes[routes.length - 1] as string) : undefined;
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
    if (top === undefined) break;
    const owner = ownership(top, callId, o);
    if (owner === "bad-signature" || owner === "unsigned") return { routed: false, refused: owner };
    if (owner === "foreign") break;
    request.headers.removeFirstValue("route");
    routes = routes.slice(1);
    poppedUris.push(top);
    popped++;
    if (!top.params.has("r2")) break;
  }
  const entries = poppedUris.map((uri) => entryOf(uri, o.flowParam));
  const result: LooseRouteResult = {
    routed: true,
    popped: popped + (strict ? 1 : 0),
    strictPreviousHop: strict,
    ...nextHop(request, routes),
    routeParams: poppedUris.map(paramsText).join(""),
  };
  const first = entries[0];
  if (first !== undefined) result.inbound = first;
  if (entries.length === 2) result.outbound = entries[1];
  const flow = destinationFlow(entries, arrivalFlow);
  if (flow !== undefined) result.flow = flow;
  return result;
}

/**
 * The socket a request goes to. With double record-routing the second entry faces the next hop
 * (the first faces the sender), whoever sends: the flow named there, if any, is the one. A
 * single entry names the flow of one side: the other side, unless the request came on it.
 */
function destinationFlow(entries: RouteEntry[], arrivalFlow: string | undefined): string | undefined {
  if (entries.length >= 2) return entries[entries.length - 1]?.flow;
  const flow = entries[0]?.flow;
  return flow !== undefined && flow !== arrivalFlow ? flow : undefined;
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

function setRoutes(request: SipRequest, routes: string[]): void {
  if (routes.length === 0) request.headers.remove("route");
  else request.headers.set("Route", routes.join(", "));
}

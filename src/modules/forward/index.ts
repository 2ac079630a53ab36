/**
 * Stateless forwarding: Kamailio's and OpenSIPS' core `forward()` (RFC 3261 §16.11). A request is
 * sent on at once, with no transaction and no timers; its responses find their way back by the
 * Via alone. The proxy's Via branch carries, signed, the hop the request came from (the client's
 * flow, or the UDP address and bridge of a gateway), so a response goes back exactly there and
 * nowhere a peer's Via could point it (RFC 3261 §18.2.2 would send it to the next Via's
 * `received`/`rport`, which is that same address).
 */
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import { requestUriFor } from "../../sip/uri.ts";
import { fnv1a } from "../../util/hash.ts";
import type { Signer } from "../../util/signer.ts";
import { encodeOwner, isLooped, loopHash, makeBranch, verifiedOwner } from "../tm/branch-id.ts";
import type { SentBy, Target } from "../tm/types.ts";

/** The hop a forwarded request came from, where its responses go back. */
export type ReturnPath = { kind: "flow"; flow: string } | { kind: "udp"; address: string; bridge?: string };

/** Where the request at hand came from: a client's flow, or a UDP peer behind a bridge. */
export interface ForwardSource {
  transport: string;
  ip: string;
  port?: number;
  flow?: string;
  bridge?: string;
}

export type ForwardResult = { ok: true } | { ok: false; error: "loop" | "no-destination" | "send-failed"; status: number; reason: string };

export interface ForwarderOptions {
  /** Names the owning object in the branch, as tm's branches do. */
  ownerId: string;
  signer?: Signer;
  /** The Via sent-by of a branch toward a target that names none (a client's flow: WS or WSS). */
  viaFor(target: Target): SentBy;
  /** Sends a request to a target's flow, or to its `dst` through a bridge; false: no way there. */
  sendRequest(request: SipRequest, target: Target): boolean;
}

/** The `forward` service a host wires in: stateless requests out, stateless replies back. */
export interface Forwarder {
  forward(request: SipRequest, target: Target, from: ForwardSource): ForwardResult;
  /** A response to a request this edge forwarded statelessly: where it goes, with the proxy's Via taken off; else undefined (untouched). */
  replyPath(response: SipResponse): ReturnPath | undefined;
}

/** Marks the transaction part of a stateless-forward branch (tm's own stateless ACK/CANCEL use "s"). */
const MARK = "f";

export function createForwarder(options: ForwarderOptions): Forwarder {
  const owner = encodeOwner(options.ownerId);
  return {
    forward(request, target, from) {
      // §16.3 item 4: a request that carries this proxy's Via with the same loop hash has looped.
      if (isLooped(request, request.uri)) return { ok: false, error: "loop", status: 482, reason: "Loop Detected" };
      const back = returnPathOf(from);
      if (back === undefined || (target.flow === undefined && target.dst === undefined)) {
        return { ok: false, error: "no-destination", status: 404, reason: "No destination" };
      }
      const copy = request.clone();
      copy.uri = requestUriFor(target.uri);
      const path = target.path ?? [];
      for (let i = path.length - 1; i >= 0; i--) copy.headers.prepend("Route", path[i] as string);
      const sentBy = target.via ?? options.viaFor(target);
      const host = sentBy.port === undefined ? sentBy.host : `${sentBy.host}:${sentBy.port}`;
      copy.headers.prepend("Via", `SIP/2.0/${sentBy.transport} ${host};branch=${statelessBranch(owner, request, target, back, options.signer)}`);
      if (!options.sendRequest(copy, target)) return { ok: false, error: "send-failed", status: 503, reason: "Service Unavailable" };
      return { ok: true };
    },

    replyPath(response) {
      if (options.signer === undefined) return undefined;
      const back = returnPathOfBranch(response.topVia().branch, options.signer);
      // A response with nothing below the proxy's Via answers nobody: tm drops it as unmatched.
      if (back === undefined || response.headers.getAll("via").length < 2) return undefined;
      // §16.11 / §16.7 item 3: the proxy takes its own Via off before the response goes on.
      response.headers.removeFirstValue("Via");
      return back;
    },
  };
}

function returnPathOf(from: ForwardSource): ReturnPath | undefined {
  if (from.flow !== undefined) return { kind: "flow", flow: from.flow };
  if (from.transport !== "udp" || from.port === undefined) return undefined;
  const host = from.ip.includes(":") ? `[${from.ip}]` : from.ip;
  const back: ReturnPath = { kind: "udp", address: `${host}:${from.port}` };
  if (from.bridge !== undefined) back.bridge = from.bridge;
  return back;
}

/**
 * `z9hG4bK-se-<owner>.<loop>.f<return path>.<hash>.<signature>`: tm's branch layout (so loop
 * detection and the owner shard read it as they read any branch of this proxy), with the return
 * path percent-encoded into token characters. The hash over the received branch and the target
 * makes the branch the same for a retransmission, its ACK (non-2xx) and its CANCEL, as §16.11
 * requires of a stateless proxy ("the branch parameter MUST be the same for each retransmission").
 */
export function statelessBranch(encodedOwner: string, request: SipRequest, target: Target, back: ReturnPath, signer?: Signer): string {
  const seed = (request.topVia().branch ?? request.headers.get("via") ?? "") + "\n" + target.uri + "\n" + (target.flow ?? target.dst ?? "");
  return makeBranch(encodedOwner, transactionLoopHash(request), MARK + encodeReturn(back), fnv1a(seed).toString(36), signer);
}

/**
 * The loop hash of the INVITE an ACK belongs to: the ACK of a non-2xx carries the response's To
 * tag, the INVITE did not, and both must leave with one branch (the next hop matches the ACK to
 * its INVITE transaction by it, RFC 3261 §17.2.3).
 */
function transactionLoopHash(request: SipRequest): string {
  const to = request.headers.get("To");
  if (request.method !== "ACK" || to === undefined || request.to().params.get("tag") === undefined) return loopHash(request, request.uri);
  const copy = request.clone();
  copy.headers.set("To", to.replace(/;\s*tag\s*=\s*[^;>\s]*/i, ""));
  return loopHash(copy, request.uri);
}

/** The return path of a stateless branch this deployment signed; undefined for any other branch. */
export function returnPathOfBranch(branch: string | undefined, signer: Signer): ReturnPath | undefined {
  if (branch === undefined) return undefined;
  // The layout first (no MAC for the responses tm owns, the common case), then the signature.
  const parts = branch.split(".");
  const part = parts[2];
  if (parts.length !== 5 || part === undefined || !part.startsWith(MARK)) return undefined;
  if (verifiedOwner(branch, signer) === undefined) return undefined;
  return decodeReturn(part.slice(MARK.length));
}

function encodeReturn(back: ReturnPath): string {
  const text = back.kind === "flow" ? `w ${back.flow}` : `u ${back.address} ${back.bridge ?? ""}`;
  return encodeURIComponent(text).replace(/[.!*'()]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

function decodeReturn(encoded: string): ReturnPath | undefined {
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
  const [kind, a, b] = text.split(" ");
  if (kind === "w" && a) return { kind: "flow", flow: a };
  if (kind === "u" && a) return b ? { kind: "udp", address: a, bridge: b } : { kind: "udp", address: a };
  return undefined;
}

/** What `forward()` needs from the host (part of the routing layer's `Services`). */
export interface ForwardServices {
  forwarder?: Forwarder;
}

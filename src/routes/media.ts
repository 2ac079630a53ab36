import type { RequestContext, RtpengineOfCall } from "../routing/context.ts";
import type { TmFailureContext, TmReplyContext } from "../modules/tm/index.ts";
import type { RtpengineScript } from "../modules/rtpengine/script.ts";
import { sdpOf } from "../modules/rtpengine/sdp.ts";

/**
 * The shipped script's media policy (Kamailio's NATMANAGE route for WebRTC): every call that
 * crosses between a WebSocket user and the UDP side is anchored in the rtpengine beside the bridge,
 * in both directions; a call between two WebSocket users is not (the browsers reach each other
 * with ICE). Browsers get ICE + DTLS-SRTP (`UDP/TLS/RTP/SAVPF`), gateways plain `RTP/AVP` with
 * G.711: rtpengine transcodes Opus ↔ PCMU/PCMA when the browser offers no G.711.
 *
 *   offer on the INVITE (and on a re-INVITE / UPDATE), answer on the 18x/2xx with SDP (onreply
 *   route), answer on an ACK/PRACK that carries the answer of a late offer, delete on BYE and
 *   when the INVITE fails (CANCEL, failure, timeout: the failure route), re-offer before a
 *   failover to the next gateway.
 *
 * A failure is never half done: rtpengine unreachable or refusing → 503 "Media Relay
 * Unavailable" (500 "Media Relay Refused") on the request; a 2xx whose answer fails is not
 * forwarded: tm ends the callee's dialog (ACK + BYE) and the branch fails with 500 "Media Relay
 * Unavailable", which the dispatcher's failure route treats like a gateway's 500.
 */

export type Side = "ws" | "udp";

/** SDP that goes to a gateway: plain RTP, G.711 (transcoded when the browser offers none) and RFC 4733 events. */
export const TO_GATEWAY = "ICE=remove DTLS=off RTP/AVP replace-origin replace-session-connection rtcp-mux-demux strip-extmap";
export const OFFER_TO_GATEWAY =
  TO_GATEWAY +
  " codec-mask-all codec-except-PCMU codec-except-PCMA codec-except-telephone-event transcode-PCMU transcode-PCMA" +
  // rtpengine answers the browser "passive" but, when ICE completes before that answer reaches
  // the browser, starts DTLS as the client and media never flows: make its reverse role passive.
  " DTLS-reverse=passive";
/** SDP that goes to a browser: ICE, DTLS-SRTP with rtpengine passive, rtcp-mux, a=mid. */
export const TO_BROWSER = "ICE=force DTLS=passive UDP/TLS/RTP/SAVPF replace-origin replace-session-connection rtcp-mux-offer rtcp-mux-require SDES-off generate-mid";

/** What an anchored call needs in its onreply and failure routes. */
interface Anchor {
  /** The side the INVITE goes to. */
  toward: Side;
  /** The caller's SDP before rtpengine's replaced it (for a failover's new offer); absent for a late offer. */
  original: string | undefined;
  /**
   * rtpengine over another message of this call, through the same bridge. Not the request
   * context's `rtpengineFor`: the onreply route keeps this for the 32 s after the call's 2xx.
   */
  script: RtpengineOfCall;
}

/** Anchored INVITEs by request object (tm keeps that object: the failure route sees it again). */
const anchors = new WeakMap<object, Anchor>();

function sideOf(ctx: RequestContext): Side {
  return ctx.source.transport === "udp" ? "udp" : "ws";
}

function offerFlags(toward: Side): string {
  return toward === "udp" ? OFFER_TO_GATEWAY : TO_BROWSER;
}

function answerFlags(toward: Side): string {
  return toward === "udp" ? TO_GATEWAY : TO_BROWSER;
}

/**
 * rtpengine_offer for an initial INVITE that crosses sides, before it is relayed; arms the
 * onreply route (answer) and MEDIA_FAILURE (delete). A script with its own failure route arms it
 * after this and calls `endMedia` / `reofferMedia` from it. False: the request was answered.
 */
export async function anchorCall(ctx: RequestContext, toward: Side): Promise<boolean> {
  if (ctx.msg.method !== "INVITE" || sideOf(ctx) === toward || !ctx.has("rtpengine") || !ctx.rtpengine.available()) return true;
  const original = sdpOf(ctx.msg);
  const anchor: Anchor = { toward, original, script: ctx.rtpengineOfCall() };
  if (original !== undefined) {
    const offered = await ctx.rtpengine.offer(offerFlags(toward));
    if (!offered.ok) {
      ctx.log.warn("media anchoring failed: call refused", { error: offered.error, detail: offered.detail, status: offered.status });
      ctx.sl.sendReply(offered.status, offered.reason);
      return false;
    }
  }
  anchors.set(ctx.msg, anchor);
  ctx.tm.onReply(mediaReply(anchor));
  ctx.tm.onFailure(MEDIA_FAILURE);
  return true;
}

/**
 * In-dialog requests between the sides: BYE → delete; re-INVITE / UPDATE with SDP → offer (and
 * the answer in the onreply route); ACK / PRACK with SDP → answer. False: the request was
 * answered (or, for an ACK, dropped: its SDP cannot be anchored, so the callee's retransmitted
 * 2xx times out and it ends the dialog).
 */
export async function anchorInDialog(ctx: RequestContext, toward: Side): Promise<boolean> {
  if (sideOf(ctx) === toward || !ctx.has("rtpengine") || !ctx.rtpengine.available()) return true;
  const method = ctx.msg.method;
  if (method === "BYE") {
    // The BYE need not wait for rtpengine: the delete goes out now and its answer is only logged.
    void ctx.rtpengine.delete().then((deleted) => {
      if (!deleted.ok) ctx.log.info("media session delete on BYE failed", { error: deleted.error, detail: deleted.detail });
    });
    return true;
  }
  if (method === "INVITE" || method === "UPDATE") {
    const anchor: Anchor = { toward, original: sdpOf(ctx.msg), script: ctx.rtpengineOfCall() };
    if (anchor.original !== undefined) {
      const offered = await ctx.rtpengine.offer(offerFlags(toward));
      if (!offered.ok) return refuse(ctx, offered);
    }
    ctx.tm.onReply(mediaReply(anchor));
    return true;
  }
  if ((method === "ACK" || method === "PRACK") && sdpOf(ctx.msg) !== undefined) {
    const answered = await ctx.rtpengine.answer(answerFlags(toward));
    if (answered.ok) return true;
    if (method === "PRACK") return refuse(ctx, answered);
    ctx.log.error("media anchoring of the ACK's answer failed: ACK dropped", { error: answered.error, detail: answered.detail });
    ctx.drop();
    return false;
  }
  return true;
}

function refuse(ctx: RequestContext, failed: { error: string; detail: string; status: number; reason: string }): false {
  ctx.log.warn("media anchoring failed: request refused", { error: failed.error, detail: failed.detail, status: failed.status });
  ctx.sl.sendReply(failed.status, failed.reason);
  return false;
}

/**
 * The onreply route of an anchored INVITE / UPDATE: SDP in a 1xx/2xx goes back to the caller's
 * side, as rtpengine's answer (or its offer, when the request had none: a late offer).
 */
function mediaReply(anchor: Anchor) {
  return async function MEDIA_REPLY(ctx: TmReplyContext): Promise<void> {
    const method = ctx.msg.cseq.method;
    if (ctx.msg.status >= 300 || (method !== "INVITE" && method !== "UPDATE") || sdpOf(ctx.msg) === undefined) return;
    const back: Side = anchor.toward === "udp" ? "ws" : "udp";
    const script: RtpengineScript = anchor.script(ctx.msg, ctx.request);
    const lateOffer = sdpOf(ctx.request) === undefined;
    const result = lateOffer ? await script.offer(offerFlags(back)) : await script.answer(answerFlags(back));
    // Answered: no failover will re-offer the caller's SDP, and the route outlives the call by 32 s.
    if (result.ok && ctx.msg.status >= 200) anchor.original = undefined;
    if (result.ok) return;
    ctx.log.warn("media anchoring of a reply failed: reply discarded", { status: ctx.msg.status, error: result.error, detail: result.detail });
    ctx.discard(500, "Media Relay Unavailable");
  };
}

/** failure_route of an anchored call that has no other: the media session goes with the call. */
export async function MEDIA_FAILURE(ctx: TmFailureContext): Promise<void> {
  await endMedia(ctx);
}

/**
 * rtpengine_delete from a failure route, for a call that ends there (cancelled, failed, timed
 * out). The final response does not wait for it: the answer is only logged.
 */
export async function endMedia(ctx: TmFailureContext): Promise<void> {
  const anchor = anchors.get(ctx.request);
  if (anchor === undefined) return;
  anchors.delete(ctx.request);
  void anchor.script(ctx.request, undefined, true).delete().then((deleted) => {
    if (!deleted.ok) ctx.log.info("media session delete failed", { error: deleted.error, detail: deleted.detail });
  });
}

/**
 * A failover's new branch gets a new offer made from the caller's original SDP (rtpengine keeps
 * the call, and the new gateway's answer completes it). False: the offer failed and the
 * transaction was answered with the failure's status.
 */
export async function reofferMedia(ctx: TmFailureContext): Promise<boolean> {
  const anchor = anchors.get(ctx.request);
  if (anchor?.original === undefined) return true;
  const request = ctx.request;
  const rewritten = request.body;
  request.body = anchor.original;
  const offered = await anchor.script(request, undefined, true).offer(offerFlags(anchor.toward));
  if (offered.ok) return true;
  request.body = rewritten;
  ctx.log.warn("media re-offer for the next destination failed", { error: offered.error, detail: offered.detail });
  await endMedia(ctx);
  ctx.tm.reply(offered.status, offered.reason);
  return false;
}

import { describe, expect, it, vi } from "vitest";
import type { TmReplyContext } from "../../../src/modules/tm/index.ts";
import { invite, request } from "../transactions/helpers.ts";
import { base, harness, logLines } from "./harness.ts";

// Kamailio t_on_reply: an onreply route armed per transaction that tm awaits before it acts on a
// branch's response (rtpengine_answer rewrites the SDP there), and what a discarded response does.

const GW = { uri: "sip:+15550100@gw.localhost", dst: "127.0.0.20:5060", via: { transport: "UDP", host: "127.0.0.9", port: 5060 } };
const SDP_GW = "v=0\r\no=gw 1 1 IN IP4 127.0.0.20\r\ns=-\r\nc=IN IP4 127.0.0.20\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
const SDP_ANCHORED = "v=0\r\no=gw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 UDP/TLS/RTP/SAVPF 0\r\n";
const flush = () => new Promise((r) => setTimeout(r, 0));
const RR = "<sip:127.0.0.9:5060;transport=udp;lr;r2=on>";

function withSdp(sdp: string) {
  return { toTag: "gw1", headers: [["Contact", "<sip:127.0.0.20:5060>"], ["Record-Route", "<sip:proxy2.invalid;lr>"], ["Record-Route", RR]] as [string, string][], body: sdp, contentType: "application/sdp" };
}

/** An INVITE relayed to the gateway with `route` as its onreply route; the branch carries our Record-Route. */
function relayed(route: (ctx: TmReplyContext) => void | Promise<void>) {
  const h = harness();
  h.tm.relay(request(invite({ uri: GW.uri })), h.upstream, [GW], {
    base,
    onReply: route,
    onBranch: (req) => req.headers.prepend("Record-Route", RR),
  });
  return { h, branch: h.sent("INVITE")[0]! };
}

describe("tm t_on_reply (onreply route armed per transaction)", () => {
  it("tm waits for the route: the body it writes is what goes upstream", async () => {
    const seen: number[] = [];
    const { h, branch } = relayed(async (ctx) => {
      seen.push(ctx.msg.status);
      await flush();
      if (ctx.msg.body) ctx.msg.body = SDP_ANCHORED;
    });
    h.answer(branch, 200, "OK", withSdp(SDP_GW));
    expect(h.upstream.statuses()).toEqual([100]); // not yet: the route is still running
    await flush();
    await flush();
    expect(h.upstream.statuses()).toEqual([100, 200]);
    expect(h.upstream.responses[1]?.body).toBe(SDP_ANCHORED);
    expect(seen).toEqual([200]);
  });

  it("responses of one transaction pass the route in the order they arrived, however long each takes", async () => {
    const delays: Record<number, number> = { 180: 30, 183: 0, 200: 10 };
    const { h, branch } = relayed((ctx) => new Promise((r) => setTimeout(r, delays[ctx.msg.status] ?? 0)));
    h.answer(branch, 180, "Ringing", { toTag: "gw1" });
    h.answer(branch, 183, "Session Progress", withSdp(SDP_GW));
    h.answer(branch, 200, "OK", withSdp(SDP_GW));
    // Waits until all four went up (a busy machine runs the timers late); a wrong order never heals.
    await vi.waitFor(() => expect(h.upstream.statuses()).toHaveLength(4), { timeout: 5000 });
    expect(h.upstream.statuses()).toEqual([100, 180, 183, 200]);
  });

  it("100 Trying does not pass the route (it only stops retransmissions)", async () => {
    const seen: number[] = [];
    const { h, branch } = relayed((ctx) => {
      seen.push(ctx.msg.status);
    });
    h.answer(branch, 100, "Trying");
    h.answer(branch, 180, "Ringing", { toTag: "gw1" });
    await flush();
    expect(seen).toEqual([180]);
  });

  it("a discarded 1xx is not forwarded, but the branch counts as ringing: the caller's CANCEL reaches it", async () => {
    const { h, branch } = relayed((ctx) => {
      if (ctx.msg.status === 183) ctx.discard(500, "Media Relay Unavailable");
    });
    h.answer(branch, 183, "Session Progress", withSdp(SDP_GW));
    await flush();
    expect(h.upstream.statuses()).toEqual([100]);
    const ctx = [...h.tm.liveContexts()][0]!;
    ctx.cancel();
    expect(h.sent("CANCEL")).toHaveLength(1); // §9.1: sent only after a provisional response
  });

  it("a discarded 2xx is not forwarded: tm ACKs it, sends BYE with a Reason, and the branch fails with the given status", async () => {
    const { h, branch } = relayed((ctx) => {
      if (ctx.msg.status === 200) ctx.discard(500, "Media Relay Unavailable");
    });
    h.answer(branch, 200, "OK", withSdp(SDP_GW));
    await flush();
    const [ack] = h.sent("ACK");
    const [bye] = h.sent("BYE");
    // §13.2.2.4 / §12.2.1.1: to the 2xx's Contact, with the route set the callee built below us.
    expect(ack?.uri).toBe("sip:127.0.0.20:5060");
    expect(ack?.headers.getAll("route")).toEqual(["<sip:proxy2.invalid;lr>"]);
    expect(ack?.cseq).toEqual({ seq: 1, method: "ACK" });
    expect(ack?.to().params.get("tag")).toBe("gw1");
    expect(bye?.cseq).toEqual({ seq: 2, method: "BYE" });
    expect(bye?.headers.get("reason")).toBe('SIP;cause=500;text="Media Relay Unavailable"');
    expect(bye?.topVia()).toMatchObject({ transport: "UDP", host: "127.0.0.9", port: 5060 });
    expect(ack?.topVia().branch).not.toBe(bye?.topVia().branch);
    expect(h.down.filter((d) => d.request.method !== "INVITE").every((d) => d.target.dst === GW.dst)).toBe(true);
    expect(h.upstream.statuses()).toEqual([100, 500]);
    expect(h.upstream.responses[1]?.reason).toBe("Media Relay Unavailable");
  });

  it("a retransmitted 2xx of a discarded branch gets the ACK again, not another BYE or route run", async () => {
    let runs = 0;
    const { h, branch } = relayed((ctx) => {
      runs++;
      ctx.discard(500, "Media Relay Unavailable");
    });
    h.answer(branch, 200, "OK", withSdp(SDP_GW));
    h.answer(branch, 200, "OK", withSdp(SDP_GW)); // arrives while the first is still in the route
    await flush();
    h.answer(branch, 200, "OK", withSdp(SDP_GW));
    await flush();
    expect(runs).toBe(1);
    expect(h.sent("ACK")).toHaveLength(3);
    expect(h.sent("BYE")).toHaveLength(1);
  });

  it("a route that throws fails closed: its 2xx is discarded with 500, never forwarded half-done", async () => {
    const { h, branch } = relayed(() => {
      throw new Error("rtpengine client broke");
    });
    h.answer(branch, 200, "OK", withSdp(SDP_GW));
    await flush();
    expect(h.upstream.statuses()).toEqual([100, 500]);
    expect(h.sent("BYE")).toHaveLength(1);
    expect(logLines.some((l) => l.includes("onreply route failed") && l.includes("rtpengine client broke"))).toBe(true);
  });

  it("the failure route sees a discarded 2xx as the branch's status and may try another target", async () => {
    const h = harness();
    const GW2 = { ...GW, uri: "sip:+15550100@gw2.localhost", dst: "127.0.0.21:5060" };
    h.tm.relay(request(invite({ uri: GW.uri })), h.upstream, [GW], {
      base,
      onReply: (ctx) => {
        if (ctx.target.dst === GW.dst) ctx.discard(500, "Media Relay Unavailable");
      },
      onFailure: (ctx) => {
        expect(ctx.checkStatus("500")).toBe(true);
        ctx.tm.relay([GW2]);
      },
    });
    h.answer(h.sent("INVITE")[0]!, 200, "OK", withSdp(SDP_GW));
    await flush();
    const second = h.sent("INVITE")[1]!;
    expect(h.down.at(-1)?.target.dst).toBe(GW2.dst);
    h.answer(second, 200, "OK", withSdp(SDP_GW));
    await flush();
    expect(h.upstream.statuses()).toEqual([100, 200]);
  });
});

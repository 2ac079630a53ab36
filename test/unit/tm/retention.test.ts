import { describe, expect, it } from "vitest";
import type { ResponseContext } from "../../../src/modules/tm/index.ts";
import { RELIABLE_TIMERS } from "../../../src/sip/timers.ts";
import type { SipRequest } from "../../../src/sip/message.ts";
import { crlf, invite, request } from "../transactions/helpers.ts";
import { base, config, harness } from "./harness.ts";
import { Tm } from "../../../src/modules/tm/index.ts";
import { createLogger } from "../../../src/log.ts";
import type { RequestContext } from "../../../src/routing/context.ts";
import { processMessage } from "../../../src/routing/pipeline.ts";
import { FakeTransport } from "../../helpers/fake-transport.ts";

// A finished call's transactions wait 32 s (RFC 6026 Timers L and M, RFC 3261 Timer H) to absorb
// retransmissions; meanwhile they must not hold what only a running transaction uses (the request
// route's context, the routes' closures, the responses): at hundreds of calls per second those
// 32 s are most of an isolate's heap.

const GW = { uri: "sip:+15550100@gw.localhost", dst: "127.0.0.20:5060" };
const SDP = "v=0\r\no=gw 1 1 IN IP4 127.0.0.20\r\ns=-\r\nc=IN IP4 127.0.0.20\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
const flush = () => new Promise((r) => setTimeout(r, 0));

/** An INVITE relayed to the gateway with every route armed, as the call script arms them. */
function call(withReplyRoute = false) {
  const h = harness();
  const routes: string[] = [];
  const seen: SipRequest[] = [];
  const result = h.tm.relay(request(invite({ uri: GW.uri })), h.upstream, [GW], {
    base,
    onFailure: () => void routes.push("failure"),
    onBranch: () => void routes.push("branch"),
    onAnswered: () => void routes.push("answered"),
    ...(withReplyRoute ? { onReply: (ctx) => void (routes.push(`reply ${ctx.msg.status}`), seen.push(ctx.request)) } : {}),
  });
  if (!result.ok || result.kind !== "stateful") throw new Error("not relayed");
  const ctx = h.tm.context(result.id) as ResponseContext;
  return { h, ctx, routes, seen, branch: h.sent("INVITE")[0]! };
}

describe("tm: what a finished transaction keeps while its timers run", () => {
  it("after a 2xx: no request route context, no routes, no response; Timers L and M still run", () => {
    const { h, ctx, branch } = call();
    h.answer(branch, 200, "OK", { toTag: "gw1", body: SDP, contentType: "application/sdp" });
    expect(h.upstream.statuses()).toEqual([100, 200]);
    expect(h.tm.size).toBe(0); // forgotten by tm: only the transactions' timers hold it now
    expect(ctx.base).toBeUndefined();
    expect(ctx.failureRoute).toBeUndefined();
    expect(ctx.branchRoute).toBeUndefined();
    expect(ctx.answeredRoute).toBeUndefined();
    expect(ctx.pending).toEqual([]);
    expect(ctx.branches.map((b) => b.response)).toEqual([undefined]);
    // The server transaction keeps the 2xx's To tag (RFC 2543 ACK matching), not the 2xx.
    expect(ctx.server.state).toBe("Accepted");
    expect(ctx.server.lastResponse).toBeUndefined();
    expect(ctx.server.acceptedToTag).toBe("gw1");
    expect(ctx.branches[0]?.tx.state).toBe("Accepted");
    // The requests give way to copies with the matching headers and no body.
    const { request: received, server, branches } = ctx;
    expect(server.request).toBe(received);
    expect(received.body).toBe("");
    expect(received.headers.lines().map((l) => l.key)).toEqual(["via", "max-forwards", "to", "from", "call-id", "cseq"]);
    expect(received.uri).toBe(GW.uri);
    expect(branches[0]?.tx.request).toBe(branches[0]?.request);
    expect(branches[0]?.request.body).toBe("");
    expect(branches[0]?.request.vias()).toHaveLength(2);
    expect(h.tm.table.serverCount).toBe(1);
    expect(h.tm.table.clientCount).toBe(1);
    h.timers.advance(RELIABLE_TIMERS.TIMER_L);
    expect(h.tm.table.serverCount).toBe(0);
    expect(h.tm.table.clientCount).toBe(0);
  });

  it("during Timers L and M a retransmitted INVITE is absorbed and a retransmitted 2xx still goes upstream", () => {
    const { h, branch, routes } = call();
    const ok = { toTag: "gw1", body: SDP, contentType: "application/sdp" };
    h.answer(branch, 200, "OK", ok);
    expect(h.tm.checkTrans(request(invite({ uri: GW.uri })), h.upstream)).toEqual({ found: true, action: "retransmission" });
    expect(h.tm.relay(request(invite({ uri: GW.uri })), h.upstream, [GW])).toEqual({ ok: true, kind: "absorbed" });
    h.answer(branch, 200, "OK", ok);
    expect(h.upstream.statuses()).toEqual([100, 200, 200]);
    expect(h.upstream.responses[2]?.body).toBe(SDP);
    expect(h.sent("INVITE")).toHaveLength(1);
    // The dialog began once: a retransmission is no new answer.
    expect(routes.filter((r) => r === "answered")).toHaveLength(1);
  });

  it("with an onreply route armed, a retransmitted 2xx still passes it (it may rewrite the SDP)", async () => {
    const { h, ctx, branch, routes, seen } = call(true);
    const ok = { toTag: "gw1", body: SDP, contentType: "application/sdp" };
    h.answer(branch, 200, "OK", ok);
    await flush();
    expect(ctx.base).toBe(base); // what the onreply route is given
    expect(ctx.failureRoute).toBeUndefined();
    // The branch's request gives way to a copy with what the route reads (its offer, its route
    // set) besides what matching reads; the received INVITE to a matching copy.
    const copy = ctx.branches[0]!.request;
    expect(copy).toBe(ctx.branches[0]?.tx.request);
    expect(copy.body).toBe(branch.body);
    expect(copy.headers.lines().map((l) => l.key)).toEqual(["via", "via", "max-forwards", "to", "from", "call-id", "cseq", "content-type"]);
    expect(ctx.request.body).toBe("");
    h.answer(branch, 200, "OK", ok);
    await flush();
    expect(routes.filter((r) => r.startsWith("reply"))).toEqual(["reply 200", "reply 200"]);
    expect(seen[1]?.body).toBe(branch.body); // the retransmitted 2xx's route saw the offer
    expect(h.upstream.statuses()).toEqual([100, 200, 200]);
    // The caller's ACK for the 2xx is a transaction of its own (§13.2.2.4): tm leaves it to the script.
    expect(h.tm.checkTrans(request(crlf(`ACK ${GW.uri} SIP/2.0`, "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKack1", "Max-Forwards: 70", "To: <sip:bob@localhost>;tag=gw1", "From: Alice <sip:alice@localhost>;tag=asdyka899", "Call-ID: asidkj3ss", "CSeq: 1 ACK", "Content-Length: 0", "", "")), h.upstream)).toEqual({ found: false });
  });

  it("after a failure: the final response stays for Timer H (a retransmitted INVITE gets it again)", () => {
    const { h, ctx, branch, routes } = call();
    h.answer(branch, 486, "Busy Here", { toTag: "gw1" });
    expect(routes).toContain("failure"); // the failure route ran, then the best response went up
    expect(h.upstream.statuses()).toEqual([100, 486]);
    expect(ctx.base).toBeUndefined();
    expect(ctx.server.state).toBe("Completed");
    h.tm.checkTrans(request(invite({ uri: GW.uri })), h.upstream);
    expect(h.upstream.statuses()).toEqual([100, 486, 486]);
    h.timers.advance(RELIABLE_TIMERS.TIMER_H);
    expect(h.tm.table.serverCount).toBe(0);
  });

  it("a branch that timed out may still be answered late: the answered route stays for it", () => {
    const { h, ctx, branch, routes } = call();
    h.timers.advance(30_000); // fr_timer: no reply at all
    expect(h.upstream.statuses()).toEqual([100, 408]);
    expect(ctx.answeredRoute).toBeDefined();
    h.answer(branch, 200, "OK", { toTag: "gw1", body: SDP, contentType: "application/sdp" });
    expect(h.upstream.statuses()).toEqual([100, 408, 200]);
    expect(routes).toContain("answered");
  });
});

describe("tm: the request route's view a transaction keeps is not the request context", () => {
  it("the failure and onreply routes get config, log, source and isMyself, made apart from the request context", async () => {
    const tm = new Tm({ ownerId: "0", sentBy: { transport: "WS", host: "localhost" }, sendRequest: () => true, timers: { set: () => 0, clear: () => undefined } });
    let seen: RequestContext | undefined;
    const script = {
      request: async (ctx: RequestContext) => {
        seen = ctx;
        ctx.tm.onReply(() => {});
        ctx.tm.relay([GW]);
      },
    };
    const source = { transport: "ws" as const, ip: "127.0.0.5", flow: "0.f1" };
    await processMessage(script, { data: invite({ uri: GW.uri }), source, transport: new FakeTransport(), config, log: createLogger("error", () => {}), services: { tm } });
    const [ctx] = [...tm.liveContexts()];
    expect(seen).toBeDefined();
    expect(ctx?.base).toBeDefined();
    expect(ctx?.base).not.toBe(seen);
    expect(ctx?.base?.config).toBe(seen?.config);
    expect(ctx?.base?.log).toBe(seen?.log);
    expect(ctx?.base?.source).toBe(seen?.source);
    expect(ctx?.base?.isMyself("localhost")).toBe(true); // the host, as the request context answers it
    expect(ctx?.base?.isMyself("gw.example.net")).toBe(false);
  });
});

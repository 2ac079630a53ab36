import { describe, expect, it } from "vitest";
import { createCancel } from "../../../src/sip/transactions/requests.ts";
import { TIMER_C } from "../../../src/sip/timers.ts";
import { crlf, invite, nonInvite, request, response } from "../transactions/helpers.ts";
import { harness } from "./harness.ts";

const BOB1 = { uri: "sip:bob@b1.invalid;transport=ws" };
const BOB2 = { uri: "sip:bob@b2.invalid;transport=ws" };

describe("tm: CANCEL (RFC 3261 §16.10)", () => {
  it("a matching CANCEL gets 200 at once, every ringing branch is CANCELled, and the INVITE ends with 487", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1, BOB2]);
    const [b1, b2] = h.sent("INVITE");
    h.answer(b1!, 180, "Ringing", { toTag: "b1" });
    h.answer(b2!, 180, "Ringing", { toTag: "b2" });
    const cancel = createCancel(request(invite()));
    expect(h.tm.checkTrans(cancel, h.upstream)).toEqual({ found: true, action: "canceled" });
    expect(h.upstream.responses.at(-1)).toMatchObject({ status: 200, cseq: { seq: 1, method: "CANCEL" } });
    const cancels = h.sent("CANCEL");
    expect(cancels.map((c) => c.topVia().branch)).toEqual([b1!.topVia().branch, b2!.topVia().branch]);
    // each CANCEL is answered by the UAS, then the INVITE gets its 487
    for (const c of cancels) h.answer(c, 200, "OK");
    h.answer(b1!, 487, "Request Terminated", { toTag: "b1" });
    expect(h.upstream.statuses().at(-1)).toBe(200);
    h.answer(b2!, 487, "Request Terminated", { toTag: "b2" });
    expect(h.upstream.statuses()).toEqual([100, 180, 180, 200, 487]);
    expect(h.sent("ACK")).toHaveLength(2);
    expect(h.upstream.responses.at(-1)?.cseq.method).toBe("INVITE");
  });

  it("tm.relay of a CANCEL does the same (t_relay of a CANCEL with a transaction)", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    h.answer(h.sent("INVITE")[0]!, 180, "Ringing", { toTag: "b1" });
    expect(h.tm.relay(createCancel(request(invite())), h.upstream)).toEqual({ ok: true, kind: "canceled" });
    expect(h.sent("CANCEL")).toHaveLength(1);
  });

  it("the 200 to the CANCEL and the 487 carry the same To tag when the 487 is the proxy's own", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    h.tm.checkTrans(createCancel(request(invite())), h.upstream);
    // The branch never sent a provisional: no CANCEL may go out (§9.1); fr_timer ends it.
    expect(h.sent("CANCEL")).toHaveLength(0);
    h.timers.advance(30_000);
    const [ok, terminated] = h.upstream.responses.slice(-2);
    expect(terminated).toMatchObject({ status: 487 });
    expect(terminated?.to().params.get("tag")).toBe(ok?.to().params.get("tag"));
  });

  it("a CANCEL that matches nothing is not found by checkTrans and is relayed statelessly by relay", () => {
    const h = harness();
    const cancel = createCancel(request(invite({ branch: "z9hG4bKunknown" })));
    expect(h.tm.checkTrans(cancel, h.upstream)).toEqual({ found: false });
    expect(h.tm.relay(cancel, h.upstream, [BOB1])).toEqual({ ok: true, kind: "stateless" });
    expect(h.sent("CANCEL")).toHaveLength(1);
    expect(h.upstream.responses).toHaveLength(0);
  });

  it("a retransmitted CANCEL gets the same 200 again from its own transaction", () => {
    const h = harness({ reliable: false });
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    h.tm.checkTrans(createCancel(request(invite())), h.upstream);
    expect(h.tm.checkTrans(createCancel(request(invite())), h.upstream)).toEqual({ found: true, action: "retransmission" });
    expect(h.upstream.statuses()).toEqual([100, 200, 200]);
  });
});

describe("tm: fr_timer and Timer C (§16.8)", () => {
  it("fr_timer: an INVITE branch with no reply at all gets 408 after 30 s, without a CANCEL", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    h.timers.advance(29_999);
    expect(h.upstream.statuses()).toEqual([100]);
    h.timers.advance(1);
    expect(h.upstream.statuses()).toEqual([100, 408]);
    expect(h.sent("CANCEL")).toHaveLength(0);
  });

  it("Timer C: a ringing branch is CANCELled and answered 408 when fr_inv_timer runs out", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    h.answer(h.sent("INVITE")[0]!, 180, "Ringing", { toTag: "b1" });
    h.timers.advance(TIMER_C - 1);
    expect(h.sent("CANCEL")).toHaveLength(0);
    h.timers.advance(1);
    expect(h.sent("CANCEL")).toHaveLength(1);
    expect(h.upstream.statuses()).toEqual([100, 180, 408]);
  });

  it("a 18x restarts Timer C; a 100 switches from fr_timer to fr_inv_timer but does not restart it", () => {
    const h = harness({ frInvTimer: 60_000 });
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    const branch = h.sent("INVITE")[0]!;
    h.timers.advance(20_000);
    h.answer(branch, 100, "Trying");
    h.timers.advance(40_000); // t = 60 s: fr_timer (30 s) was replaced by fr_inv_timer at the 100
    h.answer(branch, 180, "Ringing", { toTag: "b1" }); // restarts Timer C: due at t = 120 s, not 80 s
    h.timers.advance(59_999);
    expect(h.upstream.statuses()).toEqual([100, 180]);
    h.answer(branch, 100, "Trying");
    h.timers.advance(1);
    expect(h.upstream.statuses()).toEqual([100, 180, 408]);
  });

  it("a 2xx that arrives after the branch timed out is still forwarded upstream", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    const branch = h.sent("INVITE")[0]!;
    h.answer(branch, 180, "Ringing", { toTag: "b1" });
    h.timers.advance(TIMER_C);
    h.answer(branch, 200, "OK", { toTag: "b1" });
    expect(h.upstream.statuses()).toEqual([100, 180, 408, 200]);
  });

  it("fr_timer applies to non-INVITE branches: 408 after 30 s", () => {
    const h = harness();
    h.tm.relay(request(nonInvite("MESSAGE")), h.upstream, [BOB1]);
    h.timers.advance(30_000);
    expect(h.upstream.statuses()).toEqual([408]);
  });

  it("setting fr timers per transaction (t_set_fr) overrides the defaults", () => {
    const h = harness();
    h.tm.relay(request(nonInvite("MESSAGE")), h.upstream, [BOB1], { frTimer: 5000 });
    h.timers.advance(5000);
    expect(h.upstream.statuses()).toEqual([408]);
  });

  it("a socket that is gone fails the branch with 503, and upstream sees 500", () => {
    const h = harness();
    h.failDownstream(true);
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    expect(h.upstream.statuses()).toEqual([100, 500]);
  });
});

describe("tm: loop detection (§16.3 item 4)", () => {
  it("a request that comes back with the proxy's Via and unchanged fields is answered 482", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [{ uri: "sip:bob@localhost" }]);
    const looped = h.sent("INVITE")[0]!;
    // It comes back to the proxy through another hop, which adds its own Via on top.
    looped.headers.prepend("Via", "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKother");
    expect(h.tm.relay(looped, h.upstream, [{ uri: "sip:bob@localhost" }])).toEqual({
      ok: false, error: "loop", status: 482, reason: "Loop Detected",
    });
  });

  it("a spiral (the Request-URI changed on the way) is relayed", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [{ uri: "sip:bob@localhost" }]);
    const spiral = h.sent("INVITE")[0]!;
    spiral.uri = "sip:+15550100@localhost";
    expect(h.tm.relay(spiral, h.upstream, [{ uri: "sip:+15550100@gw.invalid" }])).toMatchObject({ ok: true });
  });
});

describe("tm: t_reply", () => {
  it("a stateful reply is repeated for a retransmission over UDP; over WS the transaction ends with it (Timer J = 0)", () => {
    const udp = harness({ reliable: false });
    expect(udp.tm.reply(request(nonInvite("OPTIONS")), udp.upstream, 404, "Not Found")).toBe(true);
    expect(udp.tm.checkTrans(request(nonInvite("OPTIONS")), udp.upstream)).toEqual({ found: true, action: "retransmission" });
    expect(udp.upstream.statuses()).toEqual([404, 404]);
    const ws = harness();
    ws.tm.reply(request(nonInvite("OPTIONS")), ws.upstream, 404, "Not Found");
    expect(ws.tm.checkTrans(request(nonInvite("OPTIONS")), ws.upstream)).toEqual({ found: false });
  });

  it("a 100 by t_reply then t_relay use one server transaction", () => {
    const h = harness();
    const req = request(invite());
    h.tm.reply(req, h.upstream, 100, "Trying");
    expect(h.tm.relay(req, h.upstream, [BOB1])).toMatchObject({ ok: true, kind: "stateful" });
    expect(h.upstream.statuses()).toEqual([100]);
  });

  it("refusals come back as values before anything is created", () => {
    const h = harness({ maxBranches: 1 });
    expect(h.tm.relay(request(invite()), h.upstream, [])).toMatchObject({ ok: false, error: "no-targets", status: 500 });
    expect(h.tm.relay(request(invite()), h.upstream, [BOB1, BOB2])).toMatchObject({ ok: false, error: "too-many-branches" });
    expect(h.upstream.messages).toHaveLength(0);
    expect(h.tm.table.serverCount).toBe(0);
  });
});

describe("tm: stray responses", () => {
  it("a response that matches no client transaction is reported, not forwarded", () => {
    const h = harness();
    const stray = response(
      crlf("SIP/2.0 200 OK", "Via: SIP/2.0/WSS x.invalid;branch=z9hG4bKnone", "To: <sip:a@b>;tag=1", "From: <sip:c@d>;tag=2", "Call-ID: z", "CSeq: 1 INVITE", "Content-Length: 0", "", ""),
    );
    expect(h.tm.receiveResponse(stray)).toBe("no-transaction");
    expect(h.upstream.messages).toHaveLength(0);
  });
});

import { describe, expect, it } from "vitest";
import type { ResponseContext } from "../../../src/modules/tm/index.ts";
import type { SipRequest, SipResponse } from "../../../src/sip/message.ts";
import { serialize } from "../../../src/sip/serializer.ts";
import { RELIABLE_TIMERS } from "../../../src/sip/timers.ts";
import { ack, crlf, invite, nonInvite, request } from "../transactions/helpers.ts";
import { base, harness } from "./harness.ts";

// What a transaction that ended without a 2xx keeps while it waits for the caller's ACK (RFC 3261
// Timer H: 32 s on every transport when the ACK never comes): the final response it sends again to
// a retransmitted INVITE, in strings of its own, and matching copies of the requests, not the
// received INVITE (a failed call's context, or a request the script answered with t_reply alone).

const GW = { uri: "sip:+15550100@gw.localhost", dst: "127.0.0.20:5060" };
const GW2 = { uri: "sip:+15550100@gw2.localhost", dst: "127.0.0.21:5060" };
const MATCHING = ["via", "max-forwards", "to", "from", "call-id", "cseq"];

/** The caller's ACK for a non-2xx final response (§17.1.1.3: the INVITE's Via, the response's To). */
function ackFor(final: SipResponse, opts: { uri?: string } = {}): SipRequest {
  return request(ack({ uri: opts.uri ?? GW.uri, to: final.headers.get("to") ?? "" }));
}

function cancelOf(opts: { uri?: string } = {}): SipRequest {
  return request(
    crlf(
      `CANCEL ${opts.uri ?? GW.uri} SIP/2.0`,
      "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks",
      "Max-Forwards: 70",
      "To: <sip:bob@localhost>",
      "From: Alice <sip:alice@localhost>;tag=asdyka899",
      "Call-ID: asidkj3ss",
      "CSeq: 1 CANCEL",
      "Content-Length: 0",
      "",
      "",
    ),
  );
}

function relayed(h: ReturnType<typeof harness>, options: Parameters<ReturnType<typeof harness>["tm"]["relay"]>[3] = {}) {
  const result = h.tm.relay(request(invite({ uri: GW.uri })), h.upstream, [GW], { base, ...options });
  if (!result.ok || result.kind !== "stateful") throw new Error("not relayed");
  return h.tm.context(result.id) as ResponseContext;
}

describe("tm: what a call that failed keeps until the ACK (Timer H)", () => {
  it("after a gateway's 486: a byte-identical copy of the 486, matching copies of the requests, no routes", () => {
    const h = harness();
    const ctx = relayed(h, { onFailure: () => {}, onAnswered: () => {} });
    const received = h.answer(h.sent("INVITE")[0]!, 486, "Busy Here", { toTag: "gw1" });
    expect(h.upstream.statuses()).toEqual([100, 486]);
    const sent = h.upstream.responses[1]!;
    expect(ctx.server.state).toBe("Completed");
    // Not the gateway's message (its values are views of the datagram), but the same bytes.
    expect(ctx.server.lastResponse).not.toBe(received);
    expect(serialize(ctx.server.lastResponse!)).toBe(serialize(sent));
    expect(ctx.base).toBeUndefined();
    expect(ctx.failureRoute).toBeUndefined();
    expect(ctx.answeredRoute).toBeUndefined();
    expect(ctx.branches.map((b) => b.response)).toEqual([undefined]);
    expect(ctx.server.request).toBe(ctx.request);
    expect(ctx.request.body).toBe("");
    expect(ctx.request.headers.lines().map((l) => l.key)).toEqual(MATCHING);
    expect(ctx.branches[0]?.tx.request).toBe(ctx.branches[0]?.request);
    expect(ctx.branches[0]?.request.body).toBe("");
    // The gateway's 486 was acknowledged by the branch (§17.1.1.3) before anything was dropped.
    expect(h.sent("ACK")).toHaveLength(1);
  });

  it("a retransmitted INVITE gets the same 486 again, a CANCEL is answered 200, the ACK ends the transaction", () => {
    const h = harness();
    const ctx = relayed(h, { onFailure: () => {} });
    h.answer(h.sent("INVITE")[0]!, 486, "Busy Here", { toTag: "gw1" });
    const first = h.upstream.responses[1]!;
    expect(h.tm.checkTrans(request(invite({ uri: GW.uri })), h.upstream)).toEqual({ found: true, action: "retransmission" });
    expect(h.upstream.statuses()).toEqual([100, 486, 486]);
    expect(serialize(h.upstream.responses[2]!)).toBe(serialize(first));
    // §9.2: a CANCEL after the final response still matches and is answered; nothing is sent on.
    expect(h.tm.relay(cancelOf(), h.upstream)).toEqual({ ok: true, kind: "canceled" });
    expect(h.upstream.statuses()).toEqual([100, 486, 486, 200]);
    expect(h.sent("CANCEL")).toHaveLength(0);
    // The script's own request, relayed or answered again (an async route still running), changes nothing.
    expect(h.tm.reply(ctx.server.request, h.upstream, 500, "Server Internal Error")).toBe(false);
    expect(h.tm.checkTrans(ackFor(first), h.upstream)).toEqual({ found: true, action: "ack-absorbed" });
    expect(h.tm.table.serverCount).toBe(0); // Timer I is 0 on a reliable transport
  });

  it("without an ACK the transaction ends at Timer H", () => {
    const h = harness();
    relayed(h);
    h.answer(h.sent("INVITE")[0]!, 503, "Service Unavailable", { toTag: "gw1" });
    expect(h.tm.table.serverCount).toBe(1);
    h.timers.advance(RELIABLE_TIMERS.TIMER_H - 1);
    expect(h.tm.table.serverCount).toBe(1);
    h.timers.advance(1);
    expect(h.tm.table.serverCount).toBe(0);
  });

  it("a local 408 (fr_timer, no reply at all) is kept in strings of its own, and the request copies too once the branch ended", () => {
    const h = harness();
    const ctx = relayed(h);
    h.tm.branchFailed(/branch=([^;\s]+)/.exec(h.sent("INVITE")[0]!.headers.get("via")!)![1]!, "INVITE", "timeout");
    expect(h.upstream.statuses()).toEqual([100, 408]);
    expect(serialize(ctx.server.lastResponse!)).toBe(serialize(h.upstream.responses[1]!));
    // The branch's client transaction ended (the bridge reported the timeout): no late 2xx can come.
    expect(ctx.branches[0]?.tx.state).toBe("Terminated");
    expect(ctx.answeredRoute).toBeUndefined();
    expect(ctx.request.headers.lines().map((l) => l.key)).toEqual(MATCHING);
  });

  it("a failover past a gateway the bridge could not reach keeps no more than a call that went straight through", () => {
    const h = harness();
    const routes: string[] = [];
    const ctx = relayed(h, {
      onFailure: (f) => {
        routes.push(`failure ${f.status}`);
        f.tm.relay([GW2]);
      },
      onAnswered: () => void routes.push("answered"),
    });
    const first = h.sent("INVITE")[0]!;
    h.tm.branchFailed(/branch=([^;\s]+)/.exec(first.headers.get("via")!)![1]!, "INVITE", "transport");
    const second = h.sent("INVITE")[1]!;
    h.answer(second, 200, "OK", { toTag: "gw2" });
    expect(routes).toEqual(["failure 503", "answered"]);
    expect(h.upstream.statuses()).toEqual([100, 200]);
    expect(ctx.branches.map((b) => b.local)).toEqual([true, false]);
    expect(ctx.answeredRoute).toBeUndefined();
    expect(ctx.base).toBeUndefined();
    expect(ctx.request.body).toBe("");
    expect(ctx.branches.map((b) => b.request.body)).toEqual(["", ""]);
    // The 2xx retransmitted by the second gateway still goes upstream; the caller's ACK passes.
    h.answer(second, 200, "OK", { toTag: "gw2" });
    expect(h.upstream.statuses()).toEqual([100, 200, 200]);
  });
});

describe("tm: what a request answered by t_reply alone keeps", () => {
  it("an INVITE answered 404 keeps a matching copy and its own copy of the 404 until the ACK", () => {
    const h = harness();
    const received = request(invite({ uri: GW.uri }));
    expect(h.tm.reply(received, h.upstream, 404, "Not Found")).toBe(true);
    const server = h.tm.table.matchServer(request(invite({ uri: GW.uri })))!;
    expect(server.state).toBe("Completed");
    expect(server.request).not.toBe(received);
    expect(server.request.body).toBe("");
    expect(server.request.headers.lines().map((l) => l.key)).toEqual(MATCHING);
    const sent = h.upstream.responses[0]!;
    expect(serialize(server.lastResponse!)).toBe(serialize(sent));
    // A retransmission gets the same 404; a CANCEL is answered; the ACK ends the transaction.
    expect(h.tm.checkTrans(request(invite({ uri: GW.uri })), h.upstream)).toEqual({ found: true, action: "retransmission" });
    expect(serialize(h.upstream.responses[1]!)).toBe(serialize(sent));
    expect(h.tm.checkTrans(cancelOf(), h.upstream)).toEqual({ found: true, action: "canceled" });
    expect(h.upstream.statuses()).toEqual([404, 404, 200]);
    expect(h.tm.checkTrans(ackFor(sent), h.upstream)).toEqual({ found: true, action: "ack-absorbed" });
    expect(h.tm.table.serverCount).toBe(0);
  });

  it("the same request answered twice is refused the second time, as before the copy", () => {
    const h = harness();
    const received = request(invite({ uri: GW.uri }));
    expect(h.tm.reply(received, h.upstream, 403, "Forbidden")).toBe(true);
    expect(h.tm.reply(received, h.upstream, 500, "Server Internal Error")).toBe(false);
    expect(h.upstream.statuses()).toEqual([403]);
  });

  it("a request relayed after the script answered it is absorbed, never sent on (the transaction is answered)", () => {
    const h = harness();
    const received = request(invite({ uri: GW.uri }));
    h.tm.reply(received, h.upstream, 404, "Not Found");
    expect(h.tm.relay(received, h.upstream, [GW])).toEqual({ ok: true, kind: "absorbed" });
    expect(h.sent("INVITE")).toHaveLength(0);
    expect(h.tm.size).toBe(0);
  });

  it("a non-INVITE answered over a reliable transport ends at once (Timer J is 0): nothing is kept", () => {
    const h = harness();
    expect(h.tm.reply(request(nonInvite("MESSAGE")), h.upstream, 404, "Not Found")).toBe(true);
    expect(h.upstream.statuses()).toEqual([404]);
    expect(h.tm.table.serverCount).toBe(0);
  });

  it("a provisional t_reply keeps the received request: the transaction is still running", () => {
    const h = harness();
    const received = request(invite({ uri: GW.uri }));
    h.tm.reply(received, h.upstream, 180, "Ringing");
    expect(h.tm.table.matchServer(received)?.request).toBe(received);
  });
});

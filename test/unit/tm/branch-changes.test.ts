import { describe, expect, it } from "vitest";
import { bindRequest, type TmFailureContext } from "../../../src/modules/tm/index.ts";
import { crlf, invite, request } from "../transactions/helpers.ts";
import { base, harness } from "./harness.ts";

const GW = { uri: "sip:+15550100@127.0.0.20:5060", dst: "127.0.0.20:5060" };
const CALLER_ID = '<sip:+4930123456@localhost>;tag=asdyka899';

describe("tm: a branch that differs from the received request (uac_auth, caller ID)", () => {
  it("the failure route resends the winning branch with credentials and CSeq + 1; the 200 goes upstream with the caller's CSeq", () => {
    const h = harness();
    const seen: TmFailureContext[] = [];
    const tm = bindRequest(h.tm, request(invite({ uri: "sip:+15550100@localhost", cseq: 7 })), h.upstream, base);
    tm.onFailure(function UAC_AUTH(ctx) {
      seen.push(ctx);
      const sent = ctx.branch;
      if (sent === undefined || !ctx.checkStatus("401|407")) return;
      ctx.tm.relay([{ ...sent.target, cseq: sent.request.cseq.seq + 1, headers: [["Proxy-Authorization", 'Digest username="trunk"']] }]);
    });
    tm.relay([GW]);
    const first = h.sent("INVITE")[0]!;
    expect(first.cseq.seq).toBe(7);
    h.answer(first, 407, "Proxy Authentication Required", { toTag: "gw", headers: [["Proxy-Authenticate", 'Digest realm="carrier", nonce="n1"']] });
    expect(seen[0]?.branch?.target).toEqual(GW);
    expect(seen[0]?.branch?.request.cseq.seq).toBe(7);
    const retry = h.sent("INVITE")[1]!;
    expect(retry.cseq).toEqual({ seq: 8, method: "INVITE" });
    expect(retry.headers.get("proxy-authorization")).toBe('Digest username="trunk"');
    expect(retry.callId).toBe(first.callId);
    expect(retry.topVia().branch).not.toBe(first.topVia().branch);
    h.answer(retry, 180, "Ringing", { toTag: "gw2" });
    h.answer(retry, 200, "OK", { toTag: "gw2" });
    expect(h.upstream.statuses()).toEqual([100, 180, 200]);
    expect(h.upstream.responses.map((r) => r.cseq)).toEqual([7, 7, 7].map((seq) => ({ seq, method: "INVITE" })));
  });

  it("the caller never sees the challenge: a 486 to the authenticated retry goes upstream with the caller's CSeq", () => {
    const h = harness();
    h.tm.relay(request(invite({ cseq: 3 })), h.upstream, [GW], {
      base,
      onFailure: (ctx) => {
        if (ctx.checkStatus("407") && ctx.branch) ctx.tm.relay([{ ...ctx.branch.target, cseq: 4 }]);
      },
    });
    h.answer(h.sent("INVITE")[0]!, 407, "Proxy Authentication Required", { toTag: "gw" });
    h.answer(h.sent("INVITE")[1]!, 486, "Busy Here", { toTag: "gw" });
    expect(h.upstream.statuses()).toEqual([100, 486]);
    expect(h.upstream.responses[1]?.cseq.seq).toBe(3);
  });

  it("branch edits change every branch (From, identities) while local replies and responses keep the caller's From", () => {
    const h = harness();
    const received = request(invite({ extra: ["P-Preferred-Identity: <sip:+4999@localhost>"] }));
    const tm = bindRequest(h.tm, received, h.upstream, base);
    tm.edit({ set: [["From", CALLER_ID]] });
    tm.edit({ set: [["P-Asserted-Identity", "<sip:+4930123456@localhost>"]], remove: ["P-Preferred-Identity"] });
    tm.relay([GW]);
    const sent = h.sent("INVITE")[0]!;
    expect(sent.headers.get("from")).toBe(CALLER_ID);
    expect(sent.headers.get("p-asserted-identity")).toBe("<sip:+4930123456@localhost>");
    expect(sent.headers.has("p-preferred-identity")).toBe(false);
    expect(received.headers.get("from")).toBe("Alice <sip:alice@localhost>;tag=asdyka899");
    h.answer(sent, 183, "Session Progress", { toTag: "gw" });
    h.answer(sent, 200, "OK", { toTag: "gw" });
    expect(h.upstream.responses.map((r) => r.headers.get("from"))).toEqual(Array(3).fill("Alice <sip:alice@localhost>;tag=asdyka899"));
  });

  it("a stateless ACK and a PRACK carry the target's CSeq (RAck raised alike)", () => {
    const h = harness();
    const ack = request(crlf(
      "ACK sip:gw@127.0.0.20:5060 SIP/2.0", "Via: SIP/2.0/WSS a.invalid;branch=z9hG4bKack1", "Max-Forwards: 70",
      "From: <sip:alice@localhost>;tag=a", "To: <sip:+1555@localhost>;tag=gw", "Call-ID: c1", "CSeq: 1 ACK", "Content-Length: 0", "", "",
    ));
    expect(h.tm.relay(ack, h.upstream, [{ ...GW, cseq: 2 }])).toMatchObject({ ok: true, kind: "stateless" });
    expect(h.sent("ACK")[0]?.cseq).toEqual({ seq: 2, method: "ACK" });
    const prack = request(crlf(
      "PRACK sip:gw@127.0.0.20:5060 SIP/2.0", "Via: SIP/2.0/WSS a.invalid;branch=z9hG4bKpr1", "Max-Forwards: 70",
      "From: <sip:alice@localhost>;tag=a", "To: <sip:+1555@localhost>;tag=gw", "Call-ID: c1", "CSeq: 2 PRACK", "RAck: 1 1 INVITE", "Content-Length: 0", "", "",
    ));
    h.tm.relay(prack, h.upstream, [{ ...GW, cseq: 3 }]);
    const sent = h.sent("PRACK")[0]!;
    expect(sent.cseq.seq).toBe(3);
    expect(sent.headers.get("rack")).toBe("1 2 INVITE");
    h.answer(sent, 200, "OK");
    expect(h.upstream.responses[0]?.cseq).toEqual({ seq: 2, method: "PRACK" });
  });
});

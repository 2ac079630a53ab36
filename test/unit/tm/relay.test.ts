import { describe, expect, it } from "vitest";
import { ownerOfBranch, pickBest } from "../../../src/modules/tm/index.ts";
import { serialize } from "../../../src/sip/serializer.ts";
import { invite, nonInvite, request } from "../transactions/helpers.ts";
import { harness } from "./harness.ts";

const BOB1 = { uri: "sip:bob@b1.invalid;transport=ws", flow: "flow-b1" };
const BOB2 = { uri: "sip:bob@b2.invalid;transport=ws", flow: "flow-b2" };

describe("tm.relay: branches (RFC 3261 §16.6)", () => {
  it("answers 100 Trying, sends a copy per target with the new Request-URI and the proxy's Via on top", () => {
    const h = harness();
    const req = request(invite());
    const result = h.tm.relay(req, h.upstream, [BOB1]);
    expect(result).toMatchObject({ ok: true, kind: "stateful" });
    expect(h.upstream.statuses()).toEqual([100]);
    const [branch] = h.sent("INVITE");
    expect(branch?.uri).toBe(BOB1.uri);
    expect(h.down[0]?.target).toEqual(BOB1);
    const vias = branch?.vias() ?? [];
    expect(vias).toHaveLength(2);
    expect(vias[0]).toMatchObject({ transport: "WSS", host: "edge.localhost" });
    expect(vias[1]?.branch).toBe("z9hG4bK56sdasks");
    expect(branch?.body).toBe(req.body);
    // Max-Forwards is maxfwd.process's job, done once before relay: tm does not decrement again.
    expect(branch?.maxForwards).toBe(69);
    // The original request is untouched (each branch is a copy).
    expect(serialize(req)).toBe(invite());
  });

  it("names the owning object in the branch, so a response can be routed back by its top Via alone", () => {
    const h = harness({ ownerId: "conn:shard 7.a" });
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    const branch = h.sent("INVITE")[0]?.topVia().branch;
    expect(branch).toMatch(/^z9hG4bK[-.!%*_+`'~a-zA-Z0-9]+$/);
    expect(ownerOfBranch(branch)).toBe("conn:shard 7.a");
    expect(ownerOfBranch("z9hG4bK56sdasks")).toBeUndefined();
  });

  it("turns Path values of a binding into Route headers (RFC 3327)", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [{ ...BOB1, path: ["<sip:p1.localhost;lr>", "<sip:p2.localhost;lr>"] }]);
    expect(h.sent("INVITE")[0]?.headers.getAll("route")).toEqual(["<sip:p1.localhost;lr>", "<sip:p2.localhost;lr>"]);
  });

  it("forwards provisional responses except 100 upstream, with the proxy's Via removed", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    const branch = h.sent("INVITE")[0]!;
    h.answer(branch, 100, "Trying");
    h.answer(branch, 180, "Ringing", { toTag: "b1" });
    expect(h.upstream.statuses()).toEqual([100, 180]);
    const ringing = h.upstream.responses[1]!;
    expect(ringing.headers.getAll("via")).toEqual(["SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks"]);
  });

  it("a retransmitted INVITE is absorbed by the transaction and gets the last provisional again", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1]);
    expect(h.tm.checkTrans(request(invite()), h.upstream)).toEqual({ found: true, action: "retransmission" });
    expect(h.tm.relay(request(invite()), h.upstream, [BOB1])).toEqual({ ok: true, kind: "absorbed" });
    expect(h.upstream.statuses()).toEqual([100, 100, 100]);
    expect(h.sent("INVITE")).toHaveLength(1);
  });

  it("a non-INVITE gets no 100 from tm, and its final response goes upstream", () => {
    const h = harness();
    h.tm.relay(request(nonInvite("MESSAGE")), h.upstream, [BOB1]);
    expect(h.upstream.statuses()).toEqual([]);
    h.answer(h.sent("MESSAGE")[0]!, 200, "OK");
    expect(h.upstream.statuses()).toEqual([200]);
    expect(h.tm.size).toBe(0);
  });

  it("relays to the Request-URI when no target is given", () => {
    const h = harness();
    h.tm.relay(request(invite({ uri: "sip:+15551234@gw.localhost" })), h.upstream);
    expect(h.sent("INVITE")[0]?.uri).toBe("sip:+15551234@gw.localhost");
  });
});

describe("tm: 2xx and forking (§16.7 items 5, 10)", () => {
  it("forwards every 2xx of a forked INVITE upstream and CANCELs the other branches after the first", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1, BOB2]);
    const [b1, b2] = h.sent("INVITE");
    h.answer(b1!, 180, "Ringing", { toTag: "b1" });
    h.answer(b2!, 180, "Ringing", { toTag: "b2" });
    h.answer(b1!, 200, "OK", { toTag: "b1" });
    expect(h.upstream.statuses()).toEqual([100, 180, 180, 200]);
    const cancels = h.sent("CANCEL");
    expect(cancels).toHaveLength(1);
    expect(cancels[0]?.topVia().branch).toBe(b2?.topVia().branch);
    expect(cancels[0]?.headers.get("reason")).toBe('SIP;cause=200;text="Call completed elsewhere"');
    // Bob's second device answered before the CANCEL arrived: its 200 goes up too.
    h.answer(b2!, 200, "OK", { toTag: "b2" });
    expect(h.upstream.statuses()).toEqual([100, 180, 180, 200, 200]);
    expect(h.upstream.responses.map((r) => r.to().params.get("tag")).slice(3)).toEqual(["b1", "b2"]);
  });

  it("a branch with no provisional response gets its CANCEL only after one arrives (§9.1)", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1, BOB2]);
    const [b1, b2] = h.sent("INVITE");
    h.answer(b1!, 200, "OK", { toTag: "b1" });
    expect(h.sent("CANCEL")).toHaveLength(0);
    h.answer(b2!, 180, "Ringing", { toTag: "b2" });
    expect(h.sent("CANCEL")).toHaveLength(1);
    expect(h.upstream.statuses()).toEqual([100, 200]); // the late 180 is not forwarded
    h.answer(b2!, 487, "Request Terminated", { toTag: "b2" });
    expect(h.sent("ACK")).toHaveLength(1); // hop-by-hop ACK for the 487
    expect(h.upstream.statuses()).toEqual([100, 200]);
    expect(h.tm.size).toBe(0);
  });

  it("the 2xx of a non-INVITE ends it: a later 2xx from another branch is not forwarded", () => {
    const h = harness();
    h.tm.relay(request(nonInvite("MESSAGE")), h.upstream, [BOB1, BOB2]);
    const [b1, b2] = h.sent("MESSAGE");
    h.answer(b1!, 200, "OK");
    h.answer(b2!, 202, "Accepted");
    expect(h.upstream.statuses()).toEqual([200]);
    expect(h.sent("CANCEL")).toHaveLength(0);
  });

  it("serial forking: the q=0.5 group starts only after the q=1.0 group failed", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [{ ...BOB2, q: 0.5 }, { ...BOB1, q: 1 }]);
    expect(h.sent("INVITE").map((r) => r.uri)).toEqual([BOB1.uri]);
    h.answer(h.sent("INVITE")[0]!, 480, "Temporarily Unavailable", { toTag: "x" });
    expect(h.sent("INVITE").map((r) => r.uri)).toEqual([BOB1.uri, BOB2.uri]);
    expect(h.upstream.statuses()).toEqual([100]);
    h.answer(h.sent("INVITE")[1]!, 200, "OK", { toTag: "y" });
    expect(h.upstream.statuses()).toEqual([100, 200]);
  });
});

describe("tm: best response (§16.7 items 6, 7)", () => {
  function fork(statuses: [number, string, [string, string][]?][]) {
    const h = harness();
    const targets = statuses.map((_, i) => ({ uri: `sip:bob@b${i}.invalid` }));
    h.tm.relay(request(invite()), h.upstream, targets);
    const branches = h.sent("INVITE");
    statuses.forEach(([status, reason, headers], i) => h.answer(branches[i]!, status, reason, { toTag: `t${i}`, headers }));
    return h;
  }

  it("chooses the lowest class: 486 over 503", () => {
    const h = fork([[503, "Service Unavailable"], [486, "Busy Here"]]);
    expect(h.upstream.statuses()).toEqual([100, 486]);
  });

  it("a lone 503 goes upstream as 500", () => {
    const h = fork([[503, "Service Unavailable"]]);
    expect(h.upstream.responses.at(-1)).toMatchObject({ status: 500, reason: "Server Internal Error" });
  });

  it("prefers a challenge within 4xx and adds the challenges of the other 401/407 responses", () => {
    const h = fork([
      [404, "Not Found"],
      [407, "Proxy Authentication Required", [["Proxy-Authenticate", 'Digest realm="b", nonce="2"']]],
      [401, "Unauthorized", [["WWW-Authenticate", 'Digest realm="a", nonce="1"']]],
    ]);
    const best = h.upstream.responses.at(-1)!;
    expect(best.status).toBe(401);
    expect(best.headers.getAll("www-authenticate")).toEqual(['Digest realm="a", nonce="1"']);
    expect(best.headers.getAll("proxy-authenticate")).toEqual(['Digest realm="b", nonce="2"']);
    expect(best.headers.getAll("via")).toHaveLength(1);
  });

  it("a 6xx wins and CANCELs the pending branches; no new branch is created after it", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1, BOB2, { uri: "sip:bob@later.invalid", q: 0.1 }]);
    const [b1, b2] = h.sent("INVITE");
    h.answer(b2!, 180, "Ringing", { toTag: "b2" });
    h.answer(b1!, 603, "Decline", { toTag: "b1" });
    expect(h.sent("CANCEL")).toHaveLength(1);
    expect(h.upstream.statuses()).toEqual([100, 180]);
    h.answer(b2!, 487, "Request Terminated", { toTag: "b2" });
    expect(h.upstream.statuses()).toEqual([100, 180, 603]);
    expect(h.sent("INVITE")).toHaveLength(2);
  });

  it("pickBest: 6xx over everything, then the lowest class, preferred 4xx first, 503 last among 5xx", () => {
    expect(pickBest([302, 486, 600])).toBe(2);
    expect(pickBest([486, 302])).toBe(1);
    expect(pickBest([404, 484])).toBe(1);
    expect(pickBest([503, 504])).toBe(1);
    expect(pickBest([180, 0])).toBe(-1);
  });
});

describe("tm: hop-by-hop ACK for non-2xx (§17.1.1.3)", () => {
  it("the proxy ACKs a branch's 486 itself, and absorbs the caller's ACK for the 486 it forwarded", () => {
    const h = harness();
    const req = request(invite());
    h.tm.relay(req, h.upstream, [BOB1]);
    const branch = h.sent("INVITE")[0]!;
    h.answer(branch, 486, "Busy Here", { toTag: "bob" });
    const [ack] = h.sent("ACK");
    expect(ack?.topVia().branch).toBe(branch.topVia().branch);
    expect(ack?.to().params.get("tag")).toBe("bob");
    expect(ack?.uri).toBe(BOB1.uri);
    expect(h.upstream.statuses()).toEqual([100, 486]);
    const callerAck = request(
      invite()
        .replace("INVITE sip:bob@localhost", "ACK sip:bob@localhost")
        .replace("1 INVITE", "1 ACK")
        .replace("To: <sip:bob@localhost>", "To: <sip:bob@localhost>;tag=bob"),
    );
    expect(h.tm.checkTrans(callerAck, h.upstream)).toEqual({ found: true, action: "ack-absorbed" });
    expect(h.sent("ACK")).toHaveLength(1);
  });

  it("an ACK for a 2xx is relayed statelessly with a branch that is the same for its retransmission", () => {
    const h = harness();
    const ack = () => request(nonInvite("ACK", { branch: "z9hG4bKack1" }).replace("7 ACK", "1 ACK"));
    expect(h.tm.checkTrans(ack(), h.upstream)).toEqual({ found: false });
    expect(h.tm.relay(ack(), h.upstream, [BOB1])).toEqual({ ok: true, kind: "stateless" });
    h.tm.relay(ack(), h.upstream, [BOB1]);
    const [a1, a2] = h.sent("ACK");
    expect(a1?.topVia().branch).toBe(a2?.topVia().branch);
    expect(ownerOfBranch(a1?.topVia().branch)).toBe("shard-1");
    expect(h.tm.size).toBe(0);
  });
});

describe("tm: branch route and cleanup", () => {
  it("t_on_branch runs on each branch copy with its target (per-branch Record-Route, headers)", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1, BOB2], {
      onBranch: (req, target) => req.headers.append("X-Flow", target.flow ?? "none"),
    });
    expect(h.sent("INVITE").map((r) => r.headers.get("x-flow"))).toEqual(["flow-b1", "flow-b2"]);
  });

  it("leaves no transaction behind once a forked call is answered and the timers ran out", () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [BOB1, BOB2]);
    const [b1, b2] = h.sent("INVITE");
    h.answer(b1!, 180, "Ringing", { toTag: "b1" });
    h.answer(b2!, 180, "Ringing", { toTag: "b2" });
    h.answer(b1!, 200, "OK", { toTag: "b1" });
    h.answer(h.sent("CANCEL")[0]!, 200, "OK");
    h.answer(b2!, 487, "Request Terminated", { toTag: "b2" });
    expect(h.tm.size).toBe(0);
    h.timers.advance(32_000); // Timer L (server, Accepted) and M (client, Accepted)
    expect(h.tm.table.serverCount).toBe(0);
    expect(h.tm.table.clientCount).toBe(0);
    expect(h.timers.count).toBe(0);
  });
});

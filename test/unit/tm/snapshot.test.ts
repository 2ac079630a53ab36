import { describe, expect, it } from "vitest";
import type { FailureRoute, ResponseContextSnapshot, TmReplyContext } from "../../../src/modules/tm/index.ts";
import { TIMER_C } from "../../../src/sip/timers.ts";
import { createCancel } from "../../../src/sip/transactions/requests.ts";
import { invite, request } from "../transactions/helpers.ts";
import { base, harness } from "./harness.ts";

const GW1 = { uri: "sip:+15550100@127.0.0.1:7070" };
const GW2 = { uri: "sip:+15550100@127.0.0.1:7072" };

const failovers: string[] = [];
const nextGateway: FailureRoute = function nextGateway(ctx) {
  failovers.push(String(ctx.status));
  ctx.tm.relay([GW2]);
};

/** A ringing call, snapshotted, and the object evicted: a new Tm restores it 60 s later. */
function ringingThenEvicted() {
  const before = harness();
  const result = before.tm.relay(request(invite({ uri: "sip:+15550100@localhost" })), before.upstream, [GW1], {
    base,
    onFailure: nextGateway,
    upstreamKey: "flow-alice",
  });
  if (!result.ok || result.kind !== "stateful") throw new Error("relay failed");
  const branch = before.sent("INVITE")[0]!;
  before.answer(branch, 180, "Ringing", { toTag: "gw1" });
  const snapshot = JSON.parse(JSON.stringify(before.tm.snapshot(result.id))) as ResponseContextSnapshot;
  const after = harness();
  after.timers.advance(60_000);
  const ctx = after.tm.restore(snapshot, { upstream: after.upstream, base, failureRoutes: [nextGateway] });
  return { before, after, branch, snapshot, ctx };
}

describe("tm: snapshot and restore (long-lived INVITE across eviction)", () => {
  it("the snapshot is plain JSON with messages serialized and absolute deadlines", () => {
    const { snapshot, before } = ringingThenEvicted();
    expect(snapshot).toMatchObject({ v: 1, failureRoute: "nextGateway", upstreamKey: "flow-alice", canceled: false, finalSent: false });
    expect(snapshot.request.text.startsWith("INVITE sip:+15550100@localhost SIP/2.0\r\n")).toBe(true);
    expect(snapshot.server.state).toBe("Proceeding");
    expect(snapshot.branches[0]).toMatchObject({ provisional: true, final: false, timer: { kind: "fr", at: before.timers.now() + TIMER_C } });
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
  });

  it("a 200 from the branch after the restore goes upstream through the restored transaction", () => {
    const { after, branch, ctx } = ringingThenEvicted();
    expect(ctx).toBeDefined();
    expect(after.tm.size).toBe(1);
    after.answer(branch, 200, "OK", { toTag: "gw1" });
    expect(after.upstream.statuses()).toEqual([200]);
    expect(after.upstream.responses[0]?.headers.getAll("via")).toHaveLength(1);
    expect(after.tm.size).toBe(0);
  });

  it("Timer C fires at its original deadline after the restore, and the named failure route runs", () => {
    const { after } = ringingThenEvicted();
    failovers.length = 0;
    after.timers.advance(TIMER_C - 60_000 - 1);
    expect(after.sent("CANCEL")).toHaveLength(0);
    after.timers.advance(1);
    expect(after.sent("CANCEL")).toHaveLength(1);
    expect(failovers).toEqual(["408"]);
    expect(after.sent("INVITE").map((r) => r.uri)).toEqual([GW2.uri]);
  });

  it("a CANCEL after the restore is answered 200 and propagated to the ringing branch", () => {
    const { after, branch } = ringingThenEvicted();
    expect(after.tm.checkTrans(createCancel(request(invite({ uri: "sip:+15550100@localhost" }))), after.upstream)).toEqual({ found: true, action: "canceled" });
    expect(after.sent("CANCEL")[0]?.topVia().branch).toBe(branch.topVia().branch);
    after.answer(branch, 487, "Request Terminated", { toTag: "gw1" });
    expect(after.upstream.statuses()).toEqual([200, 487]);
  });

  it("a retransmitted INVITE after the restore gets the last provisional response again", () => {
    const { after } = ringingThenEvicted();
    expect(after.tm.checkTrans(request(invite({ uri: "sip:+15550100@localhost" })), after.upstream)).toEqual({ found: true, action: "retransmission" });
    expect(after.upstream.statuses()).toEqual([180]);
  });
});

describe("tm: the onreply route (t_on_reply) across eviction", () => {
  const anchored = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 UDP/TLS/RTP/SAVPF 0\r\n";
  async function MEDIA_REPLY(ctx: TmReplyContext): Promise<void> {
    if (ctx.msg.body) ctx.msg.body = anchored;
  }
  const withSdp = { toTag: "gw1", body: "v=0\r\n", contentType: "application/sdp" };

  function ringing() {
    const before = harness();
    const result = before.tm.relay(request(invite({ uri: "sip:+15550100@localhost" })), before.upstream, [GW1], { base, onReply: MEDIA_REPLY, upstreamKey: "flow-alice" });
    if (!result.ok || result.kind !== "stateful") throw new Error("relay failed");
    const branch = before.sent("INVITE")[0]!;
    const snapshot = JSON.parse(JSON.stringify(before.tm.snapshot(result.id))) as ResponseContextSnapshot;
    return { branch, snapshot };
  }

  it("is kept by name and comes back from the routes the owner supplies", async () => {
    const { branch, snapshot } = ringing();
    expect(snapshot.replyRoute).toBe("MEDIA_REPLY");
    const after = harness();
    after.tm.restore(snapshot, { upstream: after.upstream, base, replyRoutes: [MEDIA_REPLY] });
    after.answer(branch, 200, "OK", withSdp);
    await new Promise((r) => setTimeout(r, 0));
    expect(after.upstream.responses.at(-1)?.body).toBe(anchored);
  });

  it("one that cannot be restored fails closed: the 2xx is discarded (ACK, BYE, 500), never forwarded unprocessed", async () => {
    const { branch, snapshot } = ringing();
    const after = harness();
    after.tm.restore(snapshot, { upstream: after.upstream, base });
    after.answer(branch, 200, "OK", withSdp);
    await new Promise((r) => setTimeout(r, 0));
    expect(after.upstream.statuses()).toEqual([500]);
    expect(after.sent("BYE")).toHaveLength(1);
  });
});

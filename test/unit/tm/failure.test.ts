import { describe, expect, it } from "vitest";
import type { FailureRoute, TmFailureContext } from "../../../src/modules/tm/index.ts";
import { bindRequest } from "../../../src/modules/tm/index.ts";
import { createCancel } from "../../../src/sip/transactions/requests.ts";
import { invite, request } from "../transactions/helpers.ts";
import { base, harness, logLines } from "./harness.ts";

const GW1 = { uri: "sip:+15550100@127.0.0.1:7070", dst: "sip:127.0.0.1:7070" };
const GW2 = { uri: "sip:+15550100@127.0.0.1:7072", dst: "sip:127.0.0.1:7072" };

/** The seed's RTF_DISPATCH: t_check_status("500") or (t_branch_timeout() and !t_branch_replied()) → ds_next_dst. */
function dispatchFailure(next: typeof GW2[], seen: TmFailureContext[]): FailureRoute {
  return function rtfDispatch(ctx) {
    seen.push(ctx);
    if (ctx.isCanceled()) return;
    if (ctx.checkStatus("500") || (ctx.branchTimeout() && !ctx.branchReplied())) {
      const dst = next.shift();
      if (dst === undefined) return;
      ctx.tm.onFailure(rtfDispatch);
      ctx.tm.relay([dst]);
    }
  };
}

describe("tm: failure route (Kamailio failure_route)", () => {
  it("after a 500 the failure route relays to the next gateway, and its 200 goes upstream; the 500 never does", () => {
    const h = harness();
    const seen: TmFailureContext[] = [];
    const tm = bindRequest(h.tm, request(invite({ uri: "sip:+15550100@localhost" })), h.upstream, base);
    tm.onFailure(dispatchFailure([GW2], seen));
    expect(tm.relay([GW1])).toMatchObject({ ok: true });
    h.answer(h.sent("INVITE")[0]!, 500, "Server Internal Error", { toTag: "gw1" });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.status).toBe(500);
    expect(seen[0]?.reply?.status).toBe(500);
    expect(seen[0]?.branchReplied()).toBe(true);
    expect(h.sent("INVITE").map((r) => r.uri)).toEqual([GW1.uri, GW2.uri]);
    expect(h.down.filter((d) => d.request.method === "INVITE")[1]?.target).toEqual(GW2);
    h.answer(h.sent("INVITE")[1]!, 200, "OK", { toTag: "gw2" });
    expect(h.upstream.statuses()).toEqual([100, 200]);
  });

  it("after a timeout without any reply the failure route relays again; the new round's 486 goes upstream", () => {
    const h = harness();
    const seen: TmFailureContext[] = [];
    h.tm.relay(request(invite()), h.upstream, [GW1], { base, onFailure: dispatchFailure([GW2], seen) });
    h.timers.advance(30_000);
    expect(seen[0]).toMatchObject({ status: 408, reply: undefined });
    expect(seen[0]?.branchTimeout()).toBe(true);
    expect(seen[0]?.branchReplied()).toBe(false);
    expect(seen[0]?.checkStatus("408")).toBe(true);
    expect(seen[0]?.checkStatus(/^5/)).toBe(false);
    h.answer(h.sent("INVITE")[1]!, 486, "Busy Here", { toTag: "gw2" });
    expect(h.upstream.statuses()).toEqual([100, 486]);
  });

  it("a gateway that answered 100 and then timed out is 'replied': the seed's rule does not fail over", () => {
    const h = harness();
    const seen: TmFailureContext[] = [];
    h.tm.relay(request(invite()), h.upstream, [GW1], { base, onFailure: dispatchFailure([GW2], seen) });
    h.answer(h.sent("INVITE")[0]!, 100, "Trying");
    h.timers.advance(200_000);
    expect(seen[0]?.branchTimeout()).toBe(true);
    expect(seen[0]?.branchReplied()).toBe(true);
    expect(h.sent("INVITE")).toHaveLength(1);
    expect(h.upstream.statuses()).toEqual([100, 408]);
  });

  it("the failure route is disarmed when it runs: without t_on_failure again, the next failure goes upstream", () => {
    const h = harness();
    let runs = 0;
    h.tm.relay(request(invite()), h.upstream, [GW1], {
      base,
      onFailure: (ctx) => {
        runs++;
        ctx.tm.relay([GW2]);
      },
    });
    h.answer(h.sent("INVITE")[0]!, 500, "Server Internal Error", { toTag: "a" });
    h.answer(h.sent("INVITE")[1]!, 502, "Bad Gateway", { toTag: "b" });
    expect(runs).toBe(1);
    expect(h.upstream.statuses()).toEqual([100, 502]);
  });

  it("an async failure route is awaited before the best response is chosen", async () => {
    const h = harness();
    h.tm.relay(request(invite()), h.upstream, [GW1], {
      base,
      onFailure: async (ctx) => {
        await Promise.resolve();
        ctx.tm.reply(480, "Temporarily Unavailable");
      },
    });
    h.answer(h.sent("INVITE")[0]!, 500, "Server Internal Error", { toTag: "a" });
    expect(h.upstream.statuses()).toEqual([100]);
    await new Promise((r) => setTimeout(r, 0));
    expect(h.upstream.statuses()).toEqual([100, 480]);
  });

  it("a failure route that throws is logged and the best response goes upstream", async () => {
    const h = harness();
    logLines.length = 0;
    h.tm.relay(request(invite()), h.upstream, [GW1], {
      base,
      onFailure: () => {
        throw new Error("boom");
      },
    });
    h.answer(h.sent("INVITE")[0]!, 500, "Server Internal Error", { toTag: "a" });
    expect(h.upstream.statuses()).toEqual([100, 500]);
    expect(logLines.join("\n")).toContain("boom");
  });

  it("a cancelled transaction runs the failure route with isCanceled() true, refuses new branches, and answers 487", () => {
    const h = harness();
    const seen: TmFailureContext[] = [];
    let relayed: unknown;
    h.tm.relay(request(invite()), h.upstream, [GW1], {
      base,
      onFailure: (ctx) => {
        seen.push(ctx);
        relayed = ctx.tm.relay([GW2]);
      },
    });
    const branch = h.sent("INVITE")[0]!;
    h.answer(branch, 183, "Session Progress", { toTag: "a" });
    h.tm.checkTrans(createCancel(request(invite())), h.upstream);
    h.answer(branch, 487, "Request Terminated", { toTag: "a" });
    expect(seen[0]?.isCanceled()).toBe(true);
    expect(relayed).toMatchObject({ ok: false, error: "canceled" });
    expect(h.upstream.statuses()).toEqual([100, 183, 200, 487]);
  });

  it("after a 6xx the failure route may not create branches (§16.7 item 5)", () => {
    const h = harness();
    let relayed: unknown;
    h.tm.relay(request(invite()), h.upstream, [GW1], { base, onFailure: (ctx) => void (relayed = ctx.tm.relay([GW2])) });
    h.answer(h.sent("INVITE")[0]!, 600, "Busy Everywhere", { toTag: "a" });
    expect(relayed).toMatchObject({ ok: false, error: "6xx-received" });
    expect(h.upstream.statuses()).toEqual([100, 600]);
  });
});

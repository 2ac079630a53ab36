import { describe, expect, it } from "vitest";
import type { TmFailureContext } from "../../../src/modules/tm/index.ts";
import { ownerOfBranch, verifiedOwner } from "../../../src/modules/tm/index.ts";
import { Signer } from "../../../src/util/signer.ts";
import { invite, request } from "../transactions/helpers.ts";
import { base, harness } from "./harness.ts";

const GW1 = { uri: "sip:+15550100@gw.example.test", dst: "127.0.0.20:5060" };
const signer = new Signer({ current: "route secret" }, "sipedge branch");

describe("tm: signed branches (a response names its owner only with this deployment's signature)", () => {
  it("every branch carries a signature; verifiedOwner accepts it and refuses an altered owner", () => {
    const h = harness({ ownerId: "3", signer });
    h.tm.relay(request(invite()), h.upstream, [GW1], { base });
    const branch = h.sent("INVITE")[0]!.topVia().branch!;
    expect(branch).toMatch(/^z9hG4bK-se-3\.[^.]+\.[^.]+\.0\.[A-Za-z0-9_-]{16}$/);
    expect(verifiedOwner(branch, signer)).toBe("3");
    expect(ownerOfBranch(branch.replace("-se-3.", "-se-7."))).toBe("7");
    expect(verifiedOwner(branch.replace("-se-3.", "-se-7."), signer)).toBeUndefined();
    expect(verifiedOwner("z9hG4bK-se-7.a.b.0", signer)).toBeUndefined();
  });
});

describe("tm: the next hop reports a branch it cannot deliver (bridge timeout / unreachable frames)", () => {
  function call() {
    const h = harness();
    const seen: TmFailureContext[] = [];
    h.tm.relay(request(invite()), h.upstream, [GW1], { base, onFailure: (ctx) => void seen.push(ctx) });
    const sent = h.sent("INVITE")[0]!;
    return { h, seen, branch: sent.topVia().branch! };
  }

  it("unreachable ends the branch at once with a local 503 that got no reply, long before fr_timer", () => {
    const { h, seen, branch } = call();
    expect(h.tm.branchFailed(branch, "INVITE", "transport")).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.status).toBe(503);
    expect(seen[0]?.branchReplied()).toBe(false);
    expect(seen[0]?.checkStatus("503")).toBe(true);
  });

  it("timeout ends the branch as fr_timer would: 408, timed out, no reply", () => {
    const { h, seen, branch } = call();
    expect(h.tm.branchFailed(branch, "INVITE", "timeout")).toBe(true);
    expect(seen[0]?.status).toBe(408);
    expect(seen[0]?.branchTimeout()).toBe(true);
  });

  it("a report for a branch that already has its final response, or for none, changes nothing", () => {
    const { h, seen, branch } = call();
    h.answer(h.sent("INVITE")[0]!, 486, "Busy Here", { toTag: "gw" });
    h.tm.branchFailed(branch, "INVITE", "transport"); // the transaction may be gone already (reliable: Timer D is 0)
    expect(seen.map((c) => c.status)).toEqual([486]);
    expect(h.tm.branchFailed("z9hG4bKnothing", "INVITE", "timeout")).toBe(false);
  });
});

describe("tm: the answer of a branch (how the dialog module learns of a call)", () => {
  it("onAnswered runs once per branch with its first 2xx, not for retransmissions", () => {
    const h = harness();
    const answered: number[] = [];
    h.tm.relay(request(invite()), h.upstream, [GW1], { base, onAnswered: (_req, res) => void answered.push(res.status) });
    const branch = h.sent("INVITE")[0]!;
    h.answer(branch, 200, "OK", { toTag: "gw" });
    h.answer(branch, 200, "OK", { toTag: "gw" });
    expect(answered).toEqual([200]);
  });
});

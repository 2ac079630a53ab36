import { describe, expect, it } from "vitest";
import { nonInvite, request } from "../transactions/helpers.ts";
import { harness } from "../tm/harness.ts";

// Regressions for what the fuzzers found below the parser (the raw-message findings are replayed
// from test/fixtures/fuzz by fixtures.test.ts).

describe("fuzz findings in the pipeline's modules", () => {
  it("tm: a forked MESSAGE answered 200 by two branches leaves no response context behind", () => {
    // Found by the pipeline fuzzer: the second 2xx of a non-INVITE made its branch final but
    // never checked for completion, so every such MESSAGE stayed in the transaction table.
    const h = harness();
    const targets = [
      { uri: "sip:bob@b1.invalid;transport=ws", flow: "flow-b1" },
      { uri: "sip:bob@b2.invalid;transport=ws", flow: "flow-b2" },
    ];
    h.tm.relay(request(nonInvite("MESSAGE")), h.upstream, targets);
    const [b1, b2] = h.sent("MESSAGE");
    h.answer(b1!, 200, "OK");
    h.answer(b2!, 200, "OK");
    expect(h.upstream.statuses()).toEqual([200]);
    expect(h.tm.size).toBe(0);
    h.timers.advance(64 * 500);
    expect([h.tm.table.serverCount, h.tm.table.clientCount, h.timers.count]).toEqual([0, 0, 0]);
  });
});

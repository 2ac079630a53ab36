import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMessage } from "../../../src/sip/parser.ts";
import { serialize } from "../../../src/sip/serializer.ts";
import { requestUriFor } from "../../../src/sip/uri.ts";
import { deliverAs } from "../../fuzz/replay.ts";
import { repoRoot } from "../../fuzz/seeds.ts";
import { FuzzWorld } from "../../fuzz/world.ts";
import { sipRequest } from "../../helpers/sip-text.ts";
import { nonInvite, request } from "../transactions/helpers.ts";
import { harness } from "../tm/harness.ts";

function fixture(name: string): string {
  return readFileSync(resolve(repoRoot, "test/fixtures/fuzz", name), "utf8");
}

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

describe("fuzz findings in the pipeline", () => {
  it("a registered Contact's URI headers and method parameter never reach a Request-URI (RFC 3261 §16.6 item 2)", async () => {
    // Found by the pipeline fuzzer: the Contact <sip:a@b?route=%3Csip:x%3E> was registered
    // (headers are allowed in a REGISTER's Contact) and became the Request-URI of the branch,
    // which this edge's own parser refuses (400 Bad Request-URI) and a next hop may turn into
    // real header fields (RFC 4475 §3.1.2.11).
    const world = new FuzzWorld(1);
    const [alice, bob] = [world.peer("client1"), world.peer("client2")];
    const register = await deliverAs(world, alice, fixture("contact-uri-headers.sip"), "alice");
    expect(register.replies.map((r) => r.slice(0, 15))).toContain("SIP/2.0 200 OK\r");
    const invite = await deliverAs(world, bob, sipRequest({ method: "INVITE", ruri: "sip:alice@sip.example.test", from: "<sip:bob@sip.example.test>;tag=b1" }), "bob");
    const branch = invite.relayed.find((r) => r.request.method === "INVITE");
    expect(branch?.request.uri).toBe("sip:alice@client1.invalid;transport=ws");
    expect(parseMessage(serialize(branch!.request)).ok).toBe(true);
  });

  it("requestUriFor keeps a plain URI as it is and drops only what a Request-URI may not carry", () => {
    expect(requestUriFor("sip:alice@h.invalid;transport=ws;ob")).toBe("sip:alice@h.invalid;transport=ws;ob");
    expect(requestUriFor("sip:a@b;method=INVITE;lr?Subject=x&Route=%3Csip:c%3E")).toBe("sip:a@b;lr");
    expect(requestUriFor("tel:+15551234567")).toBe("tel:+15551234567");
  });
});

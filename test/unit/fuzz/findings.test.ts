import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMessage } from "../../../src/sip/parser.ts";
import { serialize, wireOf } from "../../../src/sip/serializer.ts";
import { requestUriFor } from "../../../src/sip/uri.ts";
import { checkDelivery } from "../../fuzz/pipeline-check.ts";
import { deliverAs, registerAll } from "../../fuzz/replay.ts";
import { repoRoot } from "../../fuzz/seeds.ts";
import { FuzzWorld, wireText } from "../../fuzz/world.ts";
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
    expect(register.replies.map((r) => wireText(r).slice(0, 15))).toContain("SIP/2.0 200 OK\r");
    const invite = await deliverAs(world, bob, sipRequest({ method: "INVITE", ruri: "sip:alice@sip.example.test", from: "<sip:bob@sip.example.test>;tag=b1" }), "bob");
    const branch = invite.relayed.find((r) => r.request.method === "INVITE");
    expect(branch?.request.uri).toBe("sip:alice@client1.invalid;transport=ws");
    expect(parseMessage(serialize(branch!.request)).ok).toBe(true);
  });

  it("an RFC 2543 INVITE (no branch) sent again is matched to its transaction as the pipeline matches it", async () => {
    // Found by the pipeline fuzzer (CI, round 2265367787): a mutated Via `branch5z9hG4bK…` has no
    // branch, so the INVITE's transaction is keyed RFC 2543's way, on its whole top Via. The edge
    // then keyed on the Via after its received= stamp, the fuzz world on the Via as sent, so the
    // copy resent 27 s later was absorbed (RFC 6026, right) where the world expected an answer.
    // tm now keys on the Via as sent (topViaAsSent), as the world does.
    const world = new FuzzWorld(5);
    await registerAll(world);
    const alice = world.peer("client1");
    const text = sipRequest({
      method: "INVITE", ruri: "sip:bob@sip.example.test", from: "<sip:alice@sip.example.test>;tag=a2543",
      via: "Via: SIP/2.0/WSS client1.invalid;branch5z9hG4bKnobranch",
    });
    const first = await deliverAs(world, alice, text, "alice");
    expect(first.relayed.some((r) => r.request.method === "INVITE")).toBe(true);
    await world.advance(27_000);
    const again = world.errors.length;
    const copy = await world.deliver(alice, first.data);
    expect(copy.retransmission).toBe(true);
    expect(copy.relayed).toEqual([]);
    expect(checkDelivery(world, copy, again)).toEqual([]);
  });

  it("requestUriFor keeps a plain URI as it is and drops only what a Request-URI may not carry", () => {
    expect(requestUriFor("sip:alice@h.invalid;transport=ws;ob")).toBe("sip:alice@h.invalid;transport=ws;ob");
    expect(requestUriFor("sip:a@b;method=INVITE;lr?Subject=x&Route=%3Csip:c%3E")).toBe("sip:a@b;lr");
    expect(requestUriFor("tel:+15551234567")).toBe("tel:+15551234567");
  });
});

describe("fuzz findings on the wire", () => {
  it("wireOf: a message that came in a binary frame goes out as its bytes, a text one as text", () => {
    const bytes = new Uint8Array(readFileSync(resolve(repoRoot, "test/fixtures/fuzz/ack-utf8-body.bin.sip")));
    const binary = parseMessage(bytes);
    const text = parseMessage(new TextDecoder().decode(bytes));
    if (!binary.ok || !text.ok) throw new Error("fixture does not parse");
    expect(wireOf(binary.message)).toEqual(bytes);
    expect(wireOf(text.message)).toBe(new TextDecoder().decode(bytes));
  });

  it("an ACK with a UTF-8 body that came in a binary frame is relayed to the callee's flow as the same bytes", async () => {
    // Found by the pipeline fuzzer: relayed as the byte-string of a binary message, its body's
    // bytes above 0x7F were re-encoded (SipConnection.sendRequest; the e2e test binary-frames
    // pins the shard's side).
    const world = new FuzzWorld(3);
    await registerAll(world);
    const bytes = new Uint8Array(readFileSync(resolve(repoRoot, "test/fixtures/fuzz/ack-utf8-body.bin.sip")));
    const d = await world.deliver(world.peer("client4"), bytes);
    const ack = d.relayed.find((r) => r.request.method === "ACK");
    expect(ack?.target.flow).toBe("0.c2");
    const wire = wireOf(ack!.request);
    expect(wire).toBeInstanceOf(Uint8Array);
    const relayed = parseMessage(wire);
    expect(relayed.ok && relayed.message.body).toBe("h\xc3\xa9llo \xe2\x9c\x93");
  });
});

import { describe, expect, it } from "vitest";
import { createForwarder, returnPathOfBranch, type ForwardSource } from "../../../src/modules/forward/index.ts";
import type { Target } from "../../../src/modules/tm/index.ts";
import type { SipRequest, SipResponse } from "../../../src/sip/message.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { serialize } from "../../../src/sip/serializer.ts";
import { Signer } from "../../../src/util/signer.ts";
import { sipRequest } from "../../helpers/sip-text.ts";

const signer = new Signer({ current: "forward-test-secret" }, "sipedge branch");
const BRIDGE_VIA = { transport: "UDP", host: "127.0.0.9", port: 5060 };
const PROXY: Target = { uri: "sip:bob@sip.example.test", dst: "127.0.0.24:5060", via: BRIDGE_VIA, bridge: "b1" };
const CLIENT: ForwardSource = { transport: "wss", ip: "127.0.0.2", flow: "3.s1f0c2f7e-0000-4000-8000-000000000001" };
const GATEWAY: ForwardSource = { transport: "udp", ip: "127.0.0.24", port: 5060, bridge: "b1" };

function request(text: string): SipRequest {
  const parsed = parseMessage(text);
  if (!parsed.ok || parsed.message.kind !== "request") throw new Error("bad request fixture");
  return parsed.message;
}

function response(text: string): SipResponse {
  const parsed = parseMessage(text);
  if (!parsed.ok || parsed.message.kind !== "response") throw new Error("bad response fixture");
  return parsed.message;
}

/** A forwarder that records what it sends. */
function forwarder(send = true) {
  const sent: { request: SipRequest; target: Target }[] = [];
  const fw = createForwarder({
    ownerId: "3",
    signer,
    viaFor: () => ({ transport: "WSS", host: "sip.example.test" }),
    sendRequest: (request, target) => {
      sent.push({ request, target });
      return send;
    },
  });
  return { fw, sent };
}

/** The response a UAS gives to what was forwarded: its Vias copied (RFC 3261 §8.2.6.2). */
function answer(forwarded: SipRequest, status = 200): SipResponse {
  const vias = forwarded.headers.getAll("via").map((v) => `Via: ${v}`);
  return response([`SIP/2.0 ${status} OK`, ...vias, `From: ${forwarded.headers.get("from")}`, `To: ${forwarded.headers.get("to")};tag=uas`, `Call-ID: ${forwarded.callId}`, `CSeq: ${forwarded.headers.get("cseq")}`, "Content-Length: 0", "", ""].join("\r\n"));
}

describe("forward(): stateless forwarding (RFC 3261 §16.11)", () => {
  it("sends one copy to the target with the proxy's Via on top and the Request-URI kept", () => {
    const { fw, sent } = forwarder();
    const req = request(sipRequest({ method: "INVITE", ruri: "sip:bob@sip.example.test" }));
    expect(fw.forward(req, PROXY, CLIENT)).toEqual({ ok: true });
    expect(sent).toHaveLength(1);
    const out = sent[0]!.request;
    expect(out.uri).toBe("sip:bob@sip.example.test");
    expect(out.headers.getAll("via")[0]).toMatch(/^SIP\/2\.0\/UDP 127\.0\.0\.9:5060;branch=z9hG4bK-se-3\./);
    expect(out.headers.getAll("via")).toHaveLength(2);
    expect(req.headers.getAll("via")).toHaveLength(1); // the script's request is untouched
  });

  it("gives a retransmission, the ACK of a non-2xx and the CANCEL the INVITE's branch, and another transaction another", () => {
    const { fw, sent } = forwarder();
    const tx = { ruri: "sip:bob@sip.example.test", from: "<sip:alice@sip.example.test>;tag=a1", to: "<sip:bob@sip.example.test>", branch: "z9hG4bKcaller1", callId: "c1" };
    const invite = sipRequest({ ...tx, method: "INVITE" });
    fw.forward(request(invite), PROXY, CLIENT);
    fw.forward(request(invite), PROXY, CLIENT);
    fw.forward(request(sipRequest({ ...tx, method: "CANCEL" })), PROXY, CLIENT);
    fw.forward(request(sipRequest({ ...tx, method: "ACK", to: "<sip:bob@sip.example.test>;tag=uas487" })), PROXY, CLIENT);
    fw.forward(request(sipRequest({ ...tx, method: "INVITE", branch: "z9hG4bKcaller2", cseq: 2 })), PROXY, CLIENT);
    const branches = sent.map((s) => s.request.topVia().branch);
    expect(new Set(branches.slice(0, 4)).size).toBe(1);
    expect(branches[4]).not.toBe(branches[0]);
  });

  it("sends a response to a client's request back to the client's flow, with the proxy's Via taken off", () => {
    const { fw, sent } = forwarder();
    fw.forward(request(sipRequest({ method: "INVITE", ruri: "sip:bob@sip.example.test" })), PROXY, CLIENT);
    const ok = answer(sent[0]!.request);
    expect(fw.replyPath(ok)).toEqual({ kind: "flow", flow: CLIENT.flow });
    expect(ok.headers.getAll("via")).toHaveLength(1);
    expect(serialize(ok)).toMatch(/^Via: SIP\/2\.0\/WS df7jal23ls0d\.invalid;branch=/m);
  });

  it("sends a response to a gateway's request to its UDP address through the bridge it came by", () => {
    const { fw, sent } = forwarder();
    fw.forward(request(sipRequest({ method: "BYE", ruri: "sip:alice@df7jal23ls0d.invalid;transport=ws", via: "Via: SIP/2.0/UDP 127.0.0.24:5060;branch=z9hG4bKgw1" })), { uri: "sip:alice@x.invalid", flow: CLIENT.flow! }, GATEWAY);
    expect(sent[0]!.request.headers.getAll("via")[0]).toMatch(/^SIP\/2\.0\/WSS sip\.example\.test;branch=/);
    expect(fw.replyPath(answer(sent[0]!.request))).toEqual({ kind: "udp", address: "127.0.0.24:5060", bridge: "b1" });
  });

  it("ignores a response whose branch it did not sign, or that has no Via below the proxy's", () => {
    const { fw, sent } = forwarder();
    fw.forward(request(sipRequest({ method: "OPTIONS", ruri: "sip:sip.example.test" })), PROXY, CLIENT);
    const branch = sent[0]!.request.topVia().branch!;
    const forged = branch.slice(0, -2) + (branch.endsWith("AA") ? "BB" : "AA");
    const text = serialize(answer(sent[0]!.request)).replace(branch, forged);
    const tampered = response(text);
    expect(fw.replyPath(tampered)).toBeUndefined();
    expect(tampered.headers.getAll("via")).toHaveLength(2);
    const lone = response(serialize(answer(sent[0]!.request)).replace(/^Via: SIP\/2\.0\/WS df7jal23ls0d.*\r\n/m, ""));
    expect(fw.replyPath(lone)).toBeUndefined();
    expect(returnPathOfBranch("z9hG4bK-se-3.abc.s1.0", signer)).toBeUndefined(); // tm's own stateless ACK branch
  });

  it("reads the return path only from a branch of exactly five parts whose third is marked, signed", () => {
    const { fw, sent } = forwarder();
    fw.forward(request(sipRequest({ method: "OPTIONS", ruri: "sip:sip.example.test" })), PROXY, CLIENT);
    const branch = sent[0]!.request.topVia().branch!;
    expect(returnPathOfBranch(branch, signer)).toEqual({ kind: "flow", flow: CLIENT.flow });
    const parts = branch.split(".");
    expect(parts).toHaveLength(5);
    // One part more or fewer, or the mark moved, and the layout is not a stateless branch's.
    expect(returnPathOfBranch(branch + ".x", signer)).toBeUndefined();
    expect(returnPathOfBranch(parts.slice(0, 4).join("."), signer)).toBeUndefined();
    expect(returnPathOfBranch([parts[0], parts[2], parts[1], parts[3], parts[4]].join("."), signer)).toBeUndefined();
    for (const odd of ["", ".", "....", "z9hG4bK-se-3", "z9hG4bK-se-3.a.f", "z9hG4bK-se-3.a.f.b.c"]) expect(returnPathOfBranch(odd, signer)).toBeUndefined();
  });

  it("refuses a request that looped back through it (482) and a target it has no way to (404, 503)", () => {
    const { fw, sent } = forwarder();
    const req = request(sipRequest({ method: "INVITE", ruri: "sip:bob@sip.example.test" }));
    fw.forward(req, PROXY, CLIENT);
    const looped = request(serialize(sent[0]!.request));
    expect(fw.forward(looped, PROXY, GATEWAY)).toMatchObject({ ok: false, status: 482 });
    expect(fw.forward(req, { uri: "sip:bob@elsewhere.example" }, CLIENT)).toMatchObject({ ok: false, status: 404 });
    expect(forwarder(false).fw.forward(req, PROXY, CLIENT)).toMatchObject({ ok: false, status: 503 });
  });
});

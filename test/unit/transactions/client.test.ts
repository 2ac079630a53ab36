import { describe, expect, it } from "vitest";
import type { SipResponse } from "../../../src/sip/message.ts";
import { createResponse } from "../../../src/sip/response.ts";
import { InviteClientTransaction, NonInviteClientTransaction, type ClientTransactionUser } from "../../../src/sip/transactions/client.ts";
import { FakeTimers, Wire, invite, nonInvite, reparse, request } from "./helpers.ts";

function user() {
  const got: SipResponse[] = [];
  const events: string[] = [];
  const u: ClientTransactionUser = {
    receiveResponse: (r) => {
      got.push(r);
      events.push(String(r.status));
    },
    onTimeout: () => events.push("timeout"),
    onTransportError: () => events.push("transport-error"),
  };
  return { u, got, events };
}

function setup(reliable: boolean, method: "INVITE" | "MESSAGE" = "INVITE") {
  const timers = new FakeTimers();
  const wire = new Wire();
  const { u, got, events } = user();
  const req = request(
    method === "INVITE"
      ? invite({ extra: ["Route: <sip:proxy.example.com;lr>"] })
      : nonInvite("MESSAGE"),
  );
  const options = { send: wire.send, timers, clock: timers, reliable };
  const tx = method === "INVITE" ? new InviteClientTransaction(req, u, options) : new NonInviteClientTransaction(req, u, options);
  return { timers, wire, tx, req, got, events };
}

describe("INVITE client transaction (RFC 3261 §17.1.1)", () => {
  it("over UDP retransmits the INVITE on Timer A at T1, 2*T1, 4*T1 ... while Calling", () => {
    const { timers, wire, tx } = setup(false);
    tx.start();
    expect(tx.state).toBe("Calling");
    const times: number[] = [];
    const start = timers.now();
    for (let t = 0; t < 8000; t += 100) {
      const before = wire.messages.length;
      timers.advance(100);
      if (wire.messages.length > before) times.push(timers.now() - start);
    }
    expect(times).toEqual([500, 1500, 3500, 7500]);
  });

  it("over a reliable transport sends once: Timer A never runs", () => {
    const { timers, wire, tx } = setup(true);
    tx.start();
    timers.advance(20_000);
    expect(wire.methods()).toEqual(["INVITE"]);
  });

  it("Timer B (64*T1) in Calling tells the TU of a timeout and terminates", () => {
    const { timers, tx, events } = setup(true);
    tx.start();
    timers.advance(31_999);
    expect(tx.state).toBe("Calling");
    timers.advance(1);
    expect(tx.state).toBe("Terminated");
    expect(events).toEqual(["timeout"]);
  });

  it("a provisional response moves Calling to Proceeding, stops retransmissions and Timer B", () => {
    const { timers, wire, tx, req, events } = setup(false);
    tx.start();
    tx.receiveResponse(reparse(createResponse(req, 180, "Ringing")));
    expect(tx.state).toBe("Proceeding");
    timers.advance(120_000);
    expect(wire.methods()).toEqual(["INVITE"]);
    expect(tx.state).toBe("Proceeding");
    expect(events).toEqual(["180"]);
  });

  it("a 486 moves to Completed, is passed up once, and is ACKed hop by hop with the response's To tag", () => {
    const { wire, tx, req, events } = setup(false);
    tx.start();
    const busy = reparse(createResponse(req, 486, "Busy Here", { toTag: "callee-tag" }));
    tx.receiveResponse(busy);
    expect(tx.state).toBe("Completed");
    const ack = wire.requests[1];
    expect(ack?.method).toBe("ACK");
    expect(ack?.uri).toBe(req.uri);
    expect(ack?.headers.getAll("via")).toEqual([req.headers.get("via")]);
    expect(ack?.to().params.get("tag")).toBe("callee-tag");
    expect(ack?.headers.get("from")).toBe(req.headers.get("from"));
    expect(ack?.callId).toBe(req.callId);
    expect(ack?.cseq).toEqual({ seq: 1, method: "ACK" });
    expect(ack?.headers.getAll("route")).toEqual(["<sip:proxy.example.com;lr>"]);
    expect(ack?.body).toBe("");
    // "Any retransmissions of the final response ... MUST cause the ACK to be re-passed to the
    // transport layer ... but the newly received response MUST NOT be passed up to the TU."
    tx.receiveResponse(reparse(busy));
    expect(wire.methods()).toEqual(["INVITE", "ACK", "ACK"]);
    expect(events).toEqual(["486"]);
  });

  it("Timer D keeps Completed for 32 s over UDP and 0 s over a reliable transport", () => {
    const udp = setup(false);
    udp.tx.start();
    udp.tx.receiveResponse(reparse(createResponse(udp.req, 486, "Busy Here")));
    udp.timers.advance(31_999);
    expect(udp.tx.state).toBe("Completed");
    udp.timers.advance(1);
    expect(udp.tx.state).toBe("Terminated");

    const ws = setup(true);
    ws.tx.start();
    ws.tx.receiveResponse(reparse(createResponse(ws.req, 486, "Busy Here")));
    expect(ws.tx.state).toBe("Terminated");
  });

  it("a 2xx moves to Accepted (RFC 6026): further 2xx are passed up, no ACK is generated, Timer M ends it", () => {
    const { timers, wire, tx, req, events } = setup(true);
    tx.start();
    const ok = reparse(createResponse(req, 200, "OK", { toTag: "a" }));
    tx.receiveResponse(ok);
    expect(tx.state).toBe("Accepted");
    tx.receiveResponse(reparse(createResponse(req, 200, "OK", { toTag: "b" })));
    tx.receiveResponse(reparse(createResponse(req, 486, "Busy Here")));
    expect(events).toEqual(["200", "200"]);
    expect(wire.methods()).toEqual(["INVITE"]);
    timers.advance(32_000);
    expect(tx.state).toBe("Terminated");
  });

  it("a transport error terminates the transaction and tells the TU (§17.1.4)", () => {
    const { wire, tx, events } = setup(true);
    wire.fail = true;
    tx.start();
    expect(tx.state).toBe("Terminated");
    expect(events).toEqual(["transport-error"]);
  });

  it("snapshot keeps Timer B's absolute deadline; a resumed transaction times out on time", () => {
    const { timers, tx, req } = setup(true);
    tx.start();
    timers.advance(10_000);
    const snap = JSON.parse(JSON.stringify(tx.snapshot()));
    expect(snap).toEqual({ state: "Calling", timers: [{ name: "B", at: timers.now() + 22_000, interval: 32_000 }] });
    const again = user();
    const resumed = new InviteClientTransaction(req, again.u, { send: () => true, timers, clock: timers }, snap);
    tx.receiveResponse(reparse(createResponse(req, 100, "Trying"))); // the old one goes quiet
    timers.advance(21_999);
    expect(resumed.state).toBe("Calling");
    timers.advance(1);
    expect(again.events).toEqual(["timeout"]);
  });
});

describe("non-INVITE client transaction (RFC 3261 §17.1.2)", () => {
  it("over UDP retransmits on Timer E, doubling up to T2 while Trying", () => {
    const { timers, wire, tx } = setup(false, "MESSAGE");
    tx.start();
    const start = timers.now();
    const times: number[] = [];
    for (let t = 0; t < 16_000; t += 100) {
      const before = wire.messages.length;
      timers.advance(100);
      if (wire.messages.length > before) times.push(timers.now() - start);
    }
    expect(times).toEqual([500, 1500, 3500, 7500, 11_500, 15_500]);
  });

  it("in Proceeding retransmits every T2", () => {
    const { timers, wire, tx, req } = setup(false, "MESSAGE");
    tx.start();
    tx.receiveResponse(reparse(createResponse(req, 100, "Trying")));
    expect(tx.state).toBe("Proceeding");
    wire.clear();
    timers.advance(500); // Timer E was armed at T1 in Trying
    timers.advance(4000);
    timers.advance(4000);
    expect(wire.methods()).toEqual(["MESSAGE", "MESSAGE", "MESSAGE"]);
  });

  it("Timer F (64*T1) without a final response is a timeout", () => {
    const { timers, tx, events } = setup(true, "MESSAGE");
    tx.start();
    timers.advance(32_000);
    expect(events).toEqual(["timeout"]);
    expect(tx.state).toBe("Terminated");
  });

  it("a final response is passed up once; Timer K holds Completed for T4 over UDP, 0 over WS", () => {
    const udp = setup(false, "MESSAGE");
    udp.tx.start();
    const ok = reparse(createResponse(udp.req, 200, "OK"));
    udp.tx.receiveResponse(ok);
    udp.tx.receiveResponse(reparse(ok));
    expect(udp.events).toEqual(["200"]);
    expect(udp.tx.state).toBe("Completed");
    udp.timers.advance(5000);
    expect(udp.tx.state).toBe("Terminated");

    const ws = setup(true, "MESSAGE");
    ws.tx.start();
    ws.tx.receiveResponse(reparse(createResponse(ws.req, 404, "Not Found")));
    expect(ws.tx.state).toBe("Terminated");
    expect(ws.events).toEqual(["404"]);
  });
});

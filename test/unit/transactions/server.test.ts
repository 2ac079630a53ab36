import { describe, expect, it } from "vitest";
import { createResponse } from "../../../src/sip/response.ts";
import { InviteServerTransaction, NonInviteServerTransaction } from "../../../src/sip/transactions/server.ts";
import { FakeTimers, Wire, ack, invite, nonInvite, request } from "./helpers.ts";

const ackFor = (toTag: string): string => ack({ to: `<sip:bob@localhost>;tag=${toTag}` });

function inviteServer(reliable: boolean) {
  const timers = new FakeTimers();
  const wire = new Wire();
  const events: string[] = [];
  const req = request(invite());
  const tx = new InviteServerTransaction(
    req,
    { onTimeout: () => events.push("timeout"), onTransportError: () => events.push("transport-error") },
    { send: wire.send, timers, clock: timers, reliable },
  );
  return { timers, wire, events, req, tx };
}

describe("INVITE server transaction (RFC 3261 §17.2.1)", () => {
  it("starts in Proceeding and answers a retransmitted INVITE with the last provisional response", () => {
    const { wire, req, tx } = inviteServer(true);
    expect(tx.state).toBe("Proceeding");
    expect(tx.receiveRequest(request(invite()))).toBe("retransmission");
    expect(wire.messages).toHaveLength(0); // nothing sent yet, nothing to repeat
    tx.respond(createResponse(req, 100, "Trying"));
    tx.respond(createResponse(req, 180, "Ringing"));
    tx.receiveRequest(request(invite()));
    expect(wire.statuses()).toEqual([100, 180, 180]);
  });

  it("over UDP retransmits a 486 on Timer G (T1 doubling up to T2) until the ACK arrives", () => {
    const { timers, wire, req, tx } = inviteServer(false);
    tx.respond(createResponse(req, 486, "Busy Here", { toTag: "t1" }));
    expect(tx.state).toBe("Completed");
    timers.advance(500 + 1000 + 2000 + 4000 + 4000);
    expect(wire.statuses()).toEqual([486, 486, 486, 486, 486, 486]);
    expect(tx.receiveRequest(request(ackFor("t1")))).toBe("ack-absorbed");
    expect(tx.state).toBe("Confirmed");
    timers.advance(4000);
    expect(wire.statuses()).toHaveLength(6);
    // Timer I = T4 over UDP
    timers.advance(1000);
    expect(tx.state).toBe("Terminated");
  });

  it("over a reliable transport sends the final once and terminates as soon as the ACK arrives (Timer I = 0)", () => {
    const { timers, wire, req, tx } = inviteServer(true);
    tx.respond(createResponse(req, 486, "Busy Here", { toTag: "t1" }));
    timers.advance(10_000);
    expect(wire.statuses()).toEqual([486]);
    tx.receiveRequest(request(ackFor("t1")));
    expect(tx.state).toBe("Terminated");
  });

  it("a retransmitted INVITE in Completed gets the final response again", () => {
    const { wire, req, tx } = inviteServer(true);
    tx.respond(createResponse(req, 404, "Not Found"));
    tx.receiveRequest(request(invite()));
    expect(wire.statuses()).toEqual([404, 404]);
  });

  it("Timer H (64*T1) without an ACK reports a transaction failure to the TU", () => {
    const { timers, events, req, tx } = inviteServer(true);
    tx.respond(createResponse(req, 486, "Busy Here"));
    timers.advance(32_000);
    expect(events).toEqual(["timeout"]);
    expect(tx.state).toBe("Terminated");
  });

  it("a 2xx moves to Accepted (RFC 6026): INVITE retransmissions are absorbed, more 2xx go out, an ACK goes to the TU, Timer L ends it", () => {
    const { timers, wire, req, tx } = inviteServer(true);
    expect(tx.respond(createResponse(req, 200, "OK", { toTag: "a" }))).toBe(true);
    expect(tx.state).toBe("Accepted");
    expect(tx.receiveRequest(request(invite()))).toBe("retransmission");
    expect(tx.respond(createResponse(req, 200, "OK", { toTag: "b" }))).toBe(true);
    expect(tx.respond(createResponse(req, 486, "Busy Here"))).toBe(false);
    expect(wire.statuses()).toEqual([200, 200]);
    expect(tx.receiveRequest(request(ackFor("a")))).toBe("pass");
    timers.advance(32_000);
    expect(tx.state).toBe("Terminated");
  });

  it("a transport error while answering terminates it and tells the TU", () => {
    const { wire, events, req, tx } = inviteServer(true);
    wire.fail = true;
    expect(tx.respond(createResponse(req, 180, "Ringing"))).toBe(false);
    expect(tx.state).toBe("Terminated");
    expect(events).toEqual(["transport-error"]);
  });

  it("snapshot and resume keep the last provisional response for retransmissions", () => {
    const { timers, req, tx } = inviteServer(true);
    tx.respond(createResponse(req, 180, "Ringing"));
    const snap = JSON.parse(JSON.stringify(tx.snapshot()));
    const wire = new Wire();
    const resumed = new InviteServerTransaction(req, {}, { send: wire.send, timers, clock: timers }, snap);
    expect(resumed.state).toBe("Proceeding");
    resumed.receiveRequest(request(invite()));
    expect(wire.statuses()).toEqual([180]);
  });
});

describe("non-INVITE server transaction (RFC 3261 §17.2.2)", () => {
  function setup(reliable: boolean) {
    const timers = new FakeTimers();
    const wire = new Wire();
    const req = request(nonInvite("MESSAGE"));
    const tx = new NonInviteServerTransaction(req, {}, { send: wire.send, timers, clock: timers, reliable });
    return { timers, wire, req, tx };
  }

  it("discards retransmissions while Trying, repeats the provisional in Proceeding and the final in Completed", () => {
    const { wire, req, tx } = setup(false);
    expect(tx.state).toBe("Trying");
    tx.receiveRequest(request(nonInvite("MESSAGE")));
    expect(wire.messages).toHaveLength(0);
    tx.respond(createResponse(req, 182, "Queued"));
    expect(tx.state).toBe("Proceeding");
    tx.receiveRequest(request(nonInvite("MESSAGE")));
    tx.respond(createResponse(req, 200, "OK"));
    expect(tx.state).toBe("Completed");
    tx.receiveRequest(request(nonInvite("MESSAGE")));
    expect(wire.statuses()).toEqual([182, 182, 200, 200]);
  });

  it("discards a second final response from the TU", () => {
    const { wire, req, tx } = setup(false);
    tx.respond(createResponse(req, 200, "OK"));
    expect(tx.respond(createResponse(req, 500, "Server Internal Error"))).toBe(false);
    expect(wire.statuses()).toEqual([200]);
  });

  it("Timer J is 64*T1 over UDP and 0 over a reliable transport", () => {
    const udp = setup(false);
    udp.tx.respond(createResponse(udp.req, 200, "OK"));
    udp.timers.advance(31_999);
    expect(udp.tx.state).toBe("Completed");
    udp.timers.advance(1);
    expect(udp.tx.state).toBe("Terminated");
    const ws = setup(true);
    ws.tx.respond(createResponse(ws.req, 200, "OK"));
    expect(ws.tx.state).toBe("Terminated");
  });
});

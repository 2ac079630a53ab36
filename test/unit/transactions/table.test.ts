import { describe, expect, it } from "vitest";
import { createResponse } from "../../../src/sip/response.ts";
import { InviteClientTransaction, NonInviteClientTransaction } from "../../../src/sip/transactions/client.ts";
import { createCancel } from "../../../src/sip/transactions/requests.ts";
import { InviteServerTransaction, NonInviteServerTransaction } from "../../../src/sip/transactions/server.ts";
import { serverKey, TransactionTable } from "../../../src/sip/transactions/table.ts";
import { loadRequest, store } from "../../../src/modules/tm/stored.ts";
import { stampReceived } from "../../../src/routing/pipeline.ts";
import { RELIABLE_TIMERS, TIMER_C, UNRELIABLE_TIMERS } from "../../../src/sip/timers.ts";
import { FakeTimers, INV2543, Wire, ack2543, crlf, invite, nonInvite, reparse, request } from "./helpers.ts";

const ignore = { receiveResponse: () => {}, onTimeout: () => {}, onTransportError: () => {} };

function env() {
  const timers = new FakeTimers();
  const wire = new Wire();
  return { timers, wire, options: { send: wire.send, timers, clock: timers } };
}

describe("timer table (RFC 3261 table 4)", () => {
  it("over reliable transports D, I, J, K are 0; the timeouts B, F, H stay 64*T1", () => {
    expect(RELIABLE_TIMERS).toMatchObject({ TIMER_D: 0, TIMER_I: 0, TIMER_J: 0, TIMER_K: 0, TIMER_B: 32_000, TIMER_F: 32_000, TIMER_H: 32_000 });
    expect(UNRELIABLE_TIMERS).toMatchObject({ TIMER_A: 500, TIMER_D: 32_000, TIMER_I: 5000, TIMER_J: 32_000, TIMER_K: 5000, TIMER_L: 32_000 });
  });

  it("Timer C is greater than 3 minutes (§16.6 item 11)", () => {
    expect(TIMER_C).toBeGreaterThan(180_000);
  });
});

describe("matching requests to server transactions (§17.2.3)", () => {
  it("matches a retransmission by branch, sent-by and method, and an ACK to its INVITE", () => {
    const { options } = env();
    const table = new TransactionTable();
    const tx = new InviteServerTransaction(request(invite()), {}, options);
    expect(table.addServer(tx)).toBe(true);
    expect(table.matchServer(request(invite()))).toBe(tx);
    const ack = request(invite().replace("INVITE sip:bob", "ACK sip:bob").replace("1 INVITE", "1 ACK"));
    expect(table.matchServer(ack)).toBe(tx);
  });

  it("does not match another branch, another sent-by, or another method with the same branch", () => {
    const { options } = env();
    const table = new TransactionTable();
    table.addServer(new InviteServerTransaction(request(invite()), {}, options));
    expect(table.matchServer(request(invite({ branch: "z9hG4bKother" })))).toBeUndefined();
    expect(table.matchServer(request(invite().replace("df7jal23ls0d.invalid", "elsewhere.invalid")))).toBeUndefined();
    const cancel = createCancel(request(invite()));
    expect(table.matchServer(cancel)).toBeUndefined();
    // §9.2: a CANCEL finds the INVITE it cancels
    expect(table.matchCancelled(cancel)?.kind).toBe("invite-server");
  });

  it("RFC 2543 (RFC 4475 inv2543): a retransmitted INVITE without branch matches by R-URI, tags, Call-ID, CSeq and top Via", () => {
    const { options } = env();
    const table = new TransactionTable();
    const tx = new InviteServerTransaction(request(INV2543), {}, options);
    table.addServer(tx);
    expect(table.matchServer(request(INV2543))).toBe(tx);
    expect(table.matchServer(request(INV2543.replace("CSeq: 56", "CSeq: 57")))).toBeUndefined();
    expect(table.matchServer(request(INV2543.replace("iftgw.example.com", "other.example.com")))).toBeUndefined();
  });

  it("RFC 2543: the ACK matches only with the To tag of the response the transaction sent", () => {
    const { options } = env();
    const table = new TransactionTable();
    const invite2543 = request(INV2543);
    const tx = new InviteServerTransaction(invite2543, {}, options);
    table.addServer(tx);
    tx.respond(createResponse(invite2543, 486, "Busy Here", { toTag: "resp-tag" }));
    expect(table.matchServer(request(ack2543("other-tag")))).toBeUndefined();
    expect(table.matchServer(request(ack2543("resp-tag")))).toBe(tx);
    expect(tx.receiveRequest(request(ack2543("resp-tag")))).toBe("ack-absorbed");
  });

  it("RFC 2543: the ACK of a 2xx matches the Accepted transaction by the 2xx's To tag, all it keeps of the 2xx", () => {
    const { options, wire } = env();
    const table = new TransactionTable();
    const invite2543 = request(INV2543);
    const tx = new InviteServerTransaction(invite2543, {}, options);
    table.addServer(tx);
    tx.respond(createResponse(invite2543, 200, "OK", { toTag: "ok-tag" }));
    expect(tx.state).toBe("Accepted");
    expect(tx.lastResponse).toBeUndefined();
    expect(tx.acceptedToTag).toBe("ok-tag");
    expect(table.matchServer(request(ack2543("other-tag")))).toBeUndefined();
    expect(table.matchServer(request(ack2543("ok-tag")))).toBe(tx);
    expect(tx.receiveRequest(request(ack2543("ok-tag")))).toBe("pass");
    // A retransmitted INVITE is absorbed in Accepted (RFC 6026 §7.1): nothing is sent again.
    expect(tx.receiveRequest(request(INV2543))).toBe("retransmission");
    expect(wire.statuses()).toEqual([200]);
    // A snapshot keeps the tag, so a restored transaction still matches that ACK.
    const restored = new InviteServerTransaction(request(INV2543), {}, options, tx.snapshot());
    expect(restored.acceptedToTag).toBe("ok-tag");
    expect(new TransactionTable().addServer(restored)).toBe(true);
  });

  it("RFC 2543: the Request-URI and top Via count as they arrived, not as the stamp and the script left them", () => {
    const { options } = env();
    const table = new TransactionTable();
    // The pipeline stamps received= (the Via names a host, not the source address) and the script
    // rewrites the Request-URI (lookup) before t_relay creates the transaction.
    const first = request(INV2543);
    stampReceived(first, { transport: "udp", ip: "192.0.2.10", port: 5060 });
    first.uri = "sip:userb@192.0.2.77:5062";
    const tx = new InviteServerTransaction(first, {}, options);
    expect(table.addServer(tx)).toBe(true);
    expect(first.headers.get("via")).toContain("received=192.0.2.10");
    // The same INVITE resent through another address, stamped with that one, is a retransmission...
    const resent = request(INV2543);
    stampReceived(resent, { transport: "udp", ip: "192.0.2.11", port: 5060 });
    expect(table.matchServer(resent)).toBe(tx);
    expect(table.matchServer(request(INV2543))).toBe(tx);
    // ...its CANCEL (the original Request-URI, §9.1) finds it...
    const cancel = request(INV2543.replace("INVITE sip:UserB", "CANCEL sip:UserB").replace("56 INVITE", "56 CANCEL").replace(/\r\n\r\nv=0[^]*$/, "\r\nContent-Length: 0\r\n\r\n"));
    expect(table.matchCancelled(cancel)).toBe(tx);
    // ...and a snapshot's copy of the request keeps the key (durable-objects restore tm from it).
    const copy = loadRequest(store(first));
    expect(copy?.uri).toBe("sip:userb@192.0.2.77:5062");
    expect(copy && serverKey(copy)).toBe(tx.key);
    // A different top Via as sent is another transaction, whatever the stamp.
    expect(table.matchServer(request(INV2543.replace("iftgw.example.com", "iftgw.example.com:5070")))).toBeUndefined();
  });

  it("RFC 2543: a CANCEL finds its INVITE by the same fields", () => {
    const { options } = env();
    const table = new TransactionTable();
    const tx = new InviteServerTransaction(request(INV2543), {}, options);
    table.addServer(tx);
    const cancel = request(
      crlf(
        "CANCEL sip:UserB@example.com SIP/2.0",
        "Via: SIP/2.0/UDP iftgw.example.com",
        "From: <sip:+13035551111@ift.client.example.net;user=phone>",
        "To: sip:+16505552222@ss1.example.net;user=phone",
        "Call-ID: inv2543.1717@ift.client.example.com",
        "CSeq: 56 CANCEL",
        "Content-Length: 0",
        "",
        "",
      ),
    );
    expect(table.matchCancelled(cancel)).toBe(tx);
  });

  it("forgets a transaction when it terminates", () => {
    const { options } = env();
    const table = new TransactionTable();
    const req = request(nonInvite("MESSAGE"));
    const tx = new NonInviteServerTransaction(req, {}, options);
    table.addServer(tx);
    expect(table.serverCount).toBe(1);
    tx.respond(createResponse(req, 200, "OK")); // reliable: Timer J = 0
    expect(table.serverCount).toBe(0);
  });
});

describe("matching responses to client transactions (§17.1.3)", () => {
  it("uses the top Via branch and the CSeq method, so the 200 to a CANCEL does not end its INVITE", () => {
    const { options } = env();
    const table = new TransactionTable();
    const inv = request(invite({ branch: "z9hG4bKclient1" }));
    const invTx = new InviteClientTransaction(inv, ignore, options);
    const cancel = createCancel(inv);
    const cancelTx = new NonInviteClientTransaction(cancel, ignore, options);
    table.addClient(invTx);
    table.addClient(cancelTx);
    expect(table.matchClient(reparse(createResponse(cancel, 200, "OK")))).toBe(cancelTx);
    expect(table.matchClient(reparse(createResponse(inv, 487, "Request Terminated")))).toBe(invTx);
    expect(table.matchClient(reparse(createResponse(request(invite({ branch: "z9hG4bKnope" })), 200, "OK")))).toBeUndefined();
  });
});

describe("CANCEL construction (§9.1)", () => {
  it("copies Request-URI, Call-ID, To, From, CSeq number and Route; one Via equal to the request's top Via", () => {
    const inv = request(invite({ extra: ["Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>"] }));
    const cancel = reparse(createCancel(inv, [["Reason", 'SIP;cause=200;text="Call completed elsewhere"']]));
    expect(cancel.method).toBe("CANCEL");
    expect(cancel.uri).toBe(inv.uri);
    expect(cancel.headers.getAll("via")).toEqual([inv.headers.get("via")]);
    expect(cancel.headers.get("to")).toBe(inv.headers.get("to"));
    expect(cancel.headers.get("from")).toBe(inv.headers.get("from"));
    expect(cancel.cseq).toEqual({ seq: 1, method: "CANCEL" });
    expect(cancel.headers.getAll("route")).toEqual(["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]);
    expect(cancel.headers.get("reason")).toBe('SIP;cause=200;text="Call completed elsewhere"');
  });
});

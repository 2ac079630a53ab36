import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Address } from "../../../bridge/frame.ts";
import { ServerTransactions, type ServerTransaction } from "../../../bridge/server.ts";
import { GATEWAY_VIA, bytes, request, response, responseText, text } from "./messages.ts";

const GATEWAY: Address = { address: "127.0.0.1", port: 7070 };

function setup() {
  const sent: { at: number; data: string }[] = [];
  const noAck: ServerTransaction[] = [];
  const start = Date.now();
  const server = new ServerTransactions(
    { send: (_to, data) => sent.push({ at: Date.now() - start, data: text(data) }), ackTimedOut: (tx) => noAck.push(tx) },
    1000,
  );
  const fromGateway = (method = "INVITE", via = GATEWAY_VIA) => server.request(request({ method, via }));
  const fromEdge = (status: number, method = "INVITE") => {
    const spec = { status, method, via: GATEWAY_VIA, toTag: "edge" };
    server.response(response(spec), bytes(responseText(spec)), GATEWAY);
  };
  return { server, sent, noAck, fromGateway, fromEdge };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("requests gateways send over UDP", () => {
  it("the first copy goes to the edge; a retransmission before any response is absorbed silently", () => {
    const { sent, fromGateway } = setup();
    expect(fromGateway()).toBe("forward");
    expect(fromGateway()).toBe("absorb");
    expect(sent).toHaveLength(0);
  });

  it("a retransmitted request is answered with the last response the edge sent", () => {
    const { sent, fromGateway, fromEdge } = setup();
    fromGateway();
    fromEdge(100);
    fromEdge(180);
    expect(fromGateway()).toBe("absorb");
    expect(sent.map((s) => s.data.split("\r\n")[0])).toEqual(["SIP/2.0 100 Ringing", "SIP/2.0 180 Ringing", "SIP/2.0 180 Ringing"]);
  });

  it("a non-2xx final to an INVITE is retransmitted on Timer G (doubling to T2) until the ACK, which is absorbed", () => {
    const { server, sent, fromGateway, fromEdge } = setup();
    fromGateway();
    fromEdge(486);
    vi.advanceTimersByTime(8_000);
    expect(sent.map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500]);
    expect(fromGateway("ACK")).toBe("absorb");
    expect(fromGateway("ACK")).toBe("absorb"); // Confirmed absorbs ACK retransmissions
    vi.advanceTimersByTime(20_000);
    expect(sent).toHaveLength(5);
    expect(server.table.size).toBe(0); // Timer I (T4) ended it
  });

  it("without an ACK, Timer G stops at Timer H (64*T1) and the bridge reports it", () => {
    const { sent, noAck, fromGateway, fromEdge } = setup();
    fromGateway();
    fromEdge(503);
    vi.advanceTimersByTime(40_000);
    // T1-doubling to T2, then every T2, until 32 s.
    expect(sent.map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(noAck).toHaveLength(1);
  });

  it("after a 2xx the bridge does not retransmit it, answers INVITE retransmissions with it, and passes the ACK on", () => {
    const { sent, fromGateway, fromEdge } = setup();
    fromGateway();
    fromEdge(200);
    vi.advanceTimersByTime(5_000);
    expect(sent).toHaveLength(1);
    expect(fromGateway()).toBe("absorb");
    expect(sent).toHaveLength(2);
    expect(fromGateway("ACK", "SIP/2.0/UDP 127.0.0.1:7070;branch=z9hG4bKack2xx")).toBe("forward");
  });

  it("a non-INVITE final answers retransmissions during Timer J, after which the request is new again", () => {
    const { sent, fromGateway, fromEdge } = setup();
    fromGateway("OPTIONS");
    fromEdge(200, "OPTIONS");
    expect(fromGateway("OPTIONS")).toBe("absorb");
    expect(sent).toHaveLength(2);
    vi.advanceTimersByTime(32_000);
    expect(fromGateway("OPTIONS")).toBe("forward");
  });

  it("requests with the same branch from different sent-by addresses are different transactions", () => {
    const { fromGateway } = setup();
    expect(fromGateway("OPTIONS", "SIP/2.0/UDP 127.0.0.1:7070;branch=z9hG4bKsame")).toBe("forward");
    expect(fromGateway("OPTIONS", "SIP/2.0/UDP 127.0.0.1:7072;branch=z9hG4bKsame")).toBe("forward");
  });

  it("a CANCEL is its own transaction beside the INVITE it cancels", () => {
    const { fromGateway } = setup();
    expect(fromGateway("INVITE")).toBe("forward");
    expect(fromGateway("CANCEL")).toBe("forward");
    expect(fromGateway("CANCEL")).toBe("absorb");
  });

  it("a request the bridge could not deliver is forgotten, so its retransmission is delivered", () => {
    const { server, fromGateway } = setup();
    fromGateway("OPTIONS");
    server.forget(request({ method: "OPTIONS", via: GATEWAY_VIA }));
    expect(fromGateway("OPTIONS")).toBe("forward");
  });

  it("an INVITE the edge never answers is forgotten after max_inv_lifetime (180 s)", () => {
    const { server, fromGateway } = setup();
    fromGateway("INVITE");
    vi.advanceTimersByTime(179_000);
    expect(server.table.size).toBe(1);
    vi.advanceTimersByTime(1_000);
    expect(server.table.size).toBe(0);
  });

  it("a response without a matching transaction is still sent", () => {
    const { sent, fromEdge } = setup();
    fromEdge(200, "BYE");
    expect(sent).toHaveLength(1);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClientTransactions, type ClientTransaction } from "../../../bridge/client.ts";
import type { Address } from "../../../bridge/frame.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { EDGE_VIA, bytes, request, requestText, response, text } from "./messages.ts";

const GATEWAY: Address = { address: "127.0.0.1", port: 7070 };

function setup(maxEntries = 1000) {
  const sent: { at: number; data: string }[] = [];
  const timeouts: ClientTransaction[] = [];
  const start = Date.now();
  const client = new ClientTransactions(
    {
      send: (_to, data) => sent.push({ at: Date.now() - start, data: text(data) }),
      timedOut: (tx) => timeouts.push(tx),
    },
    maxEntries,
  );
  const send = (method = "INVITE", link = 0, extra: Parameters<typeof request>[0] = {}) => {
    const spec = { method, ...extra };
    client.request(request(spec), bytes(requestText(spec)), GATEWAY, link);
  };
  return { client, sent, timeouts, send };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("requests the edge sends over UDP", () => {
  it("an unanswered INVITE is retransmitted on Timer A (T1 doubling) and times out on Timer B at 64*T1", () => {
    const { client, sent, timeouts, send } = setup();
    send("INVITE");
    vi.advanceTimersByTime(32_000);
    // RFC 3261 §17.1.1.2: sends at 0, then 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s: seven copies.
    expect(sent.map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(timeouts).toHaveLength(1);
    expect(timeouts[0]).toMatchObject({ method: "INVITE", branch: "z9hG4bKedge1", callId: "call-1@test", link: 0 });
    expect(client.table.size).toBe(0);
  });

  it("an unanswered non-INVITE is retransmitted on Timer E (doubling, capped at T2) until Timer F", () => {
    const { sent, timeouts, send } = setup();
    send("OPTIONS");
    vi.advanceTimersByTime(32_000);
    expect(sent.map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(timeouts.map((t) => t.method)).toEqual(["OPTIONS"]);
  });

  it("a provisional response stops INVITE retransmissions and Timer B", () => {
    const { client, sent, timeouts, send } = setup();
    send("INVITE");
    vi.advanceTimersByTime(600);
    expect(client.response(response({ status: 100 }))).toEqual({ forward: true, link: 0 });
    vi.advanceTimersByTime(60_000);
    expect(sent).toHaveLength(2);
    expect(timeouts).toHaveLength(0);
  });

  it("a provisional response to a non-INVITE keeps retransmissions going at T2", () => {
    const { client, sent, send } = setup();
    send("OPTIONS");
    client.response(response({ status: 100, method: "OPTIONS" }));
    vi.advanceTimersByTime(10_000);
    // Timer E was armed for 500 ms before the 100 came; from then on every T2 (4 s).
    expect(sent.map((s) => s.at)).toEqual([0, 500, 4500, 8500]);
  });

  it("repeated provisional responses pass once, a different one (new status, tag or RSeq) passes too", () => {
    const { client, send } = setup();
    send("INVITE");
    const verdicts = [
      client.response(response({ status: 100 })),
      client.response(response({ status: 100 })),
      client.response(response({ status: 180, toTag: "a" })),
      client.response(response({ status: 180, toTag: "a" })),
      client.response(response({ status: 180, toTag: "b" })),
      client.response(response({ status: 183, toTag: "a", rseq: 1 })),
      client.response(response({ status: 183, toTag: "a", rseq: 1 })),
      client.response(response({ status: 183, toTag: "a", rseq: 2 })),
    ];
    expect(verdicts.map((v) => v.forward)).toEqual([true, false, true, false, true, true, false, true]);
  });

  it("a non-2xx final to an INVITE is ACKed by the bridge per §17.1.1.3 and forwarded once", () => {
    const { client, sent, send } = setup();
    send("INVITE", 3, { routes: ["<sip:127.0.0.9;lr>"] });
    expect(client.response(response({ status: 503, toTag: "gw" }))).toEqual({ forward: true, link: 3 });
    const ack = sent[1]?.data ?? "";
    const parsed = parseMessage(ack);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok || parsed.message.kind !== "request") return;
    const m = parsed.message;
    expect(m.method).toBe("ACK");
    expect(m.uri).toBe("sip:+15551234@127.0.0.1:7070");
    expect(m.headers.getAll("via")).toEqual([EDGE_VIA]);
    expect(m.headers.getAll("route")).toEqual(["<sip:127.0.0.9;lr>"]);
    expect(m.to().params.get("tag")).toBe("gw");
    expect(m.from().params.get("tag")).toBe("from1");
    expect(m.cseq).toEqual({ seq: 1, method: "ACK" });
    expect(m.callId).toBe("call-1@test");
  });

  it("a retransmitted non-2xx final gets the ACK again and is absorbed; the edge's own ACK is absorbed", () => {
    const { client, sent, send } = setup();
    send("INVITE");
    client.response(response({ status: 486, toTag: "gw" }));
    expect(client.response(response({ status: 486, toTag: "gw" }))).toEqual({ forward: false });
    expect(sent.filter((s) => s.data.startsWith("ACK "))).toHaveLength(2);
    send("ACK");
    expect(sent.filter((s) => s.data.startsWith("ACK "))).toHaveLength(2);
    vi.advanceTimersByTime(32_000); // Timer D
    expect(client.table.size).toBe(0);
    expect(sent.filter((s) => s.data.startsWith("INVITE "))).toHaveLength(1);
  });

  it("retransmitted 2xx responses to an INVITE are all forwarded (RFC 6026), late provisionals are not", () => {
    const { client, send } = setup();
    send("INVITE", 1);
    client.response(response({ status: 180, toTag: "gw" }));
    expect(client.response(response({ status: 200, toTag: "gw" }))).toEqual({ forward: true, link: 1 });
    expect(client.response(response({ status: 200, toTag: "gw" }))).toEqual({ forward: true, link: 1 });
    expect(client.response(response({ status: 200, toTag: "fork2" }))).toEqual({ forward: true, link: 1 });
    expect(client.response(response({ status: 183, toTag: "gw" }))).toEqual({ forward: false });
    vi.advanceTimersByTime(32_000); // Timer M
    expect(client.table.size).toBe(0);
    // Past Timer M the bridge knows nothing: the 2xx still goes on, to a shard chosen by the caller.
    expect(client.response(response({ status: 200, toTag: "gw" }))).toEqual({ forward: true, link: undefined });
  });

  it("a final response lets go of the request: the transactions kept for Timers M, D and K hold no bytes of it", () => {
    const sent: string[] = [];
    const txs: ClientTransaction[] = [];
    const client = new ClientTransactions(
      {
        send: (_to, data, tx) => {
          sent.push(text(data));
          if (tx !== undefined) txs.push(tx);
        },
        timedOut: () => {},
      },
      100,
    );
    const via = (branch: string) => `SIP/2.0/UDP 127.0.0.1:5060;branch=${branch};rport`;
    for (const [method, branch] of [["INVITE", "z9hG4bKok"], ["INVITE", "z9hG4bKbusy"], ["BYE", "z9hG4bKbye"]] as const) {
      const spec = { method, via: via(branch) };
      client.request(request(spec), bytes(requestText(spec)), GATEWAY, 2);
    }
    const kept = () => txs.map((tx) => ({ method: tx.method, state: tx.state, bytes: tx.data.length, request: tx.request }));
    expect(kept().every((k) => k.bytes > 0)).toBe(true);
    client.response(response({ status: 200, toTag: "gw", via: via("z9hG4bKok") }));
    client.response(response({ status: 486, toTag: "gw", via: via("z9hG4bKbusy") }));
    client.response(response({ status: 200, method: "BYE", via: via("z9hG4bKbye") }));
    expect(kept()).toEqual([
      { method: "INVITE", state: "Accepted", bytes: 0, request: undefined },
      { method: "INVITE", state: "Completed", bytes: 0, request: undefined },
      { method: "BYE", state: "Completed", bytes: 0, request: undefined },
    ]);
    expect(client.table.size).toBe(3);
    // What those states still do needs none of it: the 486's ACK again, each 2xx to its shard.
    expect(client.response(response({ status: 486, toTag: "gw", via: via("z9hG4bKbusy") }))).toEqual({ forward: false });
    const acks = sent.filter((s) => s.startsWith("ACK "));
    expect(acks).toHaveLength(2);
    expect(acks[1]).toBe(acks[0]);
    expect(client.response(response({ status: 200, toTag: "gw", via: via("z9hG4bKok") }))).toEqual({ forward: true, link: 2 });
    vi.advanceTimersByTime(60_000);
    expect(sent.filter((s) => !s.startsWith("ACK "))).toHaveLength(3); // nothing retransmitted
    expect(client.table.size).toBe(0);
  });

  it("an ACK for a 2xx (its own branch) goes to the gateway once, without state", () => {
    const { client, sent, send } = setup();
    send("ACK", 0, { via: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKack2xx" });
    vi.advanceTimersByTime(10_000);
    expect(sent).toHaveLength(1);
    expect(client.table.size).toBe(0);
  });

  it("a retransmitted final to a non-INVITE is absorbed during Timer K (T4)", () => {
    const { client, send } = setup();
    send("BYE");
    expect(client.response(response({ status: 200, method: "BYE" })).forward).toBe(true);
    expect(client.response(response({ status: 200, method: "BYE" })).forward).toBe(false);
    vi.advanceTimersByTime(5_000);
    expect(client.table.size).toBe(0);
  });

  it("a CANCEL shares the INVITE's branch but is its own transaction (matched by CSeq method)", () => {
    const { client, sent, send } = setup();
    send("INVITE");
    client.response(response({ status: 180, toTag: "gw" }));
    send("CANCEL");
    expect(client.table.size).toBe(2);
    expect(client.response(response({ status: 200, method: "CANCEL" })).forward).toBe(true);
    expect(client.response(response({ status: 487, toTag: "gw" })).forward).toBe(true);
    vi.advanceTimersByTime(1_000);
    expect(sent.filter((s) => s.data.startsWith("CANCEL "))).toHaveLength(1);
    expect(sent.filter((s) => s.data.startsWith("INVITE "))).toHaveLength(1);
  });

  it("the edge resending a request in progress sends it again without a second transaction", () => {
    const { client, sent, send } = setup();
    send("OPTIONS");
    send("OPTIONS");
    expect(sent).toHaveLength(2);
    expect(client.table.size).toBe(1);
  });

  it("a request without an RFC 3261 branch is sent once, statelessly", () => {
    const { client, sent, send } = setup();
    send("OPTIONS", 0, { via: "SIP/2.0/UDP 127.0.0.1:5060;branch=old2543" });
    vi.advanceTimersByTime(5_000);
    expect(sent).toHaveLength(1);
    expect(client.table.size).toBe(0);
  });

  it("the table is bounded: the oldest transaction makes room and stops retransmitting", () => {
    const { client, sent, send } = setup(2);
    for (const n of [1, 2, 3]) send("OPTIONS", 0, { via: `SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn${n}` });
    expect(client.table.size).toBe(2);
    expect(client.table.evicted).toBe(1);
    vi.advanceTimersByTime(500);
    expect(sent.slice(3).map((s) => /branch=(\w+)/.exec(s.data)?.[1])).toEqual(["z9hG4bKn2", "z9hG4bKn3"]);
  });
});

import { describe, expect, it } from "vitest";
import { MAX_BATCH, decodeBatch, encodeBatch, isBatch, type OutRecord } from "../../../src/transport/bridge-batch.ts";
import { LinkSender, chooseSubprotocol, parseBridgeFrames, type LinkSocket } from "../../../src/transport/bridge.ts";
import { parseMessage } from "../../../src/sip/parser.ts";

// The v2 batch frame (bridge/README.md, "Batch frames"): 0x00, then records
// `flags | length (u32 BE) | v1 frame`, flag 0x01 = the record's bytes are not UTF-8.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const response = (status: number, callId: string) =>
  `SIP/2.0 ${status} OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK${callId}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\n` +
  `Call-ID: ${callId}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`;

/** A MESSAGE with an ISO-8859-1 body ("café", é = 0xE9): not valid UTF-8. */
function latin1Datagram(): Uint8Array {
  const head = encoder.encode("MESSAGE sip:u@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7072;branch=z9hG4bKl1\r\nFrom: <sip:g@x>;tag=1\r\nTo: <sip:u@x>\r\nCall-ID: l1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\n");
  const out = new Uint8Array(head.length + 4);
  out.set(head);
  out.set([0x63, 0x61, 0x66, 0xe9], head.length);
  return out;
}

function recorder(): { ws: LinkSocket; sent: (string | Uint8Array)[] } {
  const sent: (string | Uint8Array)[] = [];
  return { ws: { send: (data) => void sent.push(data) }, sent };
}

/** A scheduler run by hand: the test decides when "the end of the turn" is. */
function manualTurn(): { schedule: (f: () => void) => void; end: () => void; pending: () => number } {
  const tasks: (() => void)[] = [];
  return { schedule: (f) => void tasks.push(f), end: () => tasks.splice(0).forEach((f) => f()), pending: () => tasks.length };
}

const bufferOf = (frame: string | Uint8Array): ArrayBuffer => (frame as Uint8Array).slice().buffer;

describe("batch codec", () => {
  it("round trip: records come back whole and in order, text and binary, and share the frame's memory", () => {
    const records: OutRecord[] = [
      { head: "127.0.0.1:7070\r\n", body: encoder.encode(response(100, "c1")), binary: false },
      { head: "", body: encoder.encode('{"type":"timeout","branch":"z9hG4bKx","method":"INVITE"}'), binary: false },
      { head: "[::1]:5062\r\n", body: latin1Datagram(), binary: true },
    ];
    const frame = encodeBatch(records);
    expect(isBatch(frame)).toBe(true);
    expect(frame.length).toBe(1 + records.reduce((n, r) => n + 5 + r.head.length + r.body.length, 0));
    const { records: back, error } = decodeBatch(frame);
    expect(error).toBeUndefined();
    expect(back.map((r) => r.binary)).toEqual([false, false, true]);
    expect(decoder.decode(back[0]?.data)).toBe("127.0.0.1:7070\r\n" + response(100, "c1"));
    expect(decoder.decode(back[1]?.data)).toBe('{"type":"timeout","branch":"z9hG4bKx","method":"INVITE"}');
    expect([...(back[2]?.data ?? [])]).toEqual([...encoder.encode("[::1]:5062\r\n"), ...latin1Datagram()]);
    expect(back[0]?.data.buffer).toBe(frame.buffer);
  });

  it("the edge reads a batch as its v1 frames: datagrams with their source, control frames, non-UTF-8 bytes unchanged", () => {
    const frame = encodeBatch([
      { head: "127.0.0.1:7070\r\n", body: encoder.encode(response(180, "c2")), binary: false },
      { head: "127.0.0.1:7072\r\n", body: latin1Datagram(), binary: true },
      { head: "", body: encoder.encode('{"type":"hello","bridge":"b1","advertise":"127.0.0.1:5060"}'), binary: false },
    ]);
    const frames = parseBridgeFrames(bufferOf(frame));
    expect(frames.map((f) => f.kind)).toEqual(["datagram", "datagram", "hello"]);
    expect(frames[0]).toMatchObject({ address: "127.0.0.1:7070", ip: "127.0.0.1", port: 7070, message: response(180, "c2") });
    const binary = frames[1];
    expect(binary?.kind === "datagram" && binary.message instanceof Uint8Array).toBe(true);
    if (binary?.kind === "datagram") {
      expect([...(binary.message as Uint8Array)]).toEqual([...latin1Datagram()]);
      const parsed = parseMessage(binary.message);
      expect(parsed.ok && parsed.message.callId).toBe("l1");
    }
  });

  it("a malformed batch is refused with a reason; the whole records before the damage still arrive", () => {
    const good = encodeBatch([
      { head: "127.0.0.1:7070\r\n", body: encoder.encode(response(200, "c3")), binary: false },
      { head: "127.0.0.1:7070\r\n", body: encoder.encode(response(200, "c4")), binary: false },
    ]);
    const cut = good.subarray(0, good.length - 10);
    expect(decodeBatch(cut)).toMatchObject({ error: expect.stringMatching(/^record 2: length \d+ beyond the frame$/) });
    expect(decodeBatch(cut).records).toHaveLength(1);
    const frames = parseBridgeFrames(bufferOf(cut));
    expect(frames.map((f) => f.kind)).toEqual(["datagram", "invalid"]);
    expect(frames[1]).toEqual({ kind: "invalid", reason: expect.stringContaining("batch frame: record 2: length") });

    expect(decodeBatch(Uint8Array.of(0)).error).toBe("empty batch");
    expect(decodeBatch(Uint8Array.of(0, 0, 0, 0)).error).toBe("record 1: truncated header");
    expect(decodeBatch(Uint8Array.of(0, 0, 0, 0, 0, 0)).error).toBe("record 1: empty");
    expect(decodeBatch(Uint8Array.of(0, 0x80, 0, 0, 0, 1, 0x41)).error).toBe("record 1: unknown flags 0x80");
    expect(decodeBatch(Uint8Array.of(0, 0, 0xff, 0xff, 0xff, 0xff, 0x41)).error).toBe("record 1: length 4294967295 beyond the frame");
  });

  it("a record that is not a valid v1 frame is refused alone; the records after it are read", () => {
    const frame = encodeBatch([
      { head: "", body: encoder.encode("no address line"), binary: false },
      { head: "127.0.0.1:7070\r\n", body: encoder.encode(response(200, "c5")), binary: false },
    ]);
    expect(parseBridgeFrames(bufferOf(frame)).map((f) => f.kind)).toEqual(["invalid", "datagram"]);
  });
});

describe("the edge's link sender", () => {
  it("v2: a frame on an idle link leaves at once; what follows in its window leaves as one batch, in order", () => {
    const { ws, sent } = recorder();
    const turn = manualTurn();
    const link = new LinkSender(ws, true, turn.schedule);
    link.datagram("127.0.0.1:7070", "INVITE sip:1@x SIP/2.0\r\n\r\n");
    expect(sent).toEqual(["127.0.0.1:7070\r\nINVITE sip:1@x SIP/2.0\r\n\r\n"]); // no wait on an idle link
    link.control('{"type":"rtpengine","id":"1"}');
    link.datagram("127.0.0.1:7072", "BYE sip:2@x SIP/2.0\r\n\r\n");
    expect(sent).toHaveLength(1);
    expect(turn.pending()).toBe(1); // one flush per window, however many frames
    turn.end();
    expect(sent).toHaveLength(2);
    const records = decodeBatch(sent[1] as Uint8Array).records.map((r) => decoder.decode(r.data));
    expect(records).toEqual(['{"type":"rtpengine","id":"1"}', "127.0.0.1:7072\r\nBYE sip:2@x SIP/2.0\r\n\r\n"]);

    // The flush found frames, so the window stays open: the next frame waits for the next flush.
    link.datagram("127.0.0.1:7070", "ACK sip:1@x SIP/2.0\r\n\r\n");
    expect(sent).toHaveLength(2);
    turn.end();
    expect(sent[2]).toBe("127.0.0.1:7070\r\nACK sip:1@x SIP/2.0\r\n\r\n"); // alone in its window: plain v1
    // A flush that finds nothing closes the window: the link is idle, the next frame leaves at once.
    turn.end();
    expect(turn.pending()).toBe(0);
    link.datagram("127.0.0.1:7070", "OPTIONS sip:x SIP/2.0\r\n\r\n");
    expect(sent[3]).toBe("127.0.0.1:7070\r\nOPTIONS sip:x SIP/2.0\r\n\r\n");
    expect({ messages: link.messages, frames: link.frames }).toEqual({ messages: 4, frames: 5 });
  });

  it("a turn that sends more than a batch may hold (64 KiB) sends several frames, none over the limit, nothing lost", () => {
    const { ws, sent } = recorder();
    const turn = manualTurn();
    const link = new LinkSender(ws, true, turn.schedule);
    const big = (n: number) => `MESSAGE sip:${n}@x SIP/2.0\r\nContent-Length: 30000\r\n\r\n${"x".repeat(30_000)}`;
    link.datagram("127.0.0.1:7070", big(0)); // opens the window
    for (let n = 1; n <= 3; n++) link.datagram("127.0.0.1:7070", big(n));
    turn.end();
    expect(sent).toHaveLength(3);
    expect((sent[1] as Uint8Array).length).toBeLessThanOrEqual(MAX_BATCH);
    expect(decodeBatch(sent[1] as Uint8Array).records.map((r) => decoder.decode(r.data))).toEqual([1, 2].map((n) => "127.0.0.1:7070\r\n" + big(n)));
    expect(sent[2]).toBe("127.0.0.1:7070\r\n" + big(3)); // alone: a plain v1 text frame
  });

  it("v1: every frame leaves at once, on its own", () => {
    const { ws, sent } = recorder();
    const turn = manualTurn();
    const link = new LinkSender(ws, false, turn.schedule);
    link.datagram("127.0.0.1:7070", "INVITE sip:1@x SIP/2.0\r\n\r\n");
    link.datagram("127.0.0.1:7072", "BYE sip:2@x SIP/2.0\r\n\r\n");
    expect(sent).toEqual(["127.0.0.1:7070\r\nINVITE sip:1@x SIP/2.0\r\n\r\n", "127.0.0.1:7072\r\nBYE sip:2@x SIP/2.0\r\n\r\n"]);
    expect(turn.pending()).toBe(0);
  });

  it("a binary message in a batch keeps its bytes and its binary flag", () => {
    const parsed = parseMessage(latin1Datagram());
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const { ws, sent } = recorder();
    const turn = manualTurn();
    const link = new LinkSender(ws, true, turn.schedule);
    link.datagram("127.0.0.1:7070", "OPTIONS sip:x SIP/2.0\r\n\r\n"); // opens the window
    link.datagram("127.0.0.1:7072", parsed.message);
    link.datagram("127.0.0.1:7070", "OPTIONS sip:x SIP/2.0\r\n\r\n");
    turn.end();
    const [first, second] = decodeBatch(sent[1] as Uint8Array).records;
    expect(first?.binary).toBe(true);
    expect([...(first?.data ?? [])]).toEqual([...encoder.encode("127.0.0.1:7072\r\n"), ...latin1Datagram()]);
    expect(second?.binary).toBe(false);
  });

  it("the edge picks v2 when the bridge offers it, v1 for an older bridge, nothing for a stranger", () => {
    expect(chooseSubprotocol("sipedge-bridge.v2, sipedge-bridge.v1")).toBe("sipedge-bridge.v2");
    expect(chooseSubprotocol("sipedge-bridge.v1")).toBe("sipedge-bridge.v1");
    expect(chooseSubprotocol("sip")).toBeUndefined();
    expect(chooseSubprotocol(null)).toBeUndefined();
  });
});

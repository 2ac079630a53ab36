import { describe, expect, it } from "vitest";
import { parseMessage } from "../../../src/sip/parser.ts";
import { BridgeTransport, LinkSender, formatHostPort, type LinkSocket, parseBridgeFrame, parseHostPort } from "../../../src/transport/bridge.ts";

// The edge side of the bridge link (bridge/README.md, `sipedge-bridge.v1`): a datagram frame is
// `<source or destination address>\r\n<SIP message>`, UTF-8 datagrams in text frames and any
// other bytes in binary frames; control frames are JSON objects.

const OPTIONS = [
  "OPTIONS sip:127.0.0.1:5060 SIP/2.0",
  "Via: SIP/2.0/UDP 127.0.0.1:7070;branch=z9hG4bKgw1",
  "Max-Forwards: 70",
  "From: <sip:gw@127.0.0.1:7070>;tag=1928301774",
  "To: <sip:127.0.0.1:5060>",
  "Call-ID: a84b4c76e66710@127.0.0.1",
  "CSeq: 63104 OPTIONS",
  "Content-Length: 0",
  "",
  "",
].join("\r\n");

/** A MESSAGE from a gateway with an ISO-8859-1 body ("café" with é = 0xE9): not valid UTF-8. */
function latin1Message(): Uint8Array {
  const head = [
    "MESSAGE sip:user0303@localhost SIP/2.0",
    "Via: SIP/2.0/UDP 127.0.0.1:7072;branch=z9hG4bKlatin1",
    "Max-Forwards: 70",
    "From: <sip:15550001111@127.0.0.1:7072>;tag=49583",
    "To: <sip:user0303@localhost>",
    "Call-ID: 98asjd8@127.0.0.1",
    "CSeq: 1 MESSAGE",
    "Content-Type: text/plain;charset=ISO-8859-1",
    "Content-Length: 4",
    "",
    "",
  ].join("\r\n");
  return new Uint8Array([...new TextEncoder().encode(head), 0x63, 0x61, 0x66, 0xe9]);
}

function concat(...parts: Uint8Array[]): ArrayBuffer {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out.buffer;
}

/** The part of a WebSocket the edge uses to write to a bridge: what it was given, in order. */
function fakeSocket(): { ws: LinkSocket; sent: (string | Uint8Array)[] } {
  const sent: (string | Uint8Array)[] = [];
  return { ws: { send: (data: string | Uint8Array) => void sent.push(data) }, sent };
}

describe("source and destination addresses", () => {
  it("ip:port and [IPv6]:port parse to host and port, and format back to the same text", () => {
    expect(parseHostPort("127.0.0.1:7070")).toEqual({ host: "127.0.0.1", port: 7070 });
    expect(parseHostPort("[::1]:5062")).toEqual({ host: "::1", port: 5062 });
    expect(parseHostPort("[2001:db8::10]:5060")).toEqual({ host: "2001:db8::10", port: 5060 });
    for (const text of ["127.0.0.1:7070", "[::1]:5062", "[2001:db8::10]:5060", "gw.example.test:5080"]) {
      const hp = parseHostPort(text);
      expect(hp && formatHostPort(hp)).toBe(text);
    }
  });

  it("refuses what is not host:port, with or without the plain-address shortcut", () => {
    expect(parseHostPort("gw-1.example_test:5080")).toEqual({ host: "gw-1.example_test", port: 5080 });
    expect(parseHostPort("127.0.0.1:65535")).toEqual({ host: "127.0.0.1", port: 65535 });
    for (const bad of ["127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:123456", "127.0.0.1:", ":5060", "127.0.0.1:50a", "1 2:5060", "a:b:5060", "[::1]:0", "[::1]"]) {
      expect(parseHostPort(bad), bad).toBeUndefined();
    }
  });

  it("a host name without a port parses without one (the bridge resolves it by SRV, RFC 3263)", () => {
    expect(parseHostPort("gw.example.test")).toEqual({ host: "gw.example.test" });
    expect(formatHostPort({ host: "gw.example.test" })).toBe("gw.example.test");
  });

  it("an IPv6 address is bracketed when formatted, as a Via sent-by requires (RFC 3261 §20.42)", () => {
    expect(formatHostPort({ host: "::1", port: 5060 })).toBe("[::1]:5060");
    expect(formatHostPort({ host: "::1" })).toBe("[::1]");
    expect(formatHostPort({ host: "[::1]", port: 5060 })).toBe("[::1]:5060");
  });

  it("unbracketed IPv6, empty text, a missing port after the colon and spaces are refused", () => {
    for (const bad of ["::1", "::1:5060", "", "127.0.0.1:", ":5060", "127.0.0.1 :5060", "gw example:5060", "[::1]x:5060", "127.0.0.1:50a"]) {
      expect(parseHostPort(bad), bad).toBeUndefined();
    }
  });
});

describe("frames from the bridge", () => {
  it("a text frame is a datagram: the source address line, then the SIP message unchanged", () => {
    const frame = parseBridgeFrame(`127.0.0.1:7070\r\n${OPTIONS}`);
    expect(frame).toEqual({ kind: "datagram", address: "127.0.0.1:7070", ip: "127.0.0.1", port: 7070, message: OPTIONS });
  });

  it("an IPv6 source keeps its brackets in the address and loses them in ip", () => {
    const frame = parseBridgeFrame(`[::1]:5062\r\n${OPTIONS}`);
    expect(frame).toMatchObject({ kind: "datagram", address: "[::1]:5062", ip: "::1", port: 5062 });
  });

  it("a binary frame carries a datagram that is not UTF-8: its bytes reach the parser unchanged", () => {
    const bytes = latin1Message();
    const frame = parseBridgeFrame(concat(new TextEncoder().encode("127.0.0.1:7072\r\n"), bytes));
    expect(frame).toMatchObject({ kind: "datagram", address: "127.0.0.1:7072", ip: "127.0.0.1", port: 7072 });
    if (frame.kind !== "datagram") return;
    expect(frame.message).toBeInstanceOf(Uint8Array);
    expect([...(frame.message as Uint8Array)]).toEqual([...bytes]);
    const parsed = parseMessage(frame.message);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.message.encoding).toBe("binary");
  });

  it("a datagram frame without a source ip:port is refused, text or binary", () => {
    const bad = [OPTIONS, `\r\n${OPTIONS}`, `gw.example.test\r\n${OPTIONS}`, `127.0.0.1\r\n${OPTIONS}`, "127.0.0.1:7070"];
    for (const text of bad) expect(parseBridgeFrame(text).kind, JSON.stringify(text.slice(0, 20))).toBe("invalid");
    const encoder = new TextEncoder();
    for (const text of bad) expect(parseBridgeFrame(encoder.encode(text).buffer as ArrayBuffer).kind).toBe("invalid");
    expect(parseBridgeFrame(new ArrayBuffer(0)).kind).toBe("invalid");
  });

  it("a binary frame whose address line does not end within 80 bytes is refused (no scan of the whole datagram)", () => {
    const long = `${"1".repeat(90)}:5060\r\n${OPTIONS}`;
    expect(parseBridgeFrame(new TextEncoder().encode(long).buffer as ArrayBuffer).kind).toBe("invalid");
  });

  it("the hello frame names the bridge and the UDP address it advertises for Via and Record-Route", () => {
    expect(parseBridgeFrame('{"type":"hello","bridge":"local","advertise":"127.0.0.1:5060"}')).toEqual({
      kind: "hello",
      bridge: "local",
      advertise: { host: "127.0.0.1", port: 5060 },
      rtpengine: false,
      pong: false,
    });
    expect(parseBridgeFrame('{"type":"hello","bridge":"b2","advertise":"[::1]:5062"}')).toMatchObject({ advertise: { host: "::1", port: 5062 } });
    // A bridge started with --rtpengine says so: the edge anchors media through it.
    expect(parseBridgeFrame('{"type":"hello","bridge":"b3","advertise":"127.0.0.9:5060","rtpengine":true}')).toMatchObject({ rtpengine: true });
    // A bridge that answers liveness pings says so: only then does a silent keepalive wait for its pong.
    expect(parseBridgeFrame('{"type":"hello","bridge":"b4","advertise":"127.0.0.9:5060","pong":true}')).toMatchObject({ pong: true });
  });

  it("a hello without a bridge id or a usable advertised address is refused", () => {
    for (const text of [
      '{"type":"hello","advertise":"127.0.0.1:5060"}',
      '{"type":"hello","bridge":"local"}',
      '{"type":"hello","bridge":"local","advertise":"::1"}',
      '{"type":"hello","bridge":"local","advertise":5060}',
      '{"type":"hello","bridge":7,"advertise":"127.0.0.1:5060"}',
    ]) {
      expect(parseBridgeFrame(text).kind, text).toBe("invalid");
    }
  });

  it("other JSON frames are control frames with their fields; a frame starting with { that is not JSON is refused", () => {
    expect(parseBridgeFrame('{"type":"error","reason":"unknown destination"}')).toEqual({
      kind: "control",
      type: "error",
      body: { type: "error", reason: "unknown destination" },
    });
    expect(parseBridgeFrame("{nope")).toEqual({ kind: "invalid", reason: "control frame is not JSON" });
  });
});

describe("frames to the bridge", () => {
  it("a parsed text message goes out as a text frame: destination line, then the message as serialized", () => {
    const parsed = parseMessage(OPTIONS);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const { ws, sent } = fakeSocket();
    new BridgeTransport(new LinkSender(ws, false), "127.0.0.1:7070").send(parsed.message);
    expect(sent).toEqual([`127.0.0.1:7070\r\n${OPTIONS}`]);
  });

  it("a message received as bytes goes out as a binary frame with the same bytes, and parses back to the same datagram", () => {
    const bytes = latin1Message();
    const parsed = parseMessage(bytes);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const { ws, sent } = fakeSocket();
    new LinkSender(ws, false).datagram("[::1]:5062", parsed.message);
    expect(sent).toHaveLength(1);
    const frame = sent[0];
    expect(frame).toBeInstanceOf(Uint8Array);
    const back = parseBridgeFrame((frame as Uint8Array).slice().buffer as ArrayBuffer);
    expect(back).toMatchObject({ kind: "datagram", address: "[::1]:5062", ip: "::1", port: 5062 });
    if (back.kind === "datagram") expect([...(back.message as Uint8Array)]).toEqual([...bytes]);
  });

  it("a message given as text (a keepalive the edge writes itself) is sent as it is", () => {
    const { ws, sent } = fakeSocket();
    new LinkSender(ws, false).datagram("gw.example.test", OPTIONS);
    expect(sent).toEqual([`gw.example.test\r\n${OPTIONS}`]);
  });
});

import { describe, expect, it } from "vitest";
import { serialize, serializeBytes } from "../../../src/sip/serializer.ts";
import { INVITE, OK_200, REGISTER_AUTH, REGISTER_WS, SDP, crlf, options, parse, request } from "./fixtures.ts";


describe("serialize", () => {
  it("an unchanged message is written back exactly, folding and compact names included", () => {
    for (const text of [INVITE, REGISTER_AUTH, OK_200]) expect(serialize(parse(text))).toBe(text);
    const compact = crlf("OPTIONS sip:a@localhost SIP/2.0", "v:SIP/2.0/WSS x;branch=z9hG4bK1", "t :<sip:a@localhost>",
      "f: <sip:b@localhost>;tag=1", "i: 1", "CSeq:   1    OPTIONS", "X-Odd:  ;;,,  ", "l: 0", "", "");
    expect(serialize(parse(compact))).toBe(compact);
  });

  it("changed and new lines are written as `Name: value`, in place; untouched ones stay raw", () => {
    const req = request(REGISTER_AUTH);
    req.headers.replaceFirstValue("via", `${req.headers.get("via")};received=127.0.0.2;rport=5061`);
    req.headers.prepend("Via", "SIP/2.0/WSS edge.invalid;branch=z9hG4bKe1");
    req.maxForwards = 69;
    const out = serialize(req).split("\r\n");
    expect(out.slice(0, 4)).toEqual([
      "REGISTER sips:ss2.biloxi.example.com SIP/2.0",
      "Via: SIP/2.0/WSS edge.invalid;branch=z9hG4bKe1",
      "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashd92;received=127.0.0.2;rport=5061",
      "Max-Forwards: 69",
    ]);
    expect(out).toContain(' nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="",');
  });

  it("a rewritten Request-URI changes the start line", () => {
    const req = request(INVITE);
    req.uri = "sip:bob@192.0.2.4";
    expect(serialize(req).startsWith("INVITE sip:bob@192.0.2.4 SIP/2.0\r\nVia:")).toBe(true);
  });

  it("a changed status or reason rewrites the Status-Line", () => {
    const res = parse(OK_200);
    if (res.kind !== "response") throw new Error("not a response");
    res.reason = "Okay";
    expect(serialize(res).split("\r\n")[0]).toBe("SIP/2.0 200 Okay");
  });

  it("Content-Length states the byte length of the current body", () => {
    const req = request(INVITE);
    req.body = "caf\u00e9";
    const out = serialize(req);
    expect(out).toContain("\r\nContent-Length: 5\r\n");
    expect(out.endsWith("\r\n\r\ncaf\u00e9")).toBe(true);
    expect(out).not.toContain(`Content-Length: ${SDP.length}`);
  });

  it("a compact Content-Length keeps its name when its value is rewritten", () => {
    const req = request(options("l: 0"));
    req.body = "hello";
    expect(serialize(req)).toContain("\r\nl: 5\r\n\r\nhello");
  });

  it("a message without Content-Length gets one; identical duplicates collapse to one", () => {
    expect(serialize(parse(REGISTER_WS)).endsWith('f1>"\r\nContent-Length: 0\r\n\r\n')).toBe(true);
    const out = serialize(parse(options("Content-Length: 0", "l: 0")));
    expect(out.match(/Content-Length|\r\nl:/g)).toHaveLength(1);
  });

  it("a proxied request re-parses to the same values after the usual edits", () => {
    const req = request(INVITE);
    req.headers.prepend("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKedge;rport");
    req.headers.prepend("Record-Route", "<sip:127.0.0.1;lr>");
    req.maxForwards = (req.maxForwards ?? 70) - 1;
    const again = request(serialize(req));
    expect(again.vias().map((v) => v.host)).toEqual(["127.0.0.1", "pc33.atlanta.com"]);
    expect(again.maxForwards).toBe(69);
    expect(again.headers.get("record-route")).toBe("<sip:127.0.0.1;lr>");
    expect(again.body).toBe(SDP);
  });

  it("a bare-LF message is written back with CRLF", () => {
    const lf = options().replaceAll("\r\n", "\n");
    expect(serialize(parse(lf))).toBe(options().replace(/\r\n\r\n$/, "\r\nContent-Length: 0\r\n\r\n"));
  });
});

describe("serializeBytes", () => {
  it("a binary message comes back as the exact bytes it was parsed from", () => {
    const head = new TextEncoder().encode(options("Content-Type: application/octet-stream", "Content-Length: 256"));
    const body = new Uint8Array(256).map((_, i) => 255 - i);
    const bytes = new Uint8Array([...head, ...body]);
    expect(Buffer.from(serializeBytes(parse(bytes))).equals(Buffer.from(bytes))).toBe(true);
  });

  it("a text message is encoded as UTF-8, Content-Length counting bytes", () => {
    const req = request(options("Subject: \u00e9t\u00e9"));
    req.body = "\u20ac";
    const bytes = serializeBytes(req);
    const text = new TextDecoder().decode(bytes);
    expect(text).toContain("Subject: \u00e9t\u00e9\r\n");
    expect(text).toContain("Content-Length: 3\r\n");
    expect(bytes.length).toBe(new TextEncoder().encode(serialize(req)).length);
  });

  it("text assigned to the body of a binary message is written as UTF-8", () => {
    const req = request(new TextEncoder().encode(options()));
    req.body = "\u20ac";
    const text = new TextDecoder().decode(serializeBytes(req));
    expect(text).toContain("Content-Length: 3\r\n");
    expect(text.endsWith("\r\n\r\n\u20ac")).toBe(true);
  });
});

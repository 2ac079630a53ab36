import { describe, expect, it } from "vitest";
import { HeaderError, SipRequest } from "../../../src/sip/message.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { byteLength, byteStringToBytes, bytesToByteString, textToByteString, utf8Length } from "../../../src/sip/serializer.ts";
import type { SipUri } from "../../../src/sip/uri.ts";
import { INVITE, options } from "./fixtures.ts";

function request(text: string): SipRequest {
  const result = parseMessage(text);
  if (!result.ok || !(result.message instanceof SipRequest)) throw new Error("not a request");
  return result.message;
}

describe("parsed values are cached and follow header changes", () => {
  it("from(), to() and vias() return the parsed object until the header changes", () => {
    const req = request(INVITE);
    expect(req.from()).toBe(req.from());
    const vias = req.vias();
    expect(req.vias()).toBe(vias);
    req.headers.prepend("Via", "SIP/2.0/WSS edge.invalid;branch=z9hG4bKedge1");
    expect(req.vias().map((v) => v.host)).toEqual(["edge.invalid", "pc33.atlanta.com"]);
    expect(req.topVia().branch).toBe("z9hG4bKedge1");
    req.headers.set("To", "<sip:carol@chicago.com>;tag=x");
    expect(req.to().params.get("tag")).toBe("x");
    req.headers.removeFirstValue("via");
    expect(req.topVia().host).toBe("pc33.atlanta.com");
  });

  it("callId and cseq follow changes of their headers", () => {
    const req = request(INVITE);
    req.headers.set("i", "new-call-id");
    req.headers.set("cseq", "314160 INVITE");
    expect(req.callId).toBe("new-call-id");
    expect(req.cseq).toEqual({ seq: 314160, method: "INVITE" });
  });

  it("a header changed to something unreadable throws HeaderError when read", () => {
    const req = request(INVITE);
    req.headers.set("From", "not a <valid");
    expect(() => req.from()).toThrow(HeaderError);
    req.headers.remove("via");
    expect(() => req.topVia()).toThrow(HeaderError);
  });

  it("assigning uri rewrites the Request-URI and its parsed form", () => {
    const req = request(INVITE);
    expect((req.ruri() as SipUri).user).toBe("bob");
    req.uri = "sip:bob@192.0.2.4:5060;transport=udp";
    expect((req.ruri() as SipUri).port).toBe(5060);
    req.uri = "sip:bob@[unterminated";
    expect(() => req.ruri()).toThrow(HeaderError);
  });

  it("maxForwards reads, and writes, the Max-Forwards header", () => {
    const req = request(INVITE);
    expect(req.maxForwards).toBe(70);
    req.maxForwards = 69;
    expect(req.headers.get("max-forwards")).toBe("69");
    req.headers.set("Max-Forwards", "10");
    expect(req.maxForwards).toBe(10);
    req.maxForwards = undefined;
    expect(req.headers.has("max-forwards")).toBe(false);
    expect(request(options("Max-Forwards:-")).maxForwards).toBeUndefined();
  });

  it("the kind discriminates requests from responses", () => {
    const res = parseMessage(INVITE);
    expect(res.ok && res.message.kind === "request" && res.message.method).toBe("INVITE");
  });
});

describe("byte counting and byte-strings", () => {
  it("utf8Length matches TextEncoder, surrogate pairs and lone surrogates included", () => {
    for (const text of ["", "ascii", "caf\u00e9", "\u20ac", "\u{1f600}x", "\ud800x", "x\udc00"]) {
      expect(utf8Length(text), text).toBe(new TextEncoder().encode(text).length);
    }
  });

  it("bytesToByteString and byteStringToBytes round-trip every byte value, also past the chunk size", () => {
    const bytes = new Uint8Array(20000).map((_, i) => i & 0xff);
    const text = bytesToByteString(bytes);
    expect(text).toHaveLength(20000);
    expect(text.charCodeAt(0x9f)).toBe(0x9f);
    expect(Buffer.from(byteStringToBytes(text)).equals(Buffer.from(bytes))).toBe(true);
  });

  it("text stored in a byte-string is written as UTF-8 and counted that way", () => {
    const mixed = "\u00ff\u20ac\u{1f600}";
    expect([...byteStringToBytes(mixed)]).toEqual([0xff, ...new TextEncoder().encode("\u20ac\u{1f600}")]);
    expect(byteLength(mixed, "binary")).toBe(1 + 3 + 4);
    expect(textToByteString("\u00e9")).toBe("\u00c3\u00a9");
  });
});

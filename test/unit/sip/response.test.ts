import { describe, expect, it } from "vitest";
import { SipRequest, SipResponse } from "../../../src/sip/message.ts";
import { parseMessage, type ParseFailure } from "../../../src/sip/parser.ts";
import { createErrorResponse, createResponse } from "../../../src/sip/response.ts";
import { serialize, serializeBytes } from "../../../src/sip/serializer.ts";
import { INVITE, OK_200, REGISTER_AUTH, crlf, options } from "./fixtures.ts";

function request(data: string | Uint8Array): SipRequest {
  const result = parseMessage(data);
  if (!result.ok || !(result.message instanceof SipRequest)) throw new Error("not a request");
  return result.message;
}

function failure(data: string): ParseFailure {
  const result = parseMessage(data);
  if (result.ok) throw new Error("parsed");
  return result;
}

function linesOf(text: string): string[] {
  return text.split("\r\n");
}

describe("createResponse (RFC 3261 §8.2.6.2)", () => {
  it("copies all Vias in order, From, Call-ID and CSeq, and tags the To", () => {
    const req = request(INVITE);
    req.headers.prepend("Via", "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKfirst");
    const res = createResponse(req, 486, "Busy Here");
    expect(res).toBeInstanceOf(SipResponse);
    const out = linesOf(serialize(res));
    expect(out.slice(0, 4)).toEqual([
      "SIP/2.0 486 Busy Here",
      "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKfirst",
      "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8",
      "From: Alice <sip:alice@atlanta.com>;tag=1928301774",
    ]);
    expect(out[4]).toMatch(/^To: Bob <sip:bob@biloxi\.com>;tag=[0-9a-f]{8}-[0-9a-f]{8}$/);
    expect(out.slice(5)).toEqual(["Call-ID: a84b4c76e66710", "CSeq: 314159 INVITE", "Content-Length: 0", "", ""]);
    expect(res.to().params.get("tag")).toBeDefined();
    expect(res.callId).toBe("a84b4c76e66710");
  });

  it("the received/rport stamped on the top Via goes back in the response (RFC 3261 §18.2.2)", () => {
    const req = request(INVITE);
    req.headers.replaceFirstValue("via", `${req.headers.get("via")};received=127.0.0.2`);
    expect(createResponse(req, 200, "OK").topVia().params.get("received")).toBe("127.0.0.2");
  });

  it("the default To tag is the same for a retransmission and differs between transactions", () => {
    const tag = (text: string): unknown => createResponse(request(text), 404, "Not Found").to().params.get("tag");
    expect(tag(INVITE)).toBe(tag(INVITE));
    expect(tag(INVITE)).not.toBe(tag(INVITE.replace("z9hG4bKnashds8", "z9hG4bKother")));
  });

  it("an explicit toTag is used; a To that has a tag keeps it", () => {
    expect(createResponse(request(INVITE), 180, "Ringing", { toTag: "abc" }).to().params.get("tag")).toBe("abc");
    const inDialog = request(options("To: <sip:bob@localhost>;tag=existing"));
    expect(serialize(createResponse(inDialog, 200, "OK"))).toContain("\r\nTo: <sip:bob@localhost>;tag=existing\r\n");
  });

  it("a 100 Trying gets no To tag and copies Timestamp (RFC 3261 §8.2.6.1)", () => {
    const req = request(options("Timestamp: 54.12"));
    const out = serialize(createResponse(req, 100, "Trying"));
    expect(out).toContain("\r\nTo: <sip:bob@localhost>\r\n");
    expect(out).toContain("\r\nTimestamp: 54.12\r\n");
    expect(serialize(createResponse(req, 200, "OK"))).not.toContain("Timestamp");
  });

  it("extra headers, a body and its type are added, Content-Length counting bytes", () => {
    const req = request(REGISTER_AUTH);
    const res = createResponse(req, 200, "OK", {
      headers: [["Contact", "<sips:bob@client.biloxi.example.com>;expires=3600"], ["Date", "Sat, 13 Nov 2010 23:29:00 GMT"]],
      body: "r\u00e9sum\u00e9",
      contentType: "text/plain;charset=utf-8",
    });
    const out = serialize(res);
    expect(out).toContain("\r\nContact: <sips:bob@client.biloxi.example.com>;expires=3600\r\nDate: Sat, 13 Nov 2010 23:29:00 GMT\r\n");
    expect(out).toContain("\r\nContent-Type: text/plain;charset=utf-8\r\nContent-Length: 8\r\n\r\nr\u00e9sum\u00e9");
    const again = parseMessage(out);
    expect(again.ok && again.message.kind === "response" && again.message.status).toBe(200);
  });

  it("a response to a binary request is binary, its text body written as UTF-8", () => {
    const req = request(new TextEncoder().encode(options()));
    const res = createResponse(req, 200, "OK", { body: "\u00e9", contentType: "text/plain" });
    expect(res.encoding).toBe("binary");
    expect(new TextDecoder().decode(serializeBytes(res))).toMatch(/Content-Length: 2\r\n\r\n\u00e9$/);
  });
});

describe("createErrorResponse", () => {
  it("a 400 copies the raw Via, From, To, Call-ID and CSeq lines and tags the To", () => {
    const text = options("Max-Forwards: 300").replace("Via: SIP", "v:   SIP");
    const reply = createErrorResponse(failure(text)) ?? "";
    const out = linesOf(reply);
    expect(out[0]).toBe("SIP/2.0 400 Bad Max-Forwards header");
    expect(out[1]).toBe("v:   SIP/2.0/WSS a.invalid;branch=z9hG4bK776sgdkse");
    expect(out[2]).toBe("From: <sip:alice@localhost>;tag=1");
    expect(out[3]).toMatch(/^To: <sip:bob@localhost>;tag=\w{8}-\w{8}$/);
    expect(out.slice(4)).toEqual(["Call-ID: c1@a.invalid", "CSeq: 1 OPTIONS", "Content-Length: 0", "", ""]);
    const parsed = parseMessage(reply);
    expect(parsed.ok && parsed.message.kind === "response" && parsed.message.status).toBe(400);
  });

  it("a 505 is built for a request in another SIP version", () => {
    expect(createErrorResponse(failure(INVITE.replace("SIP/2.0\r\n", "SIP/3.0\r\n")))?.startsWith("SIP/2.0 505 Version Not Supported\r\n")).toBe(true);
  });

  it("a To that cannot be read is copied as it came, without a tag", () => {
    const reply = createErrorResponse(failure(options('To: "Mr. J. User <sip:j.user@example.com>'))) ?? "";
    expect(reply).toContain('\r\nTo: "Mr. J. User <sip:j.user@example.com>\r\n');
  });

  it("headers missing from the request are missing from the reply", () => {
    const reply = createErrorResponse(failure(options("From:-", "Call-ID:-"))) ?? "";
    expect(reply.startsWith("SIP/2.0 400 Missing header: From\r\n")).toBe(true);
    expect(reply).not.toContain("Call-ID");
  });

  it("no reply to a response, an ACK, a request without Via, or garbage", () => {
    expect(createErrorResponse(failure(OK_200.replace("SIP/2.0 200 OK", "SIP/2.0 999 Odd")))).toBeUndefined();
    expect(createErrorResponse(failure(options("CSeq: 1 ACK").replace("OPTIONS sip", "ACK sip").replace("CSeq: 1 ACK", "CSeq: x ACK")))).toBeUndefined();
    expect(createErrorResponse(failure(options("Via:-")))).toBeUndefined();
    expect(createErrorResponse(failure(crlf("\u0001\u0002 garbage", "", "")))).toBeUndefined();
  });
});

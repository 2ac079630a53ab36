import { describe, expect, it } from "vitest";
import { SipResponse } from "../../../src/sip/message.ts";
import { parseMessage, type ParseFailure } from "../../../src/sip/parser.ts";
import type { SipUri, TelUri } from "../../../src/sip/uri.ts";
import { INVITE, OK_200, REGISTER_AUTH, REGISTER_WS, SDP, crlf, options, parse, request } from "./fixtures.ts";


function failure(data: string | Uint8Array): ParseFailure {
  const result = parseMessage(data);
  if (result.ok) throw new Error("parsed");
  return result;
}

describe("start line", () => {
  it("a request's method, Request-URI and the headers every hop needs are parsed", () => {
    const req = request(INVITE);
    expect(req.kind).toBe("request");
    expect(req.method).toBe("INVITE");
    expect(req.uri).toBe("sip:bob@biloxi.com");
    expect((req.ruri() as SipUri).host).toBe("biloxi.com");
    expect(req.callId).toBe("a84b4c76e66710");
    expect(req.cseq).toEqual({ seq: 314159, method: "INVITE" });
    expect(req.maxForwards).toBe(70);
    expect(req.from().params.get("tag")).toBe("1928301774");
    expect(req.to().displayName).toBe("Bob");
    expect(req.topVia().branch).toBe("z9hG4bKnashds8");
    expect(req.body).toBe(SDP);
    expect(req.encoding).toBe("text");
  });

  it("a response's status code and reason phrase are parsed", () => {
    const res = parse(OK_200);
    expect(res).toBeInstanceOf(SipResponse);
    expect(res.kind === "response" && [res.status, res.reason]).toEqual([200, "OK"]);
    expect(res.vias().map((v) => v.params.get("received"))).toEqual(["192.0.2.3", "192.0.2.2", "192.0.2.1"]);
  });

  it("CRLFs before the start line are ignored (RFC 3261 §7.5)", () => {
    expect(request("\r\n\r\n" + INVITE).method).toBe("INVITE");
  });

  it("the SIP-Version is case-insensitive (RFC 3261 §7.1)", () => {
    expect(request(INVITE.replace("SIP/2.0\r\n", "sip/2.0\r\n")).method).toBe("INVITE");
  });

  it("a request in another SIP version is answered 505 Version Not Supported", () => {
    expect(failure(INVITE.replace("SIP/2.0\r\n", "SIP/3.0\r\n"))).toMatchObject({ status: 505, kind: "request", method: "INVITE" });
  });

  it.each([
    ["a double SP", "INVITE  sip:bob@biloxi.com SIP/2.0"],
    ["a trailing SP", "INVITE sip:bob@biloxi.com SIP/2.0 "],
    ["LWS inside the Request-URI", "INVITE sip:bob@biloxi.com; lr SIP/2.0"],
    ["no version", "INVITE sip:bob@biloxi.com"],
    ["a version that is not SIP", "INVITE sip:bob@biloxi.com HTTP/1.1"],
  ])("a Request-Line with %s is 400 Bad Request-Line", (_, line) => {
    expect(failure(INVITE.replace(/^.*\r\n/, `${line}\r\n`))).toMatchObject({ status: 400, reason: "Bad Request-Line", kind: "request" });
  });

  it.each([
    ["<> around it", "<sip:bob@biloxi.com>"],
    ["URI headers", "sip:bob@biloxi.com?Subject=hi"],
    ["no scheme", "bob@biloxi.com"],
    ["a port out of range", "sip:bob@biloxi.com:99999"],
    ["an unterminated IPv6 reference", "sip:bob@[2001:db8::1"],
  ])("a Request-URI with %s is 400 Bad Request-URI", (_, uri) => {
    expect(failure(INVITE.replace("sip:bob@biloxi.com SIP", `${uri} SIP`))).toMatchObject({ status: 400, reason: "Bad Request-URI" });
  });

  it("tel and unknown Request-URI schemes parse; the route script decides (416)", () => {
    const tel = request(INVITE.replace("sip:bob@biloxi.com SIP", "tel:+1-201-555-0123 SIP"));
    expect((tel.ruri() as TelUri).number).toBe("+1-201-555-0123");
    const other = request(INVITE.replace("sip:bob@biloxi.com SIP", "urn:service:sos SIP"));
    expect(other.ruri()).toEqual({ scheme: "urn", opaque: "service:sos" });
  });

  it.each([
    ["four digits", "SIP/2.0 2000 OK"],
    ["a code above 699", "SIP/2.0 700 Odd"],
    ["a code below 100", "SIP/2.0 099 Odd"],
    ["letters", "SIP/2.0 2x0 OK"],
    ["another version", "SIP/3.0 200 OK"],
  ])("a Status-Line with %s is rejected as a response (the edge drops it)", (_, line) => {
    expect(failure(OK_200.replace(/^.*\r\n/, `${line}\r\n`))).toMatchObject({ kind: "response", reason: "Bad Status-Line" });
  });

  it("an empty reason phrase is legal, with or without the SP before it", () => {
    for (const line of ["SIP/2.0 180 ", "SIP/2.0 180"]) {
      const res = parse(OK_200.replace(/^.*\r\n/, `${line}\r\n`));
      expect(res.kind === "response" && [res.status, res.reason]).toEqual([180, ""]);
    }
  });

  it("binary garbage is a 400 of unknown kind, with no method", () => {
    const garbage = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff);
    expect(failure(garbage)).toMatchObject({ status: 400, kind: "unknown" });
    expect(failure(garbage).method).toBeUndefined();
  });

  it("an empty message or one of CRLFs only is rejected", () => {
    expect(failure("")).toMatchObject({ reason: "Empty message", kind: "unknown" });
    expect(failure("\r\n\r\n")).toMatchObject({ reason: "Empty message" });
  });
});

describe("header section", () => {
  it("names are case-insensitive and compact forms map to the full names", () => {
    const req = request(
      crlf("OPTIONS sip:bob@localhost SIP/2.0", "v: SIP/2.0/WSS a.invalid;branch=z9hG4bK1", "MAX-FORWARDS: 70",
        "t: <sip:bob@localhost>", "f: <sip:alice@localhost>;tag=1", "i: c1", "cseq: 1 OPTIONS", "k: path",
        "m: <sip:alice@a.invalid>", "l: 0", "", ""),
    );
    expect(req.headers.get("Via")).toBe("SIP/2.0/WSS a.invalid;branch=z9hG4bK1");
    expect(req.headers.get("call-id")).toBe("c1");
    expect(req.headers.get("I")).toBe("c1");
    expect(req.headers.get("Supported")).toBe("path");
    expect(req.headers.get("CONTACT")).toBe("<sip:alice@a.invalid>");
    expect(req.headers.lines().map((l) => l.name)).toEqual(["v", "MAX-FORWARDS", "t", "f", "i", "cseq", "k", "m", "l"]);
    expect(req.headers.lines().map((l) => l.key)).toEqual(
      ["via", "max-forwards", "to", "from", "call-id", "cseq", "supported", "contact", "content-length"],
    );
  });

  it("a folded value is unfolded to single spaces; raw keeps the original folding", () => {
    const req = request(REGISTER_AUTH);
    const auth = req.headers.lines().find((l) => l.key === "authorization");
    expect(auth?.value).toBe(
      'Digest username="bob", realm="atlanta.example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", ' +
        'uri="sips:ss2.biloxi.example.com", response="dfe56131d1958046689d83306477ecc"',
    );
    expect(auth?.raw).toBe(REGISTER_AUTH.slice(REGISTER_AUTH.indexOf("Authorization:"), REGISTER_AUTH.indexOf("\r\nContent-Length")));
  });

  it("whitespace around the colon and folding right after it are allowed", () => {
    const req = request(options("Subject   :   hello", "Contact:\r\n   <sip:alice@a.invalid>"));
    expect(req.headers.get("subject")).toBe("hello");
    expect(req.headers.get("contact")).toBe("<sip:alice@a.invalid>");
  });

  it("list headers split at top-level commas, not inside quotes or <>", () => {
    const req = request(options(
      'Contact: "Doe, John" <sip:j@a.invalid;x=1,2>, <sip:k@b.invalid>;q=0.5',
      "Contact: *",
      "Supported: path, outbound,, gruu",
      'Call-Info: <http://wwww.example.com/alice/photo.jpg> ;purpose=icon, <http://www.example.com/alice/> ;purpose=info',
    ));
    expect(req.headers.getAll("contact")).toEqual(['"Doe, John" <sip:j@a.invalid;x=1,2>', "<sip:k@b.invalid>;q=0.5", "*"]);
    expect(req.headers.getAll("supported")).toEqual(["path", "outbound", "gruu"]);
    expect(req.headers.getAll("call-info")).toHaveLength(2);
    expect(request(REGISTER_WS).headers.getAll("supported")).toEqual(["path", "outbound", "gruu"]);
  });

  it("headers that are not lists are never split (Date, Authorization, unknown ones)", () => {
    const req = request(options("Date: Sat, 13 Nov 2010 23:29:00 GMT", "X-Custom: a, b"));
    expect(req.headers.getAll("date")).toEqual(["Sat, 13 Nov 2010 23:29:00 GMT"]);
    expect(req.headers.getAll("x-custom")).toEqual(["a, b"]);
    expect(request(REGISTER_AUTH).headers.getAll("authorization")).toHaveLength(1);
  });

  it("a header line without a colon is 400 Malformed header line, and later headers are still read", () => {
    const err = failure(options("This is not a header"));
    expect(err).toMatchObject({ status: 400, reason: "Malformed header line", kind: "request", method: "OPTIONS" });
    expect(err.headers?.get("call-id")).toBe("c1@a.invalid");
  });

  it.each([
    ["a name that is not a token", "Bad Name: x"],
    ["an empty name", ": x"],
    ["a lone CR inside the line", "Subject: a\rInjected: b"],
  ])("a header line with %s is 400 Malformed header line", (_, line) => {
    expect(failure(options(line))).toMatchObject({ status: 400, reason: "Malformed header line" });
  });

  it("a continuation line with no header before it is malformed", () => {
    const text = options().replace("\r\nVia:", "\r\n  folded\r\nVia:");
    expect(failure(text)).toMatchObject({ reason: "Malformed header line" });
  });

  it("bare LF line ends are accepted", () => {
    const req = request(INVITE.replaceAll("\r\n", "\n").replace(`Content-Length: ${SDP.length}`, `Content-Length: ${SDP.length - 12}`));
    expect(req.callId).toBe("a84b4c76e66710");
    expect(req.headers.lines()).toHaveLength(9);
  });

  it("a message cut inside a header line is 400 Truncated message", () => {
    const cut = INVITE.slice(0, INVITE.indexOf("Call-ID: a84") + 10);
    expect(failure(cut)).toMatchObject({ status: 400, reason: "Truncated message", kind: "request" });
    expect(failure("OPTIONS sip:bob@localhost SIP/2.0")).toMatchObject({ reason: "Truncated message" });
  });

  it("a message ending after a complete header line without the empty line is read as complete", () => {
    const req = request(options().slice(0, -2));
    expect(req.body).toBe("");
  });

  it("unknown headers keep their name, value and raw text", () => {
    const req = request(options("X-Weird-Header  :   value ;;,,;; \u00e9"));
    const line = req.headers.lines().find((l) => l.key === "x-weird-header");
    expect(line).toMatchObject({ name: "X-Weird-Header", value: "value ;;,,;; \u00e9", raw: "X-Weird-Header  :   value ;;,,;; \u00e9" });
  });
});

describe("the headers every hop needs", () => {
  it.each([
    ["To", "To:-"],
    ["From", "From:-"],
    ["CSeq", "CSeq:-"],
    ["Call-ID", "Call-ID:-"],
    ["Via", "Via:-"],
  ])("a request without %s is 400 Missing header", (name, drop) => {
    expect(failure(options(drop))).toMatchObject({ status: 400, reason: `Missing header: ${name}` });
  });

  it("a request without Max-Forwards is accepted (the maxfwd module adds one)", () => {
    expect(request(options("Max-Forwards:-")).maxForwards).toBeUndefined();
  });

  it.each([
    ["no method", "CSeq: 1"],
    ["a non-numeric number", "CSeq: one OPTIONS"],
    ["a number of 2**31", "CSeq: 2147483648 OPTIONS"],
    ["a negative number", "CSeq: -1 OPTIONS"],
  ])("a CSeq with %s is 400 Bad CSeq header", (_, line) => {
    expect(failure(options(line))).toMatchObject({ status: 400, reason: "Bad CSeq header" });
  });

  it("a CSeq method other than the request's is 400 (RFC 3261 §8.1.1.5), compared case-sensitively", () => {
    expect(failure(options("CSeq: 1 INVITE"))).toMatchObject({ reason: "CSeq method does not match request method" });
    expect(failure(options("CSeq: 1 options"))).toMatchObject({ reason: "CSeq method does not match request method" });
  });

  it("CSeq 2**31 - 1 is the largest accepted", () => {
    expect(request(options("CSeq: 2147483647 OPTIONS")).cseq.seq).toBe(2147483647);
  });

  it.each([["256"], ["-1"], ["7O"], [""]])("Max-Forwards %j is 400 Bad Max-Forwards header", (value) => {
    expect(failure(options(`Max-Forwards: ${value}`))).toMatchObject({ reason: "Bad Max-Forwards header" });
  });

  it("Max-Forwards with leading zeros is read as a number (RFC 4475 wsinv)", () => {
    expect(request(options("Max-Forwards: 0068")).maxForwards).toBe(68);
  });

  it.each([
    ["a space", "Call-ID: a b"],
    ["two @", "Call-ID: a@b@c"],
    ["an empty word", "Call-ID: @host"],
  ])("a Call-ID with %s is 400 Bad Call-ID header", (_, line) => {
    expect(failure(options(line))).toMatchObject({ reason: "Bad Call-ID header" });
  });

  it("a malformed Via element anywhere in the list is 400 Bad Via header", () => {
    const text = options().replace("\r\nMax-Forwards", "\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2, SIP/2.0/UDP ;;\r\nMax-Forwards");
    expect(failure(text)).toMatchObject({ reason: "Bad Via header" });
  });

  it("malformed From and To are 400s naming the header", () => {
    expect(failure(options('From: "unbalanced <sip:a@b>;tag=1'))).toMatchObject({ reason: "Bad From header" });
    expect(failure(options("To: <sip:bob@localhost"))).toMatchObject({ reason: "Bad To header" });
  });

  it("a second, different From/To/Call-ID/CSeq/Max-Forwards is 400 Duplicate header", () => {
    const text = options().replace("\r\nCSeq: 1 OPTIONS", "\r\nCSeq: 1 OPTIONS\r\nCall-ID: other");
    expect(failure(text)).toMatchObject({ reason: "Duplicate header: Call-ID" });
  });

  it("Contact and other headers are not validated until read", () => {
    expect(request(options("Contact: this is <not valid")).headers.get("contact")).toBe("this is <not valid");
  });
});

describe("body and Content-Length", () => {
  it("Content-Length larger than the body is 400 Content-Length mismatch", () => {
    expect(failure(INVITE.replace(`Content-Length: ${SDP.length}`, `Content-Length: ${SDP.length + 1}`))).toMatchObject({
      status: 400,
      reason: "Content-Length mismatch",
    });
  });

  it("octets beyond Content-Length are discarded (RFC 3261 §18.3)", () => {
    const req = request(INVITE + "garbage after the body");
    expect(req.body).toBe(SDP);
  });

  it("Content-Length counts UTF-8 bytes of a text message", () => {
    const body = "caf\u00e9 \u{1f600}"; // "caf" 3 + "é" 2 + " " 1 + emoji 4 = 10 bytes
    const req = request(options("Content-Type: text/plain", "Content-Length: 10").replace(/\r\n\r\n$/, `\r\n\r\n${body}extra`));
    expect(req.body).toBe(body);
    expect(req.bodyByteLength()).toBe(10);
  });

  it("a Content-Length that ends inside a UTF-8 character is a mismatch", () => {
    const text = options("Content-Length: 4").replace(/\r\n\r\n$/, "\r\n\r\ncaf\u00e9");
    expect(failure(text)).toMatchObject({ reason: "Content-Length mismatch" });
  });

  it("a negative or non-numeric Content-Length is 400 Bad Content-Length header", () => {
    expect(failure(options("Content-Length: -1"))).toMatchObject({ reason: "Bad Content-Length header" });
    expect(failure(options("Content-Length: 1e3"))).toMatchObject({ reason: "Bad Content-Length header" });
  });

  it("a repeated identical Content-Length is tolerated; different values are 400", () => {
    expect(request(options("Content-Length: 0", "l: 0")).body).toBe("");
    expect(failure(options("Content-Length: 0", "l: 1"))).toMatchObject({ reason: "Duplicate header: Content-Length" });
  });

  it("without Content-Length the body is the rest of the message", () => {
    expect(request(REGISTER_WS).body).toBe("");
    expect(request(options() + "hello").body).toBe("hello");
  });

  it("a binary frame keeps every byte: a byte-string message, Content-Length in bytes", () => {
    const head = new TextEncoder().encode(options("Content-Type: application/octet-stream", "Content-Length: 4"));
    const bytes = new Uint8Array([...head, 0x00, 0x80, 0x9f, 0xff, 0x41]);
    const req = request(bytes);
    expect(req.encoding).toBe("binary");
    expect([...req.body].map((c) => c.charCodeAt(0))).toEqual([0x00, 0x80, 0x9f, 0xff]);
    expect(req.size).toBe(bytes.length);
  });

  it("size is the received byte count of a text message", () => {
    const text = options("Subject: \u00e9t\u00e9");
    expect(request(text).size).toBe(new TextEncoder().encode(text).length);
  });
});

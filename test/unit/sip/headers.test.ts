import { describe, expect, it } from "vitest";
import { HeaderLine, HeaderList, displayName, headerKey, splitList } from "../../../src/sip/headers.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { OK_200, crlf } from "./fixtures.ts";

function list(...lines: [string, string][]): HeaderList {
  return new HeaderList(lines.map(([name, value]) => new HeaderLine(name, headerKey(name) ?? "", value, `${name}: ${value}`)));
}

describe("header names", () => {
  it("every compact form of RFC 3261 §7.3.3 and its successors maps to the full name", () => {
    const pairs = {
      a: "accept-contact", b: "referred-by", c: "content-type", d: "request-disposition", e: "content-encoding",
      f: "from", i: "call-id", j: "reject-contact", k: "supported", l: "content-length", m: "contact",
      n: "identity-info", o: "event", r: "refer-to", s: "subject", t: "to", u: "allow-events", v: "via",
      x: "session-expires", y: "identity",
    };
    for (const [compact, full] of Object.entries(pairs)) {
      expect(headerKey(compact)).toBe(full);
      expect(headerKey(compact.toUpperCase())).toBe(full);
    }
  });

  it("names fold to lower case; a name that is not a token has no key", () => {
    expect(headerKey("ViA")).toBe("via");
    expect(headerKey("X-Custom-Header")).toBe("x-custom-header");
    expect(headerKey("Bad Name")).toBeUndefined();
    expect(headerKey("")).toBeUndefined();
    expect(headerKey("Na:me")).toBeUndefined();
  });

  it("known headers have their conventional spelling", () => {
    expect(displayName("call-id")).toBe("Call-ID");
    expect(displayName("cseq")).toBe("CSeq");
    expect(displayName("www-authenticate")).toBe("WWW-Authenticate");
    expect(displayName("x-unknown")).toBe("x-unknown");
  });
});

describe("splitList", () => {
  it("splits at commas outside quoted strings and <...>, trimming and dropping empty elements", () => {
    expect(splitList('"a, b" <sip:x@y;p=1,2>;q=1 ,<sip:z@w>, ,')).toEqual(['"a, b" <sip:x@y;p=1,2>;q=1', "<sip:z@w>"]);
    expect(splitList('"quoted \\" comma, inside" <sip:a@b>, <sip:c@d>')).toEqual(['"quoted \\" comma, inside" <sip:a@b>', "<sip:c@d>"]);
  });

  it("keeps a lone value, * and empty values as they are", () => {
    expect(splitList("*")).toEqual(["*"]);
    expect(splitList("")).toEqual([]);
    expect(splitList("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1")).toEqual(["SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1"]);
  });
});

describe("HeaderList", () => {
  it("get returns the first element of a list header and the whole value of others", () => {
    const h = list(["Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"], ["Subject", "a, b"]);
    expect(h.get("v")).toBe("SIP/2.0/UDP a;branch=z9hG4bK1");
    expect(h.get("SUBJECT")).toBe("a, b");
    expect(h.get("s")).toBe("a, b");
    expect(h.get("route")).toBeUndefined();
  });

  it("get skips lines of a list header that hold no element", () => {
    expect(list(["Supported", ""], ["Supported", "path"]).get("supported")).toBe("path");
  });

  it("getAll returns the elements of all lines, in order", () => {
    const res = parseMessage(OK_200);
    if (!res.ok) throw new Error(res.reason);
    expect(res.message.headers.getAll("Via").map((v) => v.split(";")[0])).toEqual([
      "SIP/2.0/UDP server10.biloxi.com",
      "SIP/2.0/UDP bigbox3.site3.atlanta.com",
      "SIP/2.0/UDP pc33.atlanta.com",
    ]);
  });

  it("set replaces every line of the header by one, where the first was", () => {
    const h = list(["Route", "<sip:a;lr>"], ["Subject", "x"], ["Route", "<sip:b;lr>"]);
    h.set("route", "<sip:c;lr>");
    expect(h.lines().map((l) => [l.name, l.value, l.raw])).toEqual([
      ["Route", "<sip:c;lr>", undefined],
      ["Subject", "x", "Subject: x"],
    ]);
  });

  it("set of an absent header appends it, spelled conventionally", () => {
    const h = list(["Subject", "x"]);
    h.set("max-forwards", "70");
    h.set("X-Trace", "1");
    expect(h.lines().map((l) => `${l.name}: ${l.value}`)).toEqual(["Subject: x", "Max-Forwards: 70", "X-Trace: 1"]);
  });

  it("append adds at the end; prepend before the first line of the header, else at the top", () => {
    const h = list(["Via", "SIP/2.0/UDP b;branch=z9hG4bK2"], ["Subject", "x"]);
    h.prepend("v", "SIP/2.0/WSS a;branch=z9hG4bK1");
    h.prepend("Record-Route", "<sip:edge;lr>");
    h.append("Record-Route", "<sip:other;lr>");
    expect(h.lines().map((l) => l.name)).toEqual(["Record-Route", "Via", "Via", "Subject", "Record-Route"]);
    expect(h.getAll("via")).toEqual(["SIP/2.0/WSS a;branch=z9hG4bK1", "SIP/2.0/UDP b;branch=z9hG4bK2"]);
  });

  it("remove drops every line of the header and counts them", () => {
    const h = list(["Route", "<sip:a;lr>"], ["r", "x"], ["Route", "<sip:b;lr>, <sip:c;lr>"]);
    expect(h.remove("ROUTE")).toBe(2);
    expect(h.remove("route")).toBe(0);
    expect(h.has("refer-to")).toBe(true);
  });

  it("removeFirstValue pops the top element and keeps the rest of its line", () => {
    const h = list(["Route", "<sip:a;lr>, <sip:b;lr>"], ["Route", "<sip:c;lr>"]);
    expect(h.removeFirstValue("route")).toBe("<sip:a;lr>");
    expect(h.lines().map((l) => l.value)).toEqual(["<sip:b;lr>", "<sip:c;lr>"]);
    expect(h.removeFirstValue("route")).toBe("<sip:b;lr>");
    expect(h.lines()).toHaveLength(1);
    expect(h.removeFirstValue("route")).toBe("<sip:c;lr>");
    expect(h.removeFirstValue("route")).toBeUndefined();
  });

  it("replaceFirstValue rewrites the top element only, keeping the line's name", () => {
    const h = list(["v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"]);
    expect(h.replaceFirstValue("via", "SIP/2.0/UDP a;branch=z9hG4bK1;received=127.0.0.2")).toBe(true);
    expect(h.lines()[0]?.name).toBe("v");
    expect(h.getAll("via")).toEqual(["SIP/2.0/UDP a;branch=z9hG4bK1;received=127.0.0.2", "SIP/2.0/UDP b;branch=z9hG4bK2"]);
    expect(h.replaceFirstValue("route", "x")).toBe(false);
  });

  it("changed lines lose their raw text; untouched lines keep it", () => {
    const res = parseMessage(crlf("OPTIONS sip:a@localhost SIP/2.0", "Via: SIP/2.0/WSS x;branch=z9hG4bK1", "t: <sip:a@localhost>",
      "f: <sip:b@localhost>;tag=1", "i: 1", "CSeq: 1 OPTIONS", "", ""));
    if (!res.ok) throw new Error(res.reason);
    const h = res.message.headers;
    h.replaceFirstValue("via", "SIP/2.0/WSS x;branch=z9hG4bK1;rport=1");
    expect(h.lines().map((l) => l.raw)).toEqual([undefined, "t: <sip:a@localhost>", "f: <sip:b@localhost>;tag=1", "i: 1", "CSeq: 1 OPTIONS"]);
  });
});

// RFC 5118 (SIP torture tests for IPv6), §4: the header values of each message, written from
// the RFC's text, against the grammar functions that read them.
import { describe, expect, it } from "vitest";
import { parseNameAddr } from "../../../src/sip/name-addr.ts";
import { formatUri, isSipUri, parseUri } from "../../../src/sip/uri.ts";
import { uriEquals } from "../../../src/sip/uri-equals.ts";
import type { SipUri } from "../../../src/sip/uri.ts";
import { formatVia, parseVia, viaReceived } from "../../../src/sip/via.ts";
import type { Via } from "../../../src/sip/via.ts";

function sip(text: string): SipUri {
  const parsed = parseUri(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  if (!isSipUri(parsed.value)) throw new Error(`${text}: not a SIP URI`);
  return parsed.value;
}

function via(text: string): Via {
  const parsed = parseVia(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  return parsed.value;
}

function uriReason(text: string): string | undefined {
  const parsed = parseUri(text);
  return parsed.ok ? undefined : parsed.reason;
}

describe("RFC 5118 §4.1 valid IPv6 references", () => {
  it("reads an IPv6 reference in the Request-URI, Via and Contact", () => {
    expect(sip("sip:[2001:db8::10]").host).toBe("[2001:db8::10]");
    const v = via("SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111");
    expect(v.host).toBe("[2001:db8::9:1]");
    expect(v.port).toBeUndefined();
    const contact = parseNameAddr('"Caller" <sip:caller@[2001:db8::1]>');
    expect(contact.ok && contact.value.displayName).toBe("Caller");
    expect(contact.ok && isSipUri(contact.value.uri) && contact.value.uri.host).toBe("[2001:db8::1]");
  });
});

describe("RFC 5118 §4.2 IPv6 address without brackets", () => {
  it("rejects an IPv6 address that is not an IPv6 reference, with or without a user part", () => {
    expect(uriReason("sip:2001:db8::10")).toBe("IPv6 address not enclosed in [ ]");
    expect(uriReason("sip:user@2001:db8::10")).toBe("IPv6 address not enclosed in [ ]");
  });

  it("rejects a bare IPv6 sent-by in a Via", () => {
    const parsed = parseVia("SIP/2.0/UDP 2001:db8::9:1;branch=z9hG4bKas3-111");
    expect(parsed.ok).toBe(false);
  });
});

describe("RFC 5118 §4.3/§4.4 port ambiguity", () => {
  it("reads everything inside the brackets as the address: no port in [2001:db8::10:5070]", () => {
    const u = sip("sip:[2001:db8::10:5070]");
    expect(u.host).toBe("[2001:db8::10:5070]");
    expect(u.port).toBeUndefined();
  });

  it("reads the port after the closing bracket", () => {
    const u = sip("sip:[2001:db8::10]:5070");
    expect(u.host).toBe("[2001:db8::10]");
    expect(u.port).toBe(5070);
  });
});

describe("RFC 5118 §4.5 received parameter with and without delimiters", () => {
  it("accepts received=[2001:db8::9:255] and received=2001:db8::9:255 as the same address", () => {
    const bracketed = via("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111");
    const bare = via("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3");
    expect(viaReceived(bracketed)).toBe("2001:db8::9:255");
    expect(viaReceived(bare)).toBe("2001:db8::9:255");
    expect(bracketed.branch).toBe("z9hG4bKas3-111");
  });

  it("rejects a received parameter that is not an address", () => {
    expect(parseVia("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9::255").ok).toBe(false);
    expect(parseVia("SIP/2.0/UDP 192.0.2.1;received=host.example.com").ok).toBe(false);
  });
});

describe("RFC 5118 §4.7 IPv4 and IPv6 in one Via list", () => {
  it("reads each via-parm of the mixed list", () => {
    const list = [
      "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111",
      "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144",
      "SIP/2.0/TCP [2001:db8::9:255];branch=z9hG4bK451jj;received=192.0.2.200",
    ].map(via);
    expect(list.map((v) => [v.transport, v.host, v.port])).toEqual([
      ["UDP", "[2001:db8::9:1]", 6050],
      ["UDP", "192.0.2.1", undefined],
      ["TCP", "[2001:db8::9:255]", undefined],
    ]);
    expect(viaReceived(list[2]!)).toBe("192.0.2.200");
  });
});

describe("RFC 5118 §4.9 IPv4-mapped IPv6 addresses", () => {
  it("reads ::ffff:192.0.2.x in Via and Contact", () => {
    const v = via("SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19");
    expect(v.host).toBe("[::ffff:192.0.2.10]");
    expect(v.port).toBe(19823);
    const contact = parseNameAddr('"T. desk phone" <sip:ted@[::ffff:192.0.2.2]>');
    expect(contact.ok && contact.value.displayName).toBe("T. desk phone");
  });
});

describe("RFC 5118 §4.10 IPv6 reference bug in RFC 3261 ABNF", () => {
  it("tolerates three colons before an IPv4 tail and reads it as the two-colon address", () => {
    const buggy = sip("sip:user@[2001:db8:::192.0.2.1]");
    const correct = sip("sip:user@[2001:db8::192.0.2.1]");
    expect(buggy.host).toBe("[2001:db8:::192.0.2.1]");
    expect(uriEquals(buggy, correct)).toBe(true);
  });

  it("does not extend the tolerance to three colons elsewhere", () => {
    expect(uriReason("sip:user@[2001:db8:::1]")).toBe("invalid IPv6 address");
    expect(uriReason("sip:user@[1:2:3:4:5:6:::192.0.2.1]")).toBe("invalid IPv6 address");
  });
});

describe("IPv6 reference validation", () => {
  it.each([
    "[2001:db8::1::2]",
    "[12345::1]",
    "[1:2:3:4:5:6:7:8:9]",
    "[1:2:3:4:5:6:7]",
    "[::ffff:192.0.2.256]",
    "[fe80::1%25eth0]",
    "[2001:db8::g]",
    "[:1]",
    "[1:]",
    "[]",
  ])("rejects %s", (host) => {
    expect(uriReason(`sip:u@${host}`)).toBe("invalid IPv6 address");
  });

  it("rejects an unterminated IPv6 reference", () => {
    expect(uriReason("sip:u@[2001:db8::1")).toBe("unterminated IPv6 reference");
  });

  it.each(["[::]", "[::1]", "[1::]", "[1:2:3:4:5:6:7::]", "[0:0:0:0:0:FFFF:129.144.52.38]", "[1:2:3:4:5:6:7:8]"])(
    "accepts %s",
    (host) => {
      expect(sip(`sip:${host}`).host).toBe(host.toLowerCase());
    },
  );

  it("compares IPv6 hosts as addresses, not text (RFC 5954 §4)", () => {
    expect(uriEquals(sip("sip:bob@[::ffff:192.0.2.128]"), sip("sip:bob@[::ffff:c000:280]"))).toBe(true);
    expect(uriEquals(sip("sip:[2001:db8::9:1]"), sip("sip:[2001:DB8:0:0:0:0:9:01]"))).toBe(true);
    expect(uriEquals(sip("sip:bob@[::ffff:192.0.2.128]"), sip("sip:bob@192.0.2.128"))).toBe(false);
  });

  it("round-trips IPv6 URIs and Vias", () => {
    for (const text of ["sip:[2001:db8::10]:5070;transport=tcp", "sip:user@[::ffff:192.0.2.10]"]) {
      expect(formatUri(sip(text))).toBe(text);
    }
    const v = "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111;received=2001:db8::9:255";
    expect(formatVia(via(v))).toBe(v);
  });
});

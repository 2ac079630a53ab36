import { describe, expect, it } from "vitest";
import { unescape } from "../../../src/sip/grammar.ts";
import {
  formatUri,
  hostAddress,
  isSipUri,
  isTelUri,
  parseRequestUri,
  parseUri,
  unescapeUser,
} from "../../../src/sip/uri.ts";
import { uriEquals } from "../../../src/sip/uri-equals.ts";
import type { SipUri, TelUri, Uri } from "../../../src/sip/uri.ts";

function sip(text: string): SipUri {
  const parsed = parseUri(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  if (!isSipUri(parsed.value)) throw new Error(`${text}: not a SIP URI`);
  return parsed.value;
}

function tel(text: string): TelUri {
  const parsed = parseUri(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  if (!isTelUri(parsed.value)) throw new Error(`${text}: not a tel URI`);
  return parsed.value;
}

function reason(text: string): string {
  const parsed = parseUri(text);
  if (parsed.ok) throw new Error(`${text} should not parse`);
  return parsed.reason;
}

function uri(text: string): Uri {
  const parsed = parseUri(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  return parsed.value;
}

describe("SIP URI components (RFC 3261 §19.1.1)", () => {
  it("splits user, host, port, parameters and headers", () => {
    const u = sip("sip:alice@atlanta.example.com:5070;transport=tcp;lr?subject=project%20x&priority=urgent");
    expect(u.scheme).toBe("sip");
    expect(u.user).toBe("alice");
    expect(u.password).toBeUndefined();
    expect(u.host).toBe("atlanta.example.com");
    expect(u.port).toBe(5070);
    expect([...u.params]).toEqual([
      ["transport", "tcp"],
      ["lr", null],
    ]);
    expect([...u.headers]).toEqual([
      ["subject", "project%20x"],
      ["priority", "urgent"],
    ]);
  });

  it("reads the scheme case-insensitively and lower-cases the host but not the user", () => {
    const u = sip("SIPS:Alice@AtLanTa.Example.COM");
    expect(u.scheme).toBe("sips");
    expect(u.user).toBe("Alice");
    expect(u.host).toBe("atlanta.example.com");
  });

  it("accepts a URI without user part (the proxy's own OPTIONS target)", () => {
    const u = sip("sip:127.0.0.1");
    expect(u.user).toBeUndefined();
    expect(u.host).toBe("127.0.0.1");
    expect(u.port).toBeUndefined();
  });

  it("accepts ports 0 and 65535 and rejects 65536, an empty port and a non-numeric one", () => {
    expect(sip("sip:h.example.com:0").port).toBe(0);
    expect(sip("sip:h.example.com:65535").port).toBe(65535);
    expect(reason("sip:h.example.com:65536")).toBe("invalid port");
    expect(reason("sip:h.example.com:")).toBe("invalid port");
    expect(reason("sip:h.example.com:50a")).toMatch(/character 'a'/);
  });

  it("validates IPv4 addresses and hostnames", () => {
    expect(sip("sip:u@255.255.255.255").host).toBe("255.255.255.255"); // RFC 4475 bcast
    expect(reason("sip:u@256.1.1.1")).toBe("invalid host");
    expect(reason("sip:u@1.2.3")).toBe("invalid host");
    expect(reason("sip:u@a..example.com")).toBe("invalid host");
    expect(sip("sip:u@example.com.").host).toBe("example.com.");
    expect(reason("sip:u@")).toBe("missing host");
  });

  it("reads the intmeth Request-URI: unusual user and password characters split at the first ':'", () => {
    // RFC 4475 §3.1.1.2 intmeth.dat, Request-URI
    const u = sip(
      "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
    );
    expect(u.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    expect(u.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    expect(u.host).toBe("example.com");
    expect(u.params.size).toBe(0);
    expect(u.headers.size).toBe(0);
  });

  it("keeps a user part holding ';' and an escaped '@' intact (RFC 4475 semiuri)", () => {
    // semiuri.dat Request-URI: the user part is "user;par=u@example.net", no URI parameters
    const u = sip("sip:user;par=u%40example.net@example.com");
    expect(u.user).toBe("user;par=u%40example.net");
    expect(unescapeUser(u.user ?? "")).toBe("user;par=u@example.net");
    expect(u.host).toBe("example.com");
    expect(u.params.size).toBe(0);
  });

  it("rejects a repeated URI parameter and an empty one", () => {
    expect(reason("sip:u@h.example.com;lr;lr")).toBe("duplicate URI parameter lr");
    expect(reason("sip:u@h.example.com;;lr")).toBe("empty URI parameter");
    expect(reason("sip:u@h.example.com;transport=")).toBe("empty value of URI parameter transport");
  });

  it("reads the parameters a proxy routes on: transport, maddr, lr, ob", () => {
    const u = sip("sip:p1.example.com;transport=WS;maddr=192.0.2.7;lr;ob");
    expect(u.params.get("transport")).toBe("WS");
    expect(u.params.get("maddr")).toBe("192.0.2.7");
    expect(u.params.get("lr")).toBeNull();
    expect(u.params.get("ob")).toBeNull();
  });
});

describe("escapes (RFC 4475 esc01, escnull)", () => {
  it("keeps escaped user parts as written and unescapes them on request", () => {
    // esc01.dat Request-URI and To
    const ruri = sip("sip:sips%3Auser%40example.com@example.net");
    expect(ruri.user).toBe("sips%3Auser%40example.com");
    expect(ruri.host).toBe("example.net");
    expect(unescapeUser(ruri.user ?? "")).toBe("sips:user@example.com");
    const to = sip("sip:%75se%72@example.com");
    expect(to.user).toBe("%75se%72");
    expect(uriEquals(to, uri("sip:user@example.com"))).toBe(true);
  });

  it("unescapes parameter names but never unescapes values twice", () => {
    // esc01.dat Contact: ";%6C%72" is ";lr"; "name" is "value%41", which is NOT "valueA"
    const u = sip("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
    expect(u.params.get("lr")).toBeNull();
    const value = u.params.get("name") ?? "";
    expect(unescape(value)).toBe("value%41");
    expect(uriEquals(u, uri("sip:caller@host5.example.net;lr;name=value%2541"))).toBe(true);
    expect(uriEquals(u, uri("sip:caller@host5.example.net;lr;name=valueA"))).toBe(false);
  });

  it("accepts escaped NUL in a user part and tells %00 from %00%00 (RFC 4475 escnull)", () => {
    const one = sip("sip:%00@host5.example.com");
    const two = sip("sip:%00%00@host5.example.com");
    expect(unescapeUser(one.user ?? "")).toBe("\0");
    expect(sip("sip:null-%00-null@example.com").user).toBe("null-%00-null");
    expect(uriEquals(one, two)).toBe(false);
  });

  it("rejects a malformed escape", () => {
    expect(reason("sip:us%zzer@example.com")).toBe("invalid %-escape in user part");
    expect(reason("sip:user@example.com;a=%4")).toBe("invalid %-escape in URI parameter a");
  });
});

describe("invalid URIs get a reason", () => {
  it("rejects a URI enclosed in < > where a bare URI is required (RFC 4475 ltgtruri)", () => {
    expect(reason("<sip:user@example.com>")).toBe("URI enclosed in < > where a bare URI is required");
  });

  it("rejects whitespace inside a URI (RFC 4475 lwsruri)", () => {
    expect(reason("sip:user@example.com; lr")).toBe("whitespace in URI parameter");
    expect(reason("sip:I have spaces@example.net")).toBe("whitespace in user part");
  });

  it("rejects characters that must be escaped", () => {
    expect(reason("sip:user@example.com>")).toBe("character '>' in URI");
    expect(reason('sip:us"er@example.com')).toBe("character '\"' in user part");
    expect(reason("sip:j\u00f6rg@example.com")).toBe("non-ASCII character in user part");
    expect(reason("sip:user@exa\u0000mple.com")).toBe("control character 0x00 in URI");
  });

  it("rejects an empty URI, a missing scheme and an empty user part", () => {
    expect(reason("")).toBe("empty URI");
    expect(reason("user@example.com")).toBe("missing URI scheme");
    expect(reason("sip:@example.com")).toBe("empty user part");
  });
});

describe("Request-URI restrictions (RFC 3261 §19.1.1 table 1)", () => {
  it("parses escaped headers in a URI but rejects them in a Request-URI (RFC 4475 escruri)", () => {
    const text = "sip:user@example.com?Route=%3Csip:example.com%3E";
    expect(sip(text).headers.get("route")).toBe("%3Csip:example.com%3E");
    const parsed = parseRequestUri(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toBe("headers not allowed in Request-URI");
  });

  it("rejects the method parameter in a Request-URI and accepts an ordinary one", () => {
    expect(parseRequestUri("sip:bob@biloxi.example.com;method=INVITE").ok).toBe(false);
    expect(parseRequestUri("sip:bob@biloxi.example.com;transport=tcp").ok).toBe(true);
  });
});

describe("other schemes are kept raw (RFC 4475 unkscm, novelsc, unksm2)", () => {
  it.each([
    ["nobodyKnowsThisScheme:totallyopaquecontent", "nobodyknowsthisscheme", "totallyopaquecontent"],
    ["soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"],
    ["isbn:2983792873", "isbn", "2983792873"],
    ["http://www.example.com", "http", "//www.example.com"],
    ["name:John_Smith", "name", "John_Smith"],
  ])("%s", (text, scheme, opaque) => {
    expect(uri(text)).toEqual({ scheme, opaque });
    expect(formatUri(uri(text))).toBe(`${scheme}:${opaque}`);
  });

  it("rejects an absolute URI with whitespace or nothing after the scheme", () => {
    expect(reason("urn:a b")).toBe("whitespace in URI");
    expect(reason("urn:")).toBe("empty URI after scheme");
  });
});

describe("tel URIs (RFC 3966)", () => {
  it("reads a global number with visual separators", () => {
    const t = tel("tel:+1-201-555-0123");
    expect(t.number).toBe("+1-201-555-0123");
    expect(t.params.size).toBe(0);
  });

  it("reads local numbers with phone-context (RFC 3966 §6 examples)", () => {
    expect(tel("tel:7042;phone-context=example.com").params.get("phone-context")).toBe("example.com");
    expect(tel("tel:863-1234;phone-context=+1-914-555").number).toBe("863-1234");
  });

  it("rejects a local number without phone-context (RFC 3966 §5.1.5)", () => {
    expect(reason("tel:7042")).toBe("local tel number without phone-context");
  });

  it("rejects a number without digits and trailing garbage", () => {
    expect(reason("tel:+")).toBe("tel URI without digits");
    expect(reason("tel:+1 555")).toBe("whitespace in tel URI");
  });

  it("compares numbers without visual separators and parameters in any order (RFC 3966 §4)", () => {
    expect(uriEquals(uri("tel:+1-201-555-0123"), uri("tel:+1(201)5550123"))).toBe(true);
    expect(uriEquals(uri("tel:7042;phone-context=Example.com;ext=1"), uri("tel:7042;ext=1;phone-context=example.com"))).toBe(true);
    expect(uriEquals(uri("tel:+1-201-555-0123"), uri("tel:+1-201-555-0123;ext=1"))).toBe(false);
    expect(uriEquals(uri("tel:863-1234;phone-context=+1-914-555"), uri("tel:8631234;phone-context=+1914555"))).toBe(true);
  });
});

describe("URI comparison (RFC 3261 §19.1.4 examples)", () => {
  it.each([
    ["sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"],
    ["sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"],
    ["sip:carol@chicago.com", "sip:carol@chicago.com;security=on"],
    ["sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"],
    [
      "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
      "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ],
    [
      "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
      "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ],
  ])("%s equals %s", (a, b) => {
    expect(uriEquals(uri(a), uri(b))).toBe(true);
    expect(uriEquals(uri(b), uri(a))).toBe(true);
  });

  it.each([
    ["SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"],
    ["sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"],
    ["sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"],
    ["sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"],
    ["sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"],
    ["sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"],
  ])("%s differs from %s", (a, b) => {
    expect(uriEquals(uri(a), uri(b))).toBe(false);
    expect(uriEquals(uri(b), uri(a))).toBe(false);
  });

  it("never matches when user, ttl, method or maddr appears in only one URI", () => {
    for (const param of ["user=phone", "ttl=1", "method=INVITE", "maddr=192.0.2.1"]) {
      expect(uriEquals(uri("sip:bob@biloxi.com"), uri(`sip:bob@biloxi.com;${param}`))).toBe(false);
    }
  });

  it("treats sip and sips as different and an escaped reserved character as different", () => {
    expect(uriEquals(uri("sip:bob@biloxi.com"), uri("sips:bob@biloxi.com"))).toBe(false);
    expect(uriEquals(uri("sip:a;b@biloxi.com"), uri("sip:a%3Bb@biloxi.com"))).toBe(false);
    expect(uriEquals(uri("sip:a%3bb@biloxi.com"), uri("sip:a%3Bb@biloxi.com"))).toBe(true);
  });
});

describe("formatting", () => {
  it.each([
    "sip:alice@atlanta.example.com",
    "sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr",
    "sip:[2001:db8::10]:5070;maddr=[2001:db8::1]",
    "sip:user;par=u%40example.net@example.com",
    "sip:user@example.com?route=%3Csip:example.com%3E&subject=x",
    "tel:+1-201-555-0123;ext=22",
    "tel:7042;phone-context=example.com",
  ])("round-trips %s", (text) => {
    const first = uri(text);
    const formatted = formatUri(first);
    expect(formatted).toBe(text);
    expect(uri(formatted)).toEqual(first);
  });

  it("writes unescaped parameter names in canonical form and re-parses to the same URI", () => {
    const first = uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
    const formatted = formatUri(first);
    expect(formatted).toBe("sip:cal%6Cer@host5.example.net;lr;name=v%61lue%25%34%31");
    expect(uri(formatted)).toEqual(first);
  });

  it("strips the brackets of an IPv6 host with hostAddress", () => {
    expect(hostAddress(sip("sip:[2001:DB8::1]").host)).toBe("2001:db8::1");
    expect(hostAddress("example.com")).toBe("example.com");
  });
});

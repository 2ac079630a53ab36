import { describe, expect, it } from "vitest";
import { unquote } from "../../../src/sip/grammar.ts";
import { formatNameAddr, parseNameAddr } from "../../../src/sip/name-addr.ts";
import type { NameAddr } from "../../../src/sip/name-addr.ts";
import { formatParams, parseParams } from "../../../src/sip/params.ts";
import { isSipUri } from "../../../src/sip/uri.ts";
import type { SipUri } from "../../../src/sip/uri.ts";

function nameAddr(text: string): NameAddr {
  const parsed = parseNameAddr(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  return parsed.value;
}

function sipUri(n: NameAddr): SipUri {
  if (!isSipUri(n.uri)) throw new Error("not a SIP URI");
  return n.uri;
}

function reason(text: string): string {
  const parsed = parseNameAddr(text);
  if (parsed.ok) throw new Error(`${text} should not parse`);
  return parsed.reason;
}

describe("name-addr and addr-spec forms (RFC 3261 §20.10)", () => {
  it("reads a quoted display name, the URI and header parameters", () => {
    const n = nameAddr('"Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423');
    expect(n.displayName).toBe("Bell, Alexander");
    expect(sipUri(n).user).toBe("a.g.bell");
    expect([...n.params]).toEqual([["tag", "433423"]]);
  });

  it("keeps URI parameters inside <> and header parameters outside apart", () => {
    const n = nameAddr("<sip:alice@192.0.2.4:5060;transport=ws;ob>;expires=3600;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1");
    expect([...sipUri(n).params]).toEqual([
      ["transport", "ws"],
      ["ob", null],
    ]);
    expect(n.params.get("expires")).toBe("3600");
    expect(unquote(n.params.get("+sip.instance") ?? "")).toBe("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
    expect(n.params.get("reg-id")).toBe("1");
    expect(n.displayName).toBeUndefined();
  });

  it("gives parameters after an addr-spec to the header, not the URI (RFC 4475 cparam01)", () => {
    const n = nameAddr("sip:+19725552222@gw1.example.net;unknownparam");
    expect(sipUri(n).params.size).toBe(0);
    expect(n.params.get("unknownparam")).toBeNull();
  });

  it("keeps a parameter inside <> on the URI (RFC 4475 cparam02)", () => {
    const n = nameAddr("<sip:+19725552222@gw1.example.net;unknownparam>");
    expect(sipUri(n).params.get("unknownparam")).toBeNull();
    expect(n.params.size).toBe(0);
  });

  it("reads user=phone after an addr-spec as a header parameter (RFC 4475 inv2543 To)", () => {
    const n = nameAddr("sip:+16505552222@ss1.example.net;user=phone");
    expect(n.params.get("user")).toBe("phone");
    expect(sipUri(n).params.has("user")).toBe(false);
  });

  it("reads an addr-spec with escapes and tag (RFC 4475 esc01 To/From)", () => {
    expect(sipUri(nameAddr("sip:%75se%72@example.com")).user).toBe("%75se%72");
    const from = nameAddr("<sip:I%20have%20spaces@example.net>;tag=938");
    expect(sipUri(from).user).toBe("I%20have%20spaces");
    expect(from.params.get("tag")).toBe("938");
  });

  it("reads a URI with escaped headers inside <> (RFC 4475 regescrt Contact)", () => {
    const n = nameAddr("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>");
    expect(sipUri(n).headers.get("route")).toBe("%3Csip:sip.example.com%3E");
  });

  it("reads other URI schemes in either form (RFC 4475 unksm2)", () => {
    expect(nameAddr("isbn:2983792873").uri).toEqual({ scheme: "isbn", opaque: "2983792873" });
    const from = nameAddr("<http://www.example.com>;tag=3234233");
    expect(from.uri).toEqual({ scheme: "http", opaque: "//www.example.com" });
    expect(from.params.get("tag")).toBe("3234233");
  });
});

describe("display names", () => {
  it("accepts a token display name with no LWS before < (RFC 4475 lwsdisp)", () => {
    const n = nameAddr("caller<sip:caller@example.com>;tag=323");
    expect(n.displayName).toBe("caller");
    expect(n.params.get("tag")).toBe("323");
  });

  it("accepts several token words and keeps them one space apart (RFC 4475 badvers From)", () => {
    expect(nameAddr("A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe").displayName).toBe("A. Bell");
    expect(nameAddr("A.\t Bell <sip:a.g.bell@example.com>").displayName).toBe("A. Bell");
  });

  it("accepts unusual token characters in display names and parameters (RFC 4475 intmeth From)", () => {
    const value =
      "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\";tag=_token~1'+`*%!-.";
    const n = nameAddr(value);
    expect(n.displayName).toBe("token1~` token2'+_ token3*%!.-");
    expect(unquote(n.params.get("fromparam''~+*_!.-%") ?? "")).toBe("\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439");
    expect(n.params.get("tag")).toBe("_token~1'+`*%!-.");
  });

  it("unescapes quoted-pairs, including control characters (RFC 4475 intmeth To, wsinv From)", () => {
    const to = nameAddr('"BEL:\\\u0007 NUL:\\\u0000 DEL:\\\u007f" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*@example.com>');
    expect(to.displayName).toBe("BEL:\u0007 NUL:\u0000 DEL:\u007f");
    expect(sipUri(to).user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    const from = nameAddr('"J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8');
    expect(from.displayName).toBe('J Rosenberg \\"');
    expect(from.params.get("tag")).toBe("98asjd8");
  });

  it("keeps a quoted display name that looks like escapes as text (RFC 4475 esc02)", () => {
    expect(nameAddr('"%Z%45" <sip:resource@example.com>').displayName).toBe("%Z%45");
  });

  it("rejects unbalanced quotes (RFC 4475 quotbal)", () => {
    expect(reason('"Mr. J. User <sip:j.user@example.com>')).toBe("unbalanced quotes in display name");
  });

  it("rejects an unquoted display name with non-token characters (RFC 4475 baddn)", () => {
    expect(reason("Bell, Alexander <sip:a.g.bell@example.com>;tag=43")).toBe("character ',' in display name (quote it)");
    expect(reason("Watson, Thomas <sip:t.watson@example.org>")).toBe("character ',' in display name (quote it)");
  });

  it("rejects whitespace inside the angle brackets (RFC 4475 badaspec)", () => {
    expect(reason('"Watson, Thomas" < sip:t.watson@example.org >')).toBe("whitespace inside < >");
  });

  it("rejects a missing '>', a display name without URI and trailing garbage", () => {
    expect(reason("<sip:a@example.com")).toBe("missing '>'");
    expect(reason("Alice Smith")).toBe("display name without <URI>");
    expect(reason("<sip:a@example.com> junk")).toBe("character 'j' before parameters");
    expect(reason("")).toBe("empty value");
  });
});

describe("LWS around parameters (RFC 4475 wsinv)", () => {
  it("reads the To value with spaces around ';' and '='", () => {
    const to = nameAddr("\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n");
    expect(sipUri(to).host).toBe("chair-dnrc.example.com");
    expect(to.params.get("tag")).toBe("1918181833n");
  });

  it("reads the Contact value with folded parameters", () => {
    const m = nameAddr('"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33');
    expect(m.displayName).toBe('Quoted string ""');
    expect([...m.params]).toEqual([
      ["newparam", "newvalue"],
      ["secondparam", null],
      ["q", "0.33"],
    ]);
  });

  it("reads the Route value with unknown URI parameters", () => {
    const route = nameAddr("\r\n <sip:services.example.com;lr;unknownwith=value;unknown-no-value>");
    expect([...sipUri(route).params]).toEqual([
      ["lr", null],
      ["unknownwith", "value"],
      ["unknown-no-value", null],
    ]);
  });
});

describe("header parameters (parseParams)", () => {
  it("lower-cases names, keeps values as written and flags as null", () => {
    const parsed = parseParams(";Tag=AbC;LR;Q=0.5");
    expect(parsed.ok && [...parsed.value]).toEqual([
      ["tag", "AbC"],
      ["lr", null],
      ["q", "0.5"],
    ]);
  });

  it("accepts an empty text", () => {
    const parsed = parseParams("");
    expect(parsed.ok && parsed.value.size).toBe(0);
  });

  it.each([
    [";tag=1;tag=2", "duplicate parameter tag"],
    [";", "empty parameter"],
    [";tag=", "empty value of parameter tag"],
    [';x="open', "unterminated quoted value of parameter x"],
    ["tag=1", "character 't' before parameters"],
    [";a=b c", "character 'c' before parameters"],
    [";a=<b>", "character '<' in parameter a"],
  ])("rejects %j (%s)", (text, why) => {
    const parsed = parseParams(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toBe(why);
  });

  it("quotes a value that is not a token when formatting", () => {
    const params = new Map<string, string | null>([
      ["expires", "60"],
      ["lr", null],
      ["note", "two words"],
    ]);
    expect(formatParams(params)).toBe(';expires=60;lr;note="two words"');
  });
});

describe("formatting", () => {
  it.each([
    ['"Alice" <sip:alice@atlanta.example.com>;tag=1928301774', '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774'],
    ["sip:bob@biloxi.example.com", "<sip:bob@biloxi.example.com>"],
    ["Bob Smith <sip:bob@biloxi.example.com;transport=tcp>;tag=a6c85cf", '"Bob Smith" <sip:bob@biloxi.example.com;transport=tcp>;tag=a6c85cf'],
    ['"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8', '"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8'],
    ["<sip:alice@[2001:db8::1]:5060;ob>;+sip.instance=\"<urn:uuid:1>\";reg-id=1", "<sip:alice@[2001:db8::1]:5060;ob>;+sip.instance=\"<urn:uuid:1>\";reg-id=1"],
    ["sip:+19725552222@gw1.example.net;unknownparam", "<sip:+19725552222@gw1.example.net>;unknownparam"],
  ])("formats %s as %s and re-parses to the same value", (text, expected) => {
    const first = nameAddr(text);
    const formatted = formatNameAddr(first);
    expect(formatted).toBe(expected);
    expect(nameAddr(formatted)).toEqual(first);
  });
});

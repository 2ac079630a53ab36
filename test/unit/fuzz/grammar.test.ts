import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatCSeq, parseCSeq } from "../../../src/sip/cseq.ts";
import { formatNameAddr, parseNameAddr } from "../../../src/sip/name-addr.ts";
import { formatParams, parseParams } from "../../../src/sip/params.ts";
import { formatUri, isSipUri, parseRequestUri, parseUri } from "../../../src/sip/uri.ts";
import { uriEquals } from "../../../src/sip/uri-equals.ts";
import { formatVia, parseVia } from "../../../src/sip/via.ts";
import * as arb from "../../fuzz/arbitraries.ts";
import { FUZZ_SEED, runs } from "../../fuzz/budget.ts";

// Property tests of the header grammars (RFC 3261 §25.1, RFC 3966, RFC 5118): what the grammar
// allows parses, what the formatter writes parses back to the same thing, and no input at all
// makes a parser throw. FUZZ_SEED replays a run; FUZZ_SCALE multiplies the number of cases.

const opts = (numRuns: number) => ({ numRuns: runs(numRuns), seed: FUZZ_SEED });
const anyText = fc.oneof(fc.string({ unit: "binary", maxLength: 80 }), fc.string({ unit: "grapheme-ascii", maxLength: 80 }));

function value<T>(r: { ok: true; value: T } | { ok: false; reason: string }): T {
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

describe("URIs (sip, sips, tel; RFC 5118 IPv6)", () => {
  it("every SIP/SIPS/tel URI the grammar allows parses, and formatting it again is a fixed point", () => {
    fc.assert(
      fc.property(arb.anyUri, (text) => {
        const uri = value(parseUri(text));
        const again = value(parseUri(formatUri(uri)));
        expect(formatUri(again)).toBe(formatUri(uri));
        expect(uriEquals(uri, again)).toBe(true);
      }),
      opts(1500),
    );
  });

  it("a Request-URI without headers or method parameter is accepted as one", () => {
    fc.assert(fc.property(arb.sipUri({ requestUri: true }), (text) => void value(parseRequestUri(text))), opts(500));
  });

  it("two spellings of one IPv6 address name the same host (RFC 5118 §4: compare as addresses)", () => {
    fc.assert(
      fc.property(arb.ipv6Groups, arb.ipv6Style, arb.ipv6Style, fc.option(fc.nat(65535), { nil: undefined }), (groups, s1, s2, port) => {
        const p = port === undefined ? "" : `:${port}`;
        const a = value(parseUri(`sip:alice@[${arb.ipv6Text(groups, s1)}]${p}`));
        const b = value(parseUri(`sip:alice@[${arb.ipv6Text(groups, s2)}]${p}`));
        expect(uriEquals(a, b)).toBe(true);
        if (isSipUri(a)) expect(a.port).toBe(port);
      }),
      opts(1000),
    );
  });

  it("an IPv6 address without brackets is refused in a SIP URI (RFC 5118 §4.2: the colons would read as a port)", () => {
    fc.assert(
      fc.property(arb.ipv6.filter((a) => a.split(":").length > 2), (addr) => {
        expect(parseUri(`sip:bob@${addr}`).ok).toBe(false);
      }),
      opts(300),
    );
  });

  it("no text makes the URI parser throw, and whatever parses formats to a fixed point", () => {
    fc.assert(
      fc.property(fc.oneof(anyText, arb.anyUri.map((u) => u.slice(0, -1)), fc.tuple(arb.anyUri, anyText).map(([u, t]) => u + t)), (text) => {
        const parsed = parseUri(text);
        if (!parsed.ok) {
          expect(parsed.reason.length).toBeGreaterThan(0);
          return;
        }
        const once = formatUri(parsed.value);
        expect(formatUri(value(parseUri(once)))).toBe(once);
      }),
      opts(1500),
    );
  });
});

describe("name-addr, Via, CSeq and parameters", () => {
  it("name-addr and addr-spec values parse, and formatNameAddr round-trips them", () => {
    fc.assert(
      fc.property(arb.nameAddr, (text) => {
        const n = value(parseNameAddr(text));
        const again = value(parseNameAddr(formatNameAddr(n)));
        expect(again.displayName).toBe(n.displayName);
        expect(uriEquals(again.uri, n.uri)).toBe(true);
        expect([...again.params]).toEqual([...n.params]);
      }),
      opts(1500),
    );
  });

  it("any display name survives quoting (quotes, backslashes, non-ASCII)", () => {
    fc.assert(
      fc.property(arb.displayName, (name) => {
        const n = value(parseNameAddr(formatNameAddr({ displayName: name, uri: value(parseUri("sip:a@b")), params: new Map() })));
        expect(n.displayName).toBe(name);
      }),
      opts(500),
    );
  });

  it("Via values parse and formatVia round-trips them", () => {
    fc.assert(
      fc.property(arb.via, (text) => {
        const v = value(parseVia(text));
        const again = value(parseVia(formatVia(v)));
        expect(again).toEqual(v);
      }),
      opts(1500),
    );
  });

  it("CSeq round-trips below 2**31 and refuses 2**31 and above", () => {
    fc.assert(
      fc.property(arb.cseq, fc.integer({ min: 0x80000000, max: Number.MAX_SAFE_INTEGER }), ([seq, m], big) => {
        expect(value(parseCSeq(formatCSeq({ seq, method: m })))).toEqual({ seq, method: m });
        expect(parseCSeq(`${big} ${m}`).ok).toBe(false);
      }),
      opts(500),
    );
  });

  it("header parameters round-trip through formatParams", () => {
    fc.assert(
      fc.property(arb.headerParams, (text) => {
        const p = value(parseParams(text));
        expect([...value(parseParams(formatParams(p)))]).toEqual([...p]);
      }),
      opts(500),
    );
  });

  it("no text makes the name-addr, Via, CSeq or parameter parsers throw; what parses re-parses the same", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const n = parseNameAddr(text);
        if (n.ok) expect(formatNameAddr(value(parseNameAddr(formatNameAddr(n.value))))).toBe(formatNameAddr(n.value));
        const v = parseVia(text);
        if (v.ok) expect(value(parseVia(formatVia(v.value)))).toEqual(v.value);
        const c = parseCSeq(text);
        if (c.ok) expect(value(parseCSeq(formatCSeq(c.value)))).toEqual(c.value);
        const p = parseParams(text);
        if (p.ok) expect([...value(parseParams(formatParams(p.value)))]).toEqual([...p.value]);
      }),
      opts(2000),
    );
  });
});

import { describe, expect, it } from "vitest";
import { lowerName } from "../../../src/sip/grammar.ts";
import { parseParams } from "../../../src/sip/params.ts";
import { isSipUri, parseUri } from "../../../src/sip/uri.ts";
import { parseCredentials } from "../../../src/sip/digest.ts";

describe("parameter names", () => {
  it("lower-cases any name, common or not, and reads only its range", () => {
    const text = ";BrAnCh=1;X-Custom=2;TAG;nonce9";
    expect(lowerName(text, 1, 7)).toBe("branch");
    expect(lowerName(text, 10, 18)).toBe("x-custom");
    expect(lowerName(text, 21, 24)).toBe("tag");
    expect(lowerName(text, 25, 31)).toBe("nonce9"); // the length of a common name, not one
    expect(lowerName("+SIP.Instance", 0, 13)).toBe("+sip.instance");
    expect(lowerName("reg_id", 0, 6)).toBe("reg_id");
  });

  it("header, URI and digest parameters keep their meaning", () => {
    const via = parseParams(";Branch=z9hG4bK1;RPORT;Received=192.0.2.1;x=1");
    expect(via.ok && [...via.value]).toEqual([["branch", "z9hG4bK1"], ["rport", null], ["received", "192.0.2.1"], ["x", "1"]]);
    expect(parseParams(";tag=a;TAG=b")).toMatchObject({ ok: false });
    const uri = parseUri("sip:alice@example.com;Transport=WS;LR;%6Fb");
    expect(uri.ok && isSipUri(uri.value) && [...uri.value.params]).toEqual([["transport", "WS"], ["lr", null], ["ob", null]]);
    const creds = parseCredentials('Digest USERNAME="u", Realm="r", nonce="n", uri="sip:r", response="0"');
    expect(creds.ok && "username" in creds.value && [creds.value.username, creds.value.realm]).toEqual(["u", "r"]);
  });
});

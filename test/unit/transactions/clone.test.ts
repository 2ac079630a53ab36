import { describe, expect, it } from "vitest";
import { serialize } from "../../../src/sip/serializer.ts";
import { invite, request, response, crlf } from "./helpers.ts";

describe("SipRequest.clone / SipResponse.clone", () => {
  it("a clone serializes byte for byte like the original", () => {
    const original = request(invite());
    expect(serialize(original.clone())).toBe(serialize(original));
  });

  it("changing the clone's headers, Request-URI or body leaves the original untouched", () => {
    const original = request(invite());
    const before = serialize(original);
    const copy = original.clone();
    copy.uri = "sip:bob@127.0.0.3:5060";
    copy.headers.prepend("Via", "SIP/2.0/WSS edge.invalid;branch=z9hG4bKcopy");
    copy.body = "";
    expect(serialize(original)).toBe(before);
    expect(copy.topVia().branch).toBe("z9hG4bKcopy");
    expect(original.topVia().branch).toBe("z9hG4bK56sdasks");
    expect(copy.maxForwards).toBe(69);
    expect(copy.startLine()).toBe("INVITE sip:bob@127.0.0.3:5060 SIP/2.0");
  });

  it("a response clone keeps status, reason and headers", () => {
    const r = response(crlf("SIP/2.0 180 Ringing", "Via: SIP/2.0/WSS a.invalid;branch=z9hG4bK1", "To: <sip:b@x>;tag=1", "From: <sip:a@x>;tag=2", "Call-ID: c", "CSeq: 1 INVITE", "Content-Length: 0", "", ""));
    const copy = r.clone();
    copy.headers.removeFirstValue("via");
    expect(copy.status).toBe(180);
    expect(r.headers.getAll("via")).toHaveLength(1);
    expect(serialize(r.clone())).toBe(serialize(r));
  });
});

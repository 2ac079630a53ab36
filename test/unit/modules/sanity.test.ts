import { describe, expect, it } from "vitest";
import { Sanity } from "../../../src/modules/sanity/index.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { sipRequest, type RequestOptions } from "../../helpers/sip-text.ts";

function check(options: RequestOptions, supported: string[] = []) {
  const parsed = parseMessage(sipRequest(options));
  if (!parsed.ok || parsed.message.kind !== "request") throw new Error(`test request did not parse: ${JSON.stringify(parsed)}`);
  return new Sanity(parsed.message, { supported }).check();
}

describe("sanity checks, each named after the rule it enforces", () => {
  it("passes a well-formed request", () => {
    expect(check({})).toEqual({ ok: true });
  });

  it("RFC 3261 §16.3 item 2: an unknown Request-URI scheme gets 416", () => {
    expect(check({ ruri: "xmpp:bob@localhost" })).toMatchObject({ ok: false, status: 416, check: "rfc3261_16_3_requestUriScheme" });
  });

  it("accepts tel: and sips: Request-URIs", () => {
    expect(check({ method: "INVITE", ruri: "tel:+15551234567" })).toEqual({ ok: true });
    expect(check({ method: "INVITE", ruri: "sips:bob@localhost" })).toEqual({ ok: true });
  });

  it("RFC 3261 §16.3 item 4: an unsupported Proxy-Require gets 420 with Unsupported", () => {
    expect(check({ extraHeaders: ["Proxy-Require: sec-agree"] })).toMatchObject({ ok: false, status: 420, headers: [["Unsupported", "sec-agree"]] });
    expect(check({ extraHeaders: ["Proxy-Require: path"] }, ["path"])).toEqual({ ok: true });
  });

  it("RFC 3261 §20.19: a non-numeric Expires gets 400", () => {
    expect(check({ method: "REGISTER", ruri: "sip:localhost", extraHeaders: ["Expires: soon"] })).toMatchObject({ ok: false, status: 400 });
  });

  it("RFC 3261 §20.10: an unparsable Contact in a REGISTER gets 400; Contact: * passes", () => {
    expect(check({ method: "REGISTER", ruri: "sip:localhost", extraHeaders: ["Contact: <sip:a@b"] })).toMatchObject({ ok: false, status: 400 });
    expect(check({ method: "REGISTER", ruri: "sip:localhost", extraHeaders: ["Contact: *", "Expires: 0"] })).toEqual({ ok: true });
    expect(check({ method: "INVITE", ruri: "sip:bob@localhost", extraHeaders: ["Contact: *"] })).toMatchObject({ ok: false, status: 400 });
  });
});

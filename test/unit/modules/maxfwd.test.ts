import { describe, expect, it } from "vitest";
import { Maxfwd } from "../../../src/modules/maxfwd/index.ts";
import type { SipRequest } from "../../../src/sip/message.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { sipRequest, type RequestOptions } from "../../helpers/sip-text.ts";

function request(options: RequestOptions): SipRequest {
  const parsed = parseMessage(sipRequest(options));
  if (!parsed.ok || parsed.message.kind !== "request") throw new Error("test request did not parse");
  return parsed.message;
}

describe("maxfwd.process (Kamailio mf_process_maxfwd_header)", () => {
  it("inserts the header with the given value when it is missing", () => {
    const msg = request({ maxForwards: null });
    expect(new Maxfwd(msg).process(10)).toEqual({ ok: true, action: "inserted", value: 10 });
    expect(msg.headers.get("Max-Forwards")).toBe("10");
  });

  it("decrements a present header", () => {
    const msg = request({ maxForwards: 5 });
    expect(new Maxfwd(msg).process(10)).toEqual({ ok: true, action: "decremented", value: 4 });
    expect(msg.headers.get("max-forwards")).toBe("4");
  });

  it("refuses a request that arrives with 0 (the script answers 483)", () => {
    expect(new Maxfwd(request({ maxForwards: 0 })).process(10)).toEqual({ ok: false, reason: "too-many-hops" });
  });

  it("lowers a value above max_limit to max_limit", () => {
    const msg = request({ maxForwards: 200 });
    expect(new Maxfwd(msg, { maxLimit: 70 }).process(10)).toEqual({ ok: true, action: "decremented", value: 70 });
  });

  it("is_maxfwd_lt: true only when the header is present and below the value", () => {
    expect(new Maxfwd(request({ maxForwards: null })).isLessThan(5)).toBe(false);
    expect(new Maxfwd(request({ maxForwards: 3 })).isLessThan(5)).toBe(true);
    expect(new Maxfwd(request({ maxForwards: 5 })).isLessThan(5)).toBe(false);
  });
});

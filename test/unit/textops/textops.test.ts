import { describe, expect, it } from "vitest";
import { Textops } from "../../../src/modules/textops/index.ts";
import { serialize } from "../../../src/sip/serializer.ts";
import { invite, request } from "../transactions/helpers.ts";

describe("textops (Kamailio append_hf, remove_hf, is_present_hf)", () => {
  it("append_hf(\"P-hint: rr-enforced\\r\\n\") adds the header after the last one, in the seed's spelling", () => {
    const req = request(invite());
    expect(new Textops(req).appendHf("P-hint: rr-enforced\r\n")).toEqual({ ok: true, name: "P-hint", value: "rr-enforced" });
    const text = serialize(req);
    const head = text.slice(0, text.indexOf("\r\n\r\n"));
    expect(head.split("\r\n").at(-1)).toBe("P-hint: rr-enforced");
    expect(new Textops(req).isPresentHf("p-hint")).toBe(true);
  });

  it("takes the text without the CRLF too, and appends a second value of the same header as a line of its own", () => {
    const req = request(invite());
    const t = new Textops(req);
    t.appendHf("P-hint: outbound");
    t.appendHf("P-hint: outbound alias\r\n");
    expect(req.headers.getAll("p-hint")).toEqual(["outbound", "outbound alias"]);
    expect(t.removeHf("P-hint")).toBe(2);
    expect(t.isPresentHf("P-hint")).toBe(false);
  });

  it("refuses what is not one header field, leaving the request as it was", () => {
    const req = request(invite());
    const before = serialize(req);
    const t = new Textops(req);
    expect(t.appendHf("no colon here")).toMatchObject({ ok: false });
    expect(t.appendHf("Bad Name: x")).toMatchObject({ ok: false, reason: 'not a header name: "Bad Name"' });
    expect(t.appendHf("X-A: one\r\nX-B: smuggled\r\n")).toMatchObject({ ok: false, reason: "a header value must be one line" });
    expect(t.appendHf("Content-Length: 0")).toMatchObject({ ok: false });
    expect(serialize(req)).toBe(before);
  });
});

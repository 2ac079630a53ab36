import { describe, expect, it } from "vitest";
import { callerIdEdits, fromForCid, presentedIdentity } from "../../../src/modules/uac/caller-id.ts";
import type { NumberPlan } from "../../../src/modules/uac/numbers.ts";
import type { SipRequest } from "../../../src/sip/message.ts";
import { inviteText, parse } from "./harness.ts";

const NANP: NumberPlan = { countryCode: "1", nationalPrefix: "1", internationalPrefix: "011" };
const invite = (extra: string[] = [], user = "alice") => parse(inviteText("sip:15551234567@sip.example.test", 1, extra, "cid", user)) as SipRequest;
const OWNS = { numbers: ["+15550001234", "+15557654321"], groups: [] };

describe("caller ID toward carriers (RFC 3325, RFC 3323)", () => {
  it("the subscriber's rpid by default; one of its own DIDs when the phone prefers it; never a number it does not own", () => {
    expect(presentedIdentity(invite(), OWNS, NANP)).toEqual({ kind: "number", number: "+15550001234" });
    expect(presentedIdentity(invite(["P-Preferred-Identity: <sip:15557654321@sip.example.test>"]), OWNS, NANP)).toEqual({ kind: "number", number: "+15557654321" });
    expect(presentedIdentity(invite(["P-Preferred-Identity: <tel:+15559999999>"]), OWNS, NANP)).toEqual({ kind: "number", number: "+15550001234" });
  });

  it("Privacy: id (or header, user) gives an anonymous From but keeps the number for the asserted identity", () => {
    expect(presentedIdentity(invite(["Privacy: id"]), OWNS, NANP)).toEqual({ kind: "anonymous", number: "+15550001234" });
    expect(presentedIdentity(invite(["Privacy: header;user"]), OWNS, NANP)).toMatchObject({ kind: "anonymous" });
    expect(presentedIdentity(invite(["Privacy: none"]), OWNS, NANP)).toMatchObject({ kind: "number" });
  });

  it("without a number: a From that looks like one is hidden, a name is left alone", () => {
    expect(presentedIdentity(invite([], "4930123"), { numbers: [], groups: [] }, NANP)).toEqual({ kind: "anonymous" });
    expect(presentedIdentity(invite(), { numbers: [], groups: [] }, NANP)).toEqual({ kind: "unchanged" });
  });

  it("the edits replace From (tag kept), set P-Asserted-Identity and remove what the phone asserted", () => {
    const request = invite(["P-Asserted-Identity: <sip:+1999@x>"]);
    expect(callerIdEdits(request, { kind: "number", number: "+15550001234" }, "sip.example.test")).toEqual({
      remove: ["P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID"],
      set: [["From", "<sip:+15550001234@sip.example.test>;tag=caller1"], ["P-Asserted-Identity", "<sip:+15550001234@sip.example.test>"]],
    });
    expect(fromForCid("anonymous", "t1", "d")).toBe('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=t1');
    expect(fromForCid("<script>", "t1", "d")).toBeUndefined();
  });
});

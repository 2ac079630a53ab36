import { describe, expect, it } from "vitest";
import { classify, dialString, isEmergency, toE164, type NumberPlan } from "../../../src/modules/uac/numbers.ts";
import { checkDestination } from "../../../src/modules/uac/toll.ts";

const NANP: NumberPlan = { countryCode: "1", nationalPrefix: "1", internationalPrefix: "011" };
const GERMANY: NumberPlan = { countryCode: "49", nationalPrefix: "0", internationalPrefix: "00" };

describe("dial strings to E.164", () => {
  it.each([
    ["+15551234567", NANP, "+15551234567"],
    ["15551234567", NANP, "+15551234567"],
    ["5551234567", NANP, "+15551234567"],
    ["(555) 123-4567", NANP, "+15551234567"],
    ["011442079460000", NANP, "+442079460000"],
    ["030123456", GERMANY, "+4930123456"],
    ["0044 20 7946 0000", GERMANY, "+442079460000"],
    ["+4930123456", GERMANY, "+4930123456"],
    ["0111234567890123456", NANP, undefined],
    ["+0123", NANP, undefined],
    ["alice", NANP, undefined],
  ] as const)("%s (+%s) → %s", (text, plan, e164) => {
    expect(toE164(text, plan)).toBe(e164);
  });

  it("classes: premium prefixes first, then home country or not", () => {
    expect(classify("+19005550100", NANP, ["+1900"])).toBe("premium");
    expect(classify("+15551234567", NANP, ["+1900"])).toBe("national");
    expect(classify("+442079460000", NANP, ["+1900"])).toBe("international");
  });

  it("emergency numbers match as dialled", () => {
    expect(isEmergency("911", ["112", "911"])).toBe(true);
    expect(isEmergency("+1911", ["112", "911"])).toBe(false);
    expect(dialString("1-800")).toBe("1800");
  });
});

describe("toll-fraud destination rules", () => {
  const rules = { plan: NANP, premiumPrefixes: ["+1900", "+1976"], emergencyNumbers: ["112", "911"] };

  it("emergency numbers pass whatever the groups", () => {
    expect(checkDestination("911", [], rules)).toEqual({ ok: true, emergency: true, dialled: "911" });
    expect(checkDestination("112", [], rules)).toMatchObject({ ok: true, emergency: true });
  });

  it("premium and international are off unless enabled by group or prefix", () => {
    expect(checkDestination("19005550100", [], rules)).toEqual({ ok: false, status: 403, reason: "Premium Rate Numbers Not Allowed", rule: "premium", e164: "+19005550100" });
    expect(checkDestination("19005550100", ["premium"], rules)).toMatchObject({ ok: true, class: "premium" });
    expect(checkDestination("19765550100", ["+1976"], rules)).toMatchObject({ ok: true, class: "premium" });
    expect(checkDestination("01133140000000", [], rules)).toMatchObject({ ok: false, rule: "international", e164: "+33140000000" });
    expect(checkDestination("01133140000000", ["+44"], rules)).toMatchObject({ ok: false, rule: "international" });
    expect(checkDestination("011442079460000", ["+44"], rules)).toMatchObject({ ok: true, e164: "+442079460000", class: "international" });
    expect(checkDestination("01133140000000", ["international"], rules)).toMatchObject({ ok: true });
    expect(checkDestination("15551234567", [], rules)).toEqual({ ok: true, emergency: false, e164: "+15551234567", class: "national" });
  });

  it("a string that is no number gets 484 Address Incomplete", () => {
    expect(checkDestination("0111234567890123456", [], rules)).toMatchObject({ ok: false, status: 484, rule: "not-a-number" });
  });
});

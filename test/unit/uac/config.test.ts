import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config.ts";

describe("carrier-trunk variables", () => {
  it("default to the North American Numbering Plan, +1900/+1976 premium, 10 calls a minute, 30 s retries up to 30 min", () => {
    expect(parseConfig({}).uac).toEqual({
      plan: { countryCode: "1", nationalPrefix: "1", internationalPrefix: "011" },
      premiumPrefixes: ["+1900", "+1976"],
      callsPerMinute: 10,
      regRetryInterval: 30,
      regRetryMax: 1800,
    });
    expect(parseConfig({ HOME_COUNTRY_CODE: "49", NATIONAL_PREFIX: "0", INTERNATIONAL_PREFIX: "00", PREMIUM_PREFIXES: "+49900, +49137", CALLS_PER_MINUTE: "0" }).uac).toMatchObject({
      plan: { countryCode: "49", nationalPrefix: "0", internationalPrefix: "00" },
      premiumPrefixes: ["+49900", "+49137"],
      callsPerMinute: 0,
    });
  });

  it.each([
    [{ HOME_COUNTRY_CODE: "+49" }, "HOME_COUNTRY_CODE"],
    [{ HOME_COUNTRY_CODE: "049" }, "HOME_COUNTRY_CODE"],
    [{ PREMIUM_PREFIXES: "1900" }, "PREMIUM_PREFIXES"],
    [{ CALLS_PER_MINUTE: "many" }, "CALLS_PER_MINUTE"],
    [{ UAC_REG_RETRY_INTERVAL: "0" }, "UAC_REG_RETRY_INTERVAL"],
    [{ UAC_REG_RETRY_INTERVAL: "60", UAC_REG_RETRY_MAX: "30" }, "UAC_REG_RETRY_MAX"],
  ])("%o is refused naming the file and %s", (vars, field) => {
    expect(() => parseConfig(vars)).toThrow(new RegExp(`^wrangler\\.toml \\[vars\\]: ${field}: `));
  });
});

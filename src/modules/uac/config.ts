/**
 * The uac module's variables (wrangler.toml [vars], `SIPEDGE_<NAME>` for npm start). Parsed once
 * with the rest of the configuration; `fail` raises the configuration's error naming the field.
 */
import type { NumberPlan } from "./numbers.ts";

export interface UacVars {
  HOME_COUNTRY_CODE?: string;
  NATIONAL_PREFIX?: string;
  INTERNATIONAL_PREFIX?: string;
  PREMIUM_PREFIXES?: string;
  CALLS_PER_MINUTE?: string;
  UAC_REG_RETRY_INTERVAL?: string;
  UAC_REG_RETRY_MAX?: string;
}

export interface UacConfig {
  /** How callers dial, for E.164 normalisation. */
  plan: NumberPlan;
  /** E.164 prefixes of premium-rate numbers ("+1900"): refused unless the user is in group `premium`. */
  premiumPrefixes: string[];
  /** Calls to the PSTN one user may start per minute; 0 = no limit. Emergency calls are never counted. */
  callsPerMinute: number;
  /** uac_reg: seconds before the first retry of a failed registration, and the most the doubling backoff reaches. */
  regRetryInterval: number;
  regRetryMax: number;
}

export type ConfigFail = (field: string, reason: string) => never;

function digits(field: string, value: string | undefined, fallback: string, fail: ConfigFail, allowEmpty = false): string {
  const v = value === undefined ? fallback : value.trim();
  if (v === "" && allowEmpty) return v;
  if (!/^[0-9]{1,4}$/.test(v)) fail(field, `expected 1 to 4 digits${allowEmpty ? " or empty" : ""}, got ${JSON.stringify(value)}`);
  return v;
}

function count(field: string, value: string | undefined, fallback: number, fail: ConfigFail, min = 0): number {
  if (value === undefined || value.trim() === "") return fallback;
  if (!/^[0-9]+$/.test(value.trim()) || Number(value) < min) fail(field, `expected a whole number of at least ${min}, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Defaults: the North American Numbering Plan (+1, trunk prefix 1, access code 011), +1900 and +1976 premium. */
export function parseUacConfig(env: UacVars, fail: ConfigFail): UacConfig {
  const countryCode = digits("HOME_COUNTRY_CODE", env.HOME_COUNTRY_CODE, "1", fail);
  if (countryCode.startsWith("0")) fail("HOME_COUNTRY_CODE", `a country code does not start with 0, got ${JSON.stringify(countryCode)}`);
  const premiumPrefixes = (env.PREMIUM_PREFIXES ?? "+1900,+1976").split(",").map((p) => p.trim()).filter((p) => p !== "");
  for (const p of premiumPrefixes) if (!/^\+[1-9][0-9]{0,14}$/.test(p)) fail("PREMIUM_PREFIXES", `expected E.164 prefixes like +1900, got ${JSON.stringify(p)}`);
  const regRetryInterval = count("UAC_REG_RETRY_INTERVAL", env.UAC_REG_RETRY_INTERVAL, 30, fail, 1);
  const regRetryMax = count("UAC_REG_RETRY_MAX", env.UAC_REG_RETRY_MAX, 1800, fail, 1);
  if (regRetryMax < regRetryInterval) fail("UAC_REG_RETRY_MAX", `must be at least UAC_REG_RETRY_INTERVAL (${regRetryInterval}), got ${regRetryMax}`);
  return {
    plan: {
      countryCode,
      nationalPrefix: digits("NATIONAL_PREFIX", env.NATIONAL_PREFIX, "1", fail, true),
      internationalPrefix: digits("INTERNATIONAL_PREFIX", env.INTERNATIONAL_PREFIX, "011", fail),
    },
    premiumPrefixes,
    callsPerMinute: count("CALLS_PER_MINUTE", env.CALLS_PER_MINUTE, 10, fail),
    regRetryInterval,
    regRetryMax,
  };
}

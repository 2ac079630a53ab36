/**
 * Toll-fraud limits on calls to the PSTN: what a stolen password can cost. Emergency numbers are
 * always allowed; a number is normalised to E.164 (what goes to the carrier is what was checked);
 * premium-rate and international numbers need the user to be in group `premium` or
 * `international` (Kamailio group module, `is_user_in`), or the number to start with a prefix the
 * user is allowed (a `grp` value such as `+44`). The calls-per-minute limit is counted elsewhere
 * (it needs a per-user counter).
 */
import { classify, isEmergency, toE164, type NumberClass, type NumberPlan } from "./numbers.ts";

export interface TollRules {
  plan: NumberPlan;
  premiumPrefixes: readonly string[];
  emergencyNumbers: readonly string[];
}

export type TollVerdict =
  | { ok: true; emergency: true; dialled: string }
  | { ok: true; emergency: false; e164: string; class: NumberClass }
  | { ok: false; status: 403 | 484; reason: string; rule: TollRule; e164?: string };

export type TollRule = "not-a-number" | "premium" | "international" | "calls-per-minute";

/** The 403 reason phrases (RFC 3261 §21.4.4: the reason says why; the phone shows it). */
export const REFUSALS: Record<TollRule, { status: 403 | 484; reason: string }> = {
  "not-a-number": { status: 484, reason: "Address Incomplete" },
  premium: { status: 403, reason: "Premium Rate Numbers Not Allowed" },
  international: { status: 403, reason: "International Calls Not Allowed" },
  "calls-per-minute": { status: 403, reason: "Call Rate Limit Exceeded" },
};

export function refusal(rule: TollRule, e164?: string): Extract<TollVerdict, { ok: false }> {
  return { ok: false, ...REFUSALS[rule], rule, ...(e164 === undefined ? {} : { e164 }) };
}

/** The destination check (without the rate limit) for `dialled`, a user part or tel number. */
export function checkDestination(dialled: string, groups: readonly string[], rules: TollRules): TollVerdict {
  if (isEmergency(dialled, rules.emergencyNumbers)) return { ok: true, emergency: true, dialled };
  const e164 = toE164(dialled, rules.plan);
  if (e164 === undefined) return refusal("not-a-number");
  const cls = classify(e164, rules.plan, rules.premiumPrefixes);
  const prefixAllowed = groups.some((g) => g.startsWith("+") && e164.startsWith(g));
  if (cls !== "national" && !prefixAllowed && !groups.includes(cls)) return refusal(cls, e164);
  return { ok: true, emergency: false, e164, class: cls };
}

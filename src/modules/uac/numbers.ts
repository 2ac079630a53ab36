/**
 * Telephone numbers as the PSTN side sees them: what a caller dialled (a national number, one with
 * the international access code, or an E.164 number with "+") normalised to E.164 (ITU-T E.164,
 * written "+<country code><national number>" as RFC 3966 global numbers are), and classified for
 * the toll-fraud limits. What is classified is what goes to the carrier, so a dial string can never
 * mean one thing here and another at the carrier.
 */

/** How the edge's callers dial (a national numbering plan). */
export interface NumberPlan {
  /** E.164 country code of the edge's home country, digits only ("1", "49"). */
  countryCode: string;
  /** Trunk prefix of a national number ("1" in the NANP, "0" in most of Europe); "" for none. */
  nationalPrefix: string;
  /** International access code ("011" in the NANP, "00" elsewhere). */
  internationalPrefix: string;
}

export type NumberClass = "national" | "international" | "premium";

// RFC 3966 §5.1.1 visual separators: "-", ".", "(", ")"; blanks too, as phones send them.
const SEPARATORS = /[-.() ]/g;

/** The digits of a dial string with its separators removed, or undefined when it is not one ("+"? digits). */
export function dialString(text: string): string | undefined {
  const s = text.replace(SEPARATORS, "");
  return /^\+?[0-9]{1,32}$/.test(s) ? s : undefined;
}

/**
 * A dial string as E.164 ("+" and 1 to 15 digits): "+..." stays; the international access code
 * becomes "+"; the trunk prefix, or no prefix at all, is a national number of the home country.
 * Undefined when the result would not be a number E.164 allows (more than 15 digits).
 */
export function toE164(text: string, plan: NumberPlan): string | undefined {
  const s = dialString(text);
  if (s === undefined) return undefined;
  let e164: string;
  if (s.startsWith("+")) e164 = s;
  else if (plan.internationalPrefix !== "" && s.startsWith(plan.internationalPrefix)) e164 = "+" + s.slice(plan.internationalPrefix.length);
  else if (plan.nationalPrefix !== "" && s.startsWith(plan.nationalPrefix)) e164 = "+" + plan.countryCode + s.slice(plan.nationalPrefix.length);
  else e164 = "+" + plan.countryCode + s;
  // E.164 §6.1: at most 15 digits; a bare "+" or a country code alone reaches nobody.
  return /^\+[1-9][0-9]{1,14}$/.test(e164) ? e164 : undefined;
}

/** Premium prefixes first (they may lie inside the home country), then home country or not. */
export function classify(e164: string, plan: NumberPlan, premiumPrefixes: readonly string[]): NumberClass {
  if (premiumPrefixes.some((p) => e164.startsWith(p))) return "premium";
  return e164.startsWith("+" + plan.countryCode) ? "national" : "international";
}

/** Whether the dialled digits are one of the emergency numbers (matched as dialled: "911", "112"). */
export function isEmergency(text: string, emergencyNumbers: readonly string[]): boolean {
  const s = dialString(text);
  return s !== undefined && emergencyNumbers.includes(s);
}

import type { RegistrarConfig } from "./binding.ts";

/** Why `save` refused a REGISTER. */
export type SaveError =
  | "star-expires"
  | "star-contacts"
  | "invalid-expires"
  | "invalid-expires-header"
  | "invalid-q"
  | "contact-too-long"
  | "multiple-reg-id"
  | "interval-too-brief"
  | "invalid-cseq"
  | "too-many-contacts";

export interface SaveFailure {
  ok: false;
  error: SaveError;
  status: 400 | 423 | 500 | 503;
  reason: string;
  /** Extra reply headers: Min-Expires, Retry-After, and P-Registrar-Error as Kamailio adds it. */
  headers: [name: string, value: string][];
}

/**
 * One table from error to answer. Statuses follow Kamailio's registrar, which also explains
 * the error in a `P-Registrar-Error` header, with one deliberate difference: an out-of-order
 * CSeq is 500, not Kamailio's 400, because RFC 3261 §10.3 step 7 aborts the update ("the update
 * MUST be aborted and the request fails") and a failed binding update "MUST fail with a 500
 * (Server Error) response".
 */
const TABLE: Record<SaveError, { status: SaveFailure["status"]; reason: string; info?: string }> = {
  // RFC 3261 §10.3 step 6: "*" with more Contacts or a nonzero expiration "is invalid ... 400".
  "star-expires": { status: 400, reason: "Bad Request", info: "Contact * needs Expires: 0" },
  "star-contacts": { status: 400, reason: "Bad Request", info: "Contact * must be the only Contact" },
  "invalid-expires": { status: 400, reason: "Bad Request", info: "Invalid expires parameter in Contact" },
  "invalid-expires-header": { status: 400, reason: "Bad Request", info: "Invalid Expires header" },
  "invalid-q": { status: 400, reason: "Bad Request", info: "Invalid q parameter in Contact" },
  "contact-too-long": { status: 400, reason: "Bad Request", info: "Contact URI too long" },
  "multiple-reg-id": { status: 400, reason: "Bad Request", info: "More than one Contact with reg-id" },
  "interval-too-brief": { status: 423, reason: "Interval Too Brief" },
  "invalid-cseq": { status: 500, reason: "Server Internal Error", info: "Out of order CSeq" },
  "too-many-contacts": { status: 503, reason: "Service Unavailable", info: "Too many registered contacts" },
};

export function saveFailure(error: SaveError, config: RegistrarConfig): SaveFailure {
  const entry = TABLE[error];
  const headers: [string, string][] = [];
  // RFC 3261 §10.3: a 423 "MUST contain a Min-Expires header field".
  if (error === "interval-too-brief") headers.push(["Min-Expires", String(config.minExpires)]);
  if (entry.status >= 500 && config.retryAfter > 0) headers.push(["Retry-After", String(config.retryAfter)]);
  if (entry.info) headers.push(["P-Registrar-Error", entry.info]);
  return { ok: false, error, status: entry.status, reason: entry.reason, headers };
}

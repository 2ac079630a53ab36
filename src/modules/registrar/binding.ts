import { fnv1a } from "../../util/hash.ts";
/**
 * The registrar's data: bindings of an address-of-record to contacts (RFC 3261 §10), the
 * request-derived input of a REGISTER, and the configuration with Kamailio's parameter names.
 */

/**
 * Kamailio's `Q_UNSPECIFIED`: the contact carried no q. It is not printed in replies and sorts
 * below every explicit q (Kamailio keeps q as an integer 0..1000 and this as -1).
 */
export const Q_UNSPECIFIED = -1;

/** One binding, as the Location object stores it (Kamailio `location` columns in brackets). */
export interface Binding {
  /** Address-of-record, normalised by `aorOf` [username@domain]. */
  aor: string;
  /** Contact URI without angle brackets or header parameters [contact]. */
  contact: string;
  /** Absolute expiry, ms since the epoch [expires]. */
  expires: number;
  /** 0..1, or Q_UNSPECIFIED [q]. */
  q: number;
  callId: string;
  cseq: number;
  /** +sip.instance without quotes and angle brackets, e.g. `urn:uuid:…` [instance]. */
  instance?: string;
  /** RFC 5626 reg-id [reg_id]. */
  regId?: number;
  /** Path header values, RFC 3327 [path]. */
  path?: string[];
  /** Where the REGISTER came from, e.g. `sip:203.0.113.7:52044;transport=ws` [received]. */
  received?: string;
  /** The flow (connection) the REGISTER arrived on: how requests reach the contact (RFC 5626). */
  flowToken?: string;
  userAgent?: string;
  /** ms since the epoch [last_modified]. */
  lastModified: number;
}

/** One Contact header field value of a REGISTER, already parsed. */
export interface ContactInput {
  /** The URI inside `<>`. */
  uri: string;
  /** `expires` contact parameter, seconds. */
  expires?: number;
  /** `q` contact parameter. */
  q?: number;
  /** `+sip.instance` value, quoted or not. */
  instance?: string;
  /** `reg-id` parameter. */
  regId?: number;
}

/** What `save` needs from a REGISTER request. */
export interface RegisterInput {
  aor: string;
  callId: string;
  cseq: number;
  /** The Expires header value in seconds, if present. */
  expiresHeader?: number;
  /** `Contact: *` was present. */
  star?: boolean;
  /** The other Contact values; none means a query for the current bindings. */
  contacts: readonly ContactInput[];
  /** `outbound` is in Supported (or Require): RFC 5626 processing applies. */
  outbound?: boolean;
  /** Path header values (RFC 3327), in order. */
  path?: string[];
  /** `path` is in Supported: the 200 echoes the Path (RFC 3327 §5.3). */
  pathSupported?: boolean;
  received?: string;
  flowToken?: string;
  userAgent?: string;
}

/** Kamailio registrar / usrloc parameters (README.md has the table). */
export interface RegistrarConfig {
  /** `default_expires`: seconds when neither the contact nor the request says. */
  defaultExpires: number;
  /** `min_expires`: 0 disables. */
  minExpires: number;
  /** `min_expires_mode`: 0 raises a short expiry to `minExpires`, 1 answers 423 with Min-Expires. */
  minExpiresMode: 0 | 1;
  /** `max_expires`: longer expiries are lowered to it; 0 disables. */
  maxExpires: number;
  /** `max_contacts` per AOR; 0 disables. */
  maxContacts: number;
  /** `default_q` for contacts without q: Q_UNSPECIFIED, or 0..1. */
  defaultQ: number;
  /** `retry_after`: Retry-After seconds on 5xx answers; 0 adds none. */
  retryAfter: number;
  /** `contact_max_size`: longest contact URI accepted. */
  contactMaxSize: number;
  /** usrloc `cseq_delay`: seconds during which a repeated CSeq counts as a retransmission. */
  cseqDelay: number;
  /** `regid_mode`: 0 uses reg-id only when the REGISTER supports outbound, 1 always. */
  regIdMode: 0 | 1;
  /** `case_sensitive`: 0 lowercases the whole AOR. */
  caseSensitive: 0 | 1;
  /** `flow_timer`: Flow-Timer seconds in the 200 of an outbound REGISTER (RFC 5626 §4.4.1); 0 adds none. */
  flowTimer: number;
}

export const DEFAULT_REGISTRAR_CONFIG: Readonly<RegistrarConfig> = {
  defaultExpires: 3600,
  minExpires: 60,
  minExpiresMode: 0,
  maxExpires: 0,
  maxContacts: 0,
  defaultQ: Q_UNSPECIFIED,
  retryAfter: 0,
  contactMaxSize: 255,
  cseqDelay: 20,
  regIdMode: 0,
  caseSensitive: 0,
  flowTimer: 0,
};

/** Kamailio's AOR: `user@domain`, lowercased unless `case_sensitive` is set. */
export function aorOf(user: string, domain: string, caseSensitive: 0 | 1 = 0): string {
  const aor = `${user}@${domain}`;
  return caseSensitive ? aor : aor.toLowerCase();
}

/** `"<urn:uuid:x>"` → `urn:uuid:x` (RFC 5626 §4.1 carries it quoted, in angle brackets). */
export function normalizeInstance(value: string): string {
  let v = value.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
  if (v.length >= 2 && v.startsWith("<") && v.endsWith(">")) v = v.slice(1, -1);
  return v;
}

/**
 * A short name of one client instance's registration (RFC 5626: `+sip.instance` and reg-id), as
 * the proxy writes it into signed Record-Route entries: it lets an in-dialog request follow the
 * instance to the flow it registered after a reconnect. Not secret (the entry is signed).
 */
export function instanceKey(instance: string, regId: number | undefined): string {
  return fnv1a(`${instance};${regId ?? ""}`).toString(36);
}

/** Same target: anything a lookup or a reply depends on, other than time and CSeq. */
export function sameRoute(a: Binding, b: Binding): boolean {
  return (
    a.contact === b.contact &&
    a.q === b.q &&
    a.flowToken === b.flowToken &&
    a.received === b.received &&
    a.userAgent === b.userAgent &&
    a.instance === b.instance &&
    a.regId === b.regId &&
    (a.path ?? []).join("\n") === (b.path ?? []).join("\n")
  );
}

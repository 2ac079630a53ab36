import {
  normalizeInstance,
  sameRoute,
  type Binding,
  type ContactInput,
  type RegisterInput,
  type RegistrarConfig,
} from "./binding.ts";
import { saveFailure, type SaveError, type SaveFailure } from "./errors.ts";

/**
 * Kamailio registrar `save("location")` as a pure function over an AOR's binding list
 * (RFC 3261 §10.3, RFC 5626 §6, RFC 3327). The caller (the Location object) stores the result
 * and answers 200 with `replyContacts`, or the failure's status.
 */
export type SaveResult =
  | {
      ok: true;
      bindings: Binding[];
      /** Something other than timers changed: a binding was added, removed, or re-pointed. */
      changed: boolean;
      /** Only expires / CSeq / last-modified moved: a write can be coalesced or deferred. */
      refreshed: boolean;
      added: Binding[];
      removed: Binding[];
    }
  | SaveFailure;

// RFC 3261 §25.1: delta-seconds is 1*DIGIT; values beyond 2^32-1 are clamped (as for Expires).
const MAX_DELTA = 0xffffffff;

function isDelta(value: number | undefined): value is number {
  return value !== undefined && Number.isInteger(value) && value >= 0;
}

/**
 * The expiry a contact gets, in seconds (RFC 3261 §10.3 step 7; Kamailio's order): the
 * contact's `expires`, else the Expires header, else `default_expires`; 0 stays 0 (removal);
 * below `min_expires` is raised (mode 0) or refused with 423 (mode 1); above `max_expires` is
 * lowered.
 */
export function contactExpires(contact: ContactInput, expiresHeader: number | undefined, config: RegistrarConfig): number | SaveError {
  let seconds = contact.expires ?? expiresHeader ?? config.defaultExpires;
  if (seconds === 0) return 0;
  seconds = Math.min(seconds, MAX_DELTA);
  if (config.minExpires > 0 && seconds < config.minExpires) {
    if (config.minExpiresMode === 1) return "interval-too-brief";
    seconds = config.minExpires;
  }
  if (config.maxExpires > 0 && seconds > config.maxExpires) seconds = config.maxExpires;
  return seconds;
}

interface Wanted {
  uri: string;
  expires: number;
  q: number;
  instance?: string;
  regId?: number;
}

/** Validates every Contact before anything changes (the update is all or nothing). */
function prepare(input: RegisterInput, config: RegistrarConfig): Wanted[] | SaveError {
  // RFC 5626 §6: reg-id counts only next to +sip.instance, and (Kamailio regid_mode 0) only
  // when the REGISTER declares outbound support.
  const useRegId = config.regIdMode === 1 || input.outbound === true;
  const wanted: Wanted[] = [];
  let withRegId = 0;
  for (const c of input.contacts) {
    if (c.uri.length > config.contactMaxSize) return "contact-too-long";
    if (c.expires !== undefined && !isDelta(c.expires)) return "invalid-expires";
    if (c.q !== undefined && !(c.q >= 0 && c.q <= 1)) return "invalid-q";
    const expires = contactExpires(c, input.expiresHeader, config);
    if (typeof expires === "string") return expires;
    const instance = c.instance === undefined ? undefined : normalizeInstance(c.instance);
    const regId = instance !== undefined && useRegId ? c.regId : undefined;
    if (regId !== undefined) withRegId++;
    wanted.push({ uri: c.uri, expires, q: c.q ?? config.defaultQ, instance, regId });
  }
  // RFC 5626 §6: a registration carries at most one flow; several Contacts with reg-id are refused.
  if (withRegId > 1) return "multiple-reg-id";
  return wanted;
}

/**
 * Which existing binding a Contact refers to: RFC 5626 §6 keys a binding with an instance by
 * (instance-id, reg-id), so a reconnecting client replaces its old flow even though its Contact
 * URI changed; otherwise RFC 3261 §10.3 keys by Contact URI (compared as the same string, like
 * Kamailio's usrloc).
 */
function indexOf(bindings: readonly Binding[], w: Wanted): number {
  if (w.instance !== undefined) return bindings.findIndex((b) => b.instance === w.instance && b.regId === w.regId);
  return bindings.findIndex((b) => b.contact === w.uri);
}

type Ordering = "newer" | "retransmission" | "out-of-order";

/**
 * RFC 3261 §10.3 step 7: with a different Call-ID the request wins; with the same Call-ID only
 * a higher CSeq does, else "the update MUST be aborted and the request fails". Kamailio's usrloc
 * softens one case: the same CSeq again within `cseq_delay` is a retransmission and is skipped.
 */
function ordering(existing: Binding, input: RegisterInput, config: RegistrarConfig, now: number): Ordering {
  if (existing.callId !== input.callId || input.cseq > existing.cseq) return "newer";
  if (input.cseq === existing.cseq && existing.lastModified + config.cseqDelay * 1000 > now) return "retransmission";
  return "out-of-order";
}



function build(w: Wanted, input: RegisterInput, now: number): Binding {
  const b: Binding = {
    aor: input.aor,
    contact: w.uri,
    expires: now + w.expires * 1000,
    q: w.q,
    callId: input.callId,
    cseq: input.cseq,
    lastModified: now,
  };
  if (w.instance !== undefined) b.instance = w.instance;
  if (w.regId !== undefined) b.regId = w.regId;
  if (input.path && input.path.length > 0) b.path = input.path.slice();
  if (input.received !== undefined) b.received = input.received;
  if (input.flowToken !== undefined) b.flowToken = input.flowToken;
  if (input.userAgent !== undefined) b.userAgent = input.userAgent;
  return b;
}

/** RFC 3261 §10.3 step 6: `Contact: *` with `Expires: 0` removes every binding of the AOR. */
function removeAll(live: Binding[], expired: Binding[], input: RegisterInput, config: RegistrarConfig, now: number): SaveResult {
  if (input.contacts.length > 0) return saveFailure("star-contacts", config);
  if (input.expiresHeader !== 0) return saveFailure("star-expires", config);
  // Step 6 applies the Call-ID / CSeq rule to each binding before removing it.
  for (const b of live) {
    if (ordering(b, input, config, now) !== "newer") return saveFailure("invalid-cseq", config);
  }
  const removed = expired.concat(live);
  return { ok: true, bindings: [], changed: removed.length > 0, refreshed: false, added: [], removed };
}

/**
 * Applies a REGISTER to an AOR's bindings at `now` (ms). Expired bindings are dropped first;
 * they neither count towards `max_contacts` nor appear in the reply.
 */
export function applyRegister(bindings: readonly Binding[], input: RegisterInput, config: RegistrarConfig, now: number): SaveResult {
  if (input.expiresHeader !== undefined && !isDelta(input.expiresHeader)) return saveFailure("invalid-expires-header", config);
  const live: Binding[] = [];
  const expired: Binding[] = [];
  for (const b of bindings) (b.expires > now ? live : expired).push(b);
  if (input.star) return removeAll(live, expired, input, config, now);
  const wanted = prepare(input, config);
  if (typeof wanted === "string") return saveFailure(wanted, config);

  const next = live.slice();
  const added: Binding[] = [];
  const removed = expired.slice();
  let changed = expired.length > 0;
  let refreshed = false;
  for (const w of wanted) {
    const i = indexOf(next, w);
    const existing = i < 0 ? undefined : next[i];
    if (!existing) {
      if (w.expires === 0) continue;
      const b = build(w, input, now);
      next.push(b);
      added.push(b);
      changed = true;
      continue;
    }
    const order = ordering(existing, input, config, now);
    if (order === "retransmission") continue;
    if (order === "out-of-order") return saveFailure("invalid-cseq", config);
    if (w.expires === 0) {
      next.splice(i, 1);
      removed.push(existing);
      changed = true;
      continue;
    }
    const b = build(w, input, now);
    next[i] = b;
    if (sameRoute(existing, b)) refreshed = true;
    else changed = true;
  }
  // Kamailio refuses a registration that would add contacts beyond max_contacts (503).
  if (config.maxContacts > 0 && added.length > 0 && next.length > config.maxContacts) {
    return saveFailure("too-many-contacts", config);
  }
  return { ok: true, bindings: next, changed, refreshed, added, removed };
}

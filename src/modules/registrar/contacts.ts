import { Q_UNSPECIFIED, type Binding } from "./binding.ts";

/** q as the reply prints it: at most three decimals, no trailing zeros (RFC 3261 §20.10 qvalue). */
export function formatQ(q: number): string {
  return q >= 1 ? "1" : q <= 0 ? "0" : String(Math.round(q * 1000) / 1000);
}

/**
 * The Contact values of the 200 to a REGISTER: "The registrar returns a 200 (OK) response ...
 * containing Contact header field values enumerating all current bindings. Each Contact value
 * MUST feature an 'expires' parameter indicating its expiration interval chosen by the
 * registrar" (RFC 3261 §10.3 step 8). The instance and reg-id go back too, so a client finds
 * its own binding by them (RFC 5626 §6; JsSIP's Registrator matches on exactly these).
 */
export function replyContacts(bindings: readonly Binding[], now: number): string[] {
  const out: string[] = [];
  // Kamailio's usrloc keeps an AOR's contacts sorted by q (desc_time_order off), so its 200
  // lists the preferred contact first.
  for (const b of [...bindings].sort(byPreference)) {
    const remaining = Math.floor((b.expires - now) / 1000);
    if (remaining <= 0) continue;
    let value = `<${b.contact}>`;
    if (b.q !== Q_UNSPECIFIED) value += `;q=${formatQ(b.q)}`;
    value += `;expires=${remaining}`;
    if (b.instance !== undefined) value += `;+sip.instance="<${b.instance}>"`;
    if (b.regId !== undefined) value += `;reg-id=${b.regId}`;
    out.push(value);
  }
  return out;
}

/** A target of `lookup`. */
export interface LookupContact {
  uri: string;
  q: number;
  flowToken?: string;
  path?: string[];
  received?: string;
  instance?: string;
  regId?: number;
  /**
   * Other live flows of the same instance, best first: RFC 5626 §5.3 lets a proxy put only one
   * flow per instance in the target set and, after a 430 (Flow Failed), "replace the failed
   * branch with another target ... with the same AOR and instance-id, but a different reg-id".
   */
  alternates?: LookupContact[];
}

export type LookupResult = { found: true; contacts: LookupContact[] } | { found: false; reason: "not-found" };

/**
 * Kamailio usrloc order: higher q first (an unspecified q sorts last), and among equal q the
 * most recently modified first.
 */
function byPreference(a: Binding, b: Binding): number {
  return b.q - a.q || b.lastModified - a.lastModified;
}

function target(b: Binding): LookupContact {
  const c: LookupContact = { uri: b.contact, q: b.q };
  if (b.flowToken !== undefined) c.flowToken = b.flowToken;
  if (b.path !== undefined) c.path = b.path;
  if (b.received !== undefined) c.received = b.received;
  if (b.instance !== undefined) c.instance = b.instance;
  if (b.regId !== undefined) c.regId = b.regId;
  return c;
}

/**
 * Kamailio registrar `lookup("location")` over one AOR's bindings: the live contacts in the
 * order a serial fork tries them (the first is what the Request-URI becomes, the rest are the
 * appended branches), one per instance, each with its flow token.
 */
export function lookup(bindings: readonly Binding[], now: number): LookupResult {
  const live = bindings.filter((b) => b.expires > now).sort(byPreference);
  const contacts: LookupContact[] = [];
  const byInstance = new Map<string, LookupContact>();
  for (const b of live) {
    const c = target(b);
    if (b.instance === undefined) {
      contacts.push(c);
      continue;
    }
    const first = byInstance.get(b.instance);
    if (first) {
      (first.alternates ??= []).push(c);
    } else {
      byInstance.set(b.instance, c);
      contacts.push(c);
    }
  }
  return contacts.length > 0 ? { found: true, contacts } : { found: false, reason: "not-found" };
}

export interface Removal {
  bindings: Binding[];
  removed: Binding[];
}

/**
 * The bindings of a flow whose connection closed (Kamailio `handle_lost_tcp`; RFC 5626 §5.3:
 * a flow that fails cannot reach the UA until it registers again). Clients with outbound
 * reconnect and register a new flow, which replaces the old binding anyway.
 */
export function removeFlow(bindings: readonly Binding[], flowToken: string): Removal {
  const kept: Binding[] = [];
  const removed: Binding[] = [];
  for (const b of bindings) (b.flowToken === flowToken ? removed : kept).push(b);
  return { bindings: kept, removed };
}

/** Drops expired bindings (the Location object's alarm). */
export function expireBindings(bindings: readonly Binding[], now: number): Removal {
  const kept: Binding[] = [];
  const removed: Binding[] = [];
  for (const b of bindings) (b.expires > now ? kept : removed).push(b);
  return { bindings: kept, removed };
}

/** When the next binding expires (ms), to set the alarm; undefined when there are none. */
export function nextExpiry(bindings: readonly Binding[]): number | undefined {
  let next: number | undefined;
  for (const b of bindings) if (next === undefined || b.expires < next) next = b.expires;
  return next;
}

/**
 * Who is asking, and in which realm.
 */

export interface RequestParties {
  method: string;
  fromUser?: string;
  fromHost: string;
  toUser?: string;
  toHost: string;
}

/**
 * The realm to challenge with: the configured one, or, as Kamailio does when `www_challenge` /
 * `proxy_challenge` get an empty realm, the host of the To URI for REGISTER and of the From URI
 * for everything else. Hosts are compared without case, so the realm is lowercased.
 */
export function realmOf(parties: RequestParties, configured?: string): string {
  if (configured) return configured;
  return (parties.method === "REGISTER" ? parties.toHost : parties.fromHost).toLowerCase();
}

export type IdentityResult = { ok: true } | { ok: false; code: "user-mismatch" };

/**
 * Kamailio `auth_check(realm, table, 1)`: the authenticated user must be the user the request
 * claims to come from (the From user; for REGISTER the To user, the AOR being bound), in the
 * realm's domain. Otherwise alice could register or call as bob with her own password; the
 * script answers 403 (`replyFor(kind, "user-mismatch")`).
 *
 * User parts compare case-sensitively (RFC 3261 §19.1.4), hosts without case. A digest
 * username of the form user@domain must name the URI's host; a bare one accepts any host
 * `sameDomain` accepts (by default only the realm itself).
 */
export function checkIdentity(
  parties: RequestParties,
  auth: { username: string; realm: string },
  sameDomain: (host: string) => boolean = (host) => host.toLowerCase() === auth.realm.toLowerCase(),
): IdentityResult {
  const isRegister = parties.method === "REGISTER";
  const user = isRegister ? parties.toUser : parties.fromUser;
  const host = isRegister ? parties.toHost : parties.fromHost;
  const at = auth.username.indexOf("@");
  const authUser = at < 0 ? auth.username : auth.username.slice(0, at);
  if (user === undefined || user !== authUser) return { ok: false, code: "user-mismatch" };
  const hostOk = at < 0 ? sameDomain(host) : auth.username.slice(at + 1).toLowerCase() === host.toLowerCase();
  return hostOk ? { ok: true } : { ok: false, code: "user-mismatch" };
}

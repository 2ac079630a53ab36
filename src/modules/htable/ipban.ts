/**
 * Ban scopes of the `ipban` table. A UDP source address can be forged (the bridge sees whatever
 * a datagram claims), so a ban that UDP traffic caused applies to UDP only: otherwise anyone
 * could lock a WebSocket user out by flooding the bridge with datagrams carrying the user's
 * address. A ban caused over WebSocket (a TCP handshake proves the address) applies to every
 * transport.
 */

export type BanScope = "udp" | "all";

/** When each scope's ban ends (epoch ms); 0 = no ban in that scope. */
export interface BanState {
  readonly all: number;
  readonly udp: number;
}

export const NO_BAN: BanState = Object.freeze({ all: 0, udp: 0 });

/** The scope of a ban caused by traffic over `transport`. */
export function scopeOf(transport: string): BanScope {
  return transport === "udp" ? "udp" : "all";
}

/** When the ban that applies to traffic over `transport` ends, or undefined when none does at `now`. */
export function bannedUntil(state: BanState | undefined, transport: string, now: number): number | undefined {
  if (state === undefined) return undefined;
  const until = transport === "udp" ? Math.max(state.all, state.udp) : state.all;
  return until > now ? until : undefined;
}

/** `state` with `scope` banned until `until` (never shortening a longer ban). */
export function withBan(state: BanState | undefined, scope: BanScope, until: number): BanState {
  const s = state ?? NO_BAN;
  return scope === "all" ? { all: Math.max(s.all, until), udp: s.udp } : { all: s.all, udp: Math.max(s.udp, until) };
}

/** When the last ban of `state` ends (0 = none). */
export function lastEnd(state: BanState): number {
  return Math.max(state.all, state.udp);
}

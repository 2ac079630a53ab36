/**
 * Every protocol timer the bridge runs, in one table (RFC 3261 §17 and Table 4, RFC 6026 §8).
 * All of them assume the unreliable transport (UDP): that is the only leg where the bridge keeps
 * transaction state. Values in milliseconds.
 */

/** RTT estimate (RFC 3261 §17.1.1.1: "T1 is an estimate of the round-trip time (RTT), and it defaults to 500 ms"). */
export const T1 = 500;
/** Maximum retransmit interval for non-INVITE requests and INVITE responses. */
export const T2 = 4_000;
/** Maximum duration a message will remain in the network. */
export const T4 = 5_000;

export const TIMERS = {
  /** INVITE request retransmit interval, starts at T1 and doubles (no T2 cap). */
  A: T1,
  /** INVITE transaction timeout: 64*T1. */
  B: 64 * T1,
  /** Wait time for response retransmits after a non-2xx final to an INVITE: "> 32s for UDP". */
  D: 32_000,
  /** Non-INVITE request retransmit interval, starts at T1, doubles up to T2. */
  E: T1,
  /** Non-INVITE transaction timeout: 64*T1. */
  F: 64 * T1,
  /** INVITE non-2xx final response retransmit interval, starts at T1, doubles up to T2. */
  G: T1,
  /** Wait time for the ACK to a non-2xx final: 64*T1. */
  H: 64 * T1,
  /** Wait time for ACK retransmits: T4. */
  I: T4,
  /** Wait time for non-INVITE request retransmits: 64*T1. */
  J: 64 * T1,
  /** Wait time for non-INVITE response retransmits: T4. */
  K: T4,
  /** RFC 6026: INVITE server transaction stays Accepted (absorbing request retransmits) 64*T1. */
  L: 64 * T1,
  /** RFC 6026: INVITE client transaction stays Accepted (passing 2xx retransmits) 64*T1. */
  M: 64 * T1,
} as const;

/**
 * How long a transaction that never completes may hold its entry (Kamailio tm's
 * `max_inv_lifetime` 180 s and `max_noninv_lifetime` 32 s). RFC 3261 has no timeout for an INVITE
 * in Proceeding; the edge's own fr_inv_timer ends such calls, this only bounds memory.
 */
export const MAX_INVITE_LIFETIME = 180_000;
export const MAX_NON_INVITE_LIFETIME = 32_000;

/** Timer A doubles without bound (RFC 3261 §17.1.1.2). */
export function nextTimerA(interval: number): number {
  return interval * 2;
}

/** Timers E and G double up to T2 (RFC 3261 §17.1.2.2, §17.2.1). */
export function nextTimerE(interval: number): number {
  return Math.min(interval * 2, T2);
}

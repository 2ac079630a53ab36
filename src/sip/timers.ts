/**
 * Every protocol timer of RFC 3261 (§17, table 4 of Appendix A) and RFC 6026 in one table, with
 * the transport each value assumes. SIP.js `src/core/timers.ts` is the naming model.
 *
 * Over a reliable transport (WebSocket, TCP, TLS) the retransmission timers (A, E, G) never run
 * and the "wait for retransmissions" timers (D, I, J, K) are 0: RFC 3261 §17.1.1.2 "Timer D ...
 * zero seconds for reliable transports", §17.1.2.2 "Timer K ... zero for reliable transports",
 * §17.2.1 "Timer I ... zero seconds for reliable transports", §17.2.2 "Timer J ... zero seconds for
 * reliable transports". The edge only ever sees reliable transports; the bridge (UDP) may reuse the
 * state machines with the unreliable table.
 *
 * The clock and scheduler are injected (pure code: no setTimeout here), so the same state
 * machines run in a Durable Object, in the Node bridge and under fake timers in tests.
 */

/** RFC 3261 §17.1.1.1: "T1 is an estimate of the round-trip time (RTT), and it defaults to 500 ms." */
export const T1 = 500;
/** The maximum retransmission interval for non-INVITE requests and INVITE responses. */
export const T2 = 4000;
/** Maximum duration a message will remain in the network. */
export const T4 = 5000;

/**
 * RFC 3261 §16.6 item 11: Timer C "MUST be larger than 3 minutes". Kamailio's fr_inv_timer
 * defaults to 120 s, below that; sipedge keeps the RFC's lower bound plus one second.
 */
export const TIMER_C = 3 * 60 * 1000 + 1000;

/** One timer table: values in milliseconds for one kind of transport. */
export interface TimerValues {
  readonly T1: number;
  readonly T2: number;
  readonly T4: number;
  /** INVITE request retransmit interval (unreliable only; first interval, doubles). */
  readonly TIMER_A: number;
  /** INVITE transaction timeout. */
  readonly TIMER_B: number;
  /** Proxy INVITE transaction timeout (after a provisional response). */
  readonly TIMER_C: number;
  /** Wait time for response retransmits (INVITE client, Completed). */
  readonly TIMER_D: number;
  /** Non-INVITE request retransmit interval (unreliable only). */
  readonly TIMER_E: number;
  /** Non-INVITE transaction timeout. */
  readonly TIMER_F: number;
  /** INVITE response retransmit interval (unreliable only). */
  readonly TIMER_G: number;
  /** Wait time for ACK receipt. */
  readonly TIMER_H: number;
  /** Wait time for ACK retransmits. */
  readonly TIMER_I: number;
  /** Wait time for non-INVITE request retransmits. */
  readonly TIMER_J: number;
  /** Wait time for response retransmits (non-INVITE client, Completed). */
  readonly TIMER_K: number;
  /** RFC 6026: wait time for accepted INVITE request retransmits (server, Accepted). */
  readonly TIMER_L: number;
  /** RFC 6026: wait time for retransmission of 2xx to INVITE or additional 2xx from other branches (client, Accepted). */
  readonly TIMER_M: number;
  /** Whether the retransmission timers run. */
  readonly reliable: boolean;
}

/** UDP (the bridge side): RFC 3261 table 4 as written. */
export const UNRELIABLE_TIMERS: TimerValues = Object.freeze({
  T1,
  T2,
  T4,
  TIMER_A: T1,
  TIMER_B: 64 * T1,
  TIMER_C,
  TIMER_D: 32000, // "> 32s for UDP"
  TIMER_E: T1,
  TIMER_F: 64 * T1,
  TIMER_G: T1,
  TIMER_H: 64 * T1,
  TIMER_I: T4,
  TIMER_J: 64 * T1,
  TIMER_K: T4,
  TIMER_L: 64 * T1,
  TIMER_M: 64 * T1,
  reliable: false,
});

/** WebSocket, TCP, TLS (the edge side): no retransmissions, no waiting for them. */
export const RELIABLE_TIMERS: TimerValues = Object.freeze({
  ...UNRELIABLE_TIMERS,
  TIMER_D: 0,
  TIMER_I: 0,
  TIMER_J: 0,
  TIMER_K: 0,
  reliable: true,
});

export function timersFor(reliable: boolean): TimerValues {
  return reliable ? RELIABLE_TIMERS : UNRELIABLE_TIMERS;
}

/** An opaque handle from `Timers.set` (a number in Workers and browsers, an object in Node). */
export type TimerHandle = unknown;

/** The scheduler, injected: `setTimeout`/`clearTimeout` in production, fake timers in tests. */
export interface Timers {
  set(ms: number, fn: () => void): TimerHandle;
  clear(handle: TimerHandle): void;
}

/** Milliseconds since the epoch: for absolute deadlines that survive an object's eviction. */
export interface Clock {
  now(): number;
}

/** The platform scheduler (both Workers and Node have the global setTimeout). */
export const systemTimers: Timers = {
  set: (ms, fn) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export const systemClock: Clock = { now: () => Date.now() };

/** A scheduler that knows how many of its timers are pending (the soak's return-to-zero gauge). */
export interface CountedTimers extends Timers {
  readonly pending: number;
}

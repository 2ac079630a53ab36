/**
 * What the four transaction state machines of RFC 3261 §17 share: the state, named timers with
 * absolute deadlines (so a transaction can be snapshotted and resumed after its Durable Object was
 * evicted), and the injected transport and scheduler.
 */
import type { SipMessage, SipRequest } from "../message.ts";
import { systemClock, timersFor, type Clock, type TimerHandle, type TimerValues, type Timers } from "../timers.ts";

/**
 * RFC 3261 §17 state names; "Accepted" is RFC 6026's state after a 2xx to an INVITE, which
 * replaces the RFC 3261 shortcut to Terminated so that 2xx retransmissions and the 2xx of other
 * forks are passed on by the transaction instead of by a stateless core.
 */
export type TransactionState =
  | "Calling"
  | "Trying"
  | "Proceeding"
  | "Completed"
  | "Confirmed"
  | "Accepted"
  | "Terminated";

/**
 * Hands a message to the transport. Returning false reports a transport error (RFC 3261 §17.1.4,
 * §17.2.4): the transaction then terminates and tells its user.
 */
export type Send = (message: SipMessage) => boolean | void;

export interface TransactionOptions {
  send: Send;
  timers: Timers;
  clock?: Clock;
  /** WebSocket/TCP/TLS: true (the default; the edge only has reliable transports). UDP: false. */
  reliable?: boolean;
  /** A whole timer table, e.g. with a shorter T1 for a LAN; defaults to `timersFor(reliable)`. */
  values?: TimerValues;
}

/** A running timer in a snapshot: absolute deadline (ms since the epoch) and current interval. */
export interface TimerSnapshot {
  name: string;
  at: number;
  interval: number;
}

export interface TransactionSnapshot {
  state: TransactionState;
  timers: TimerSnapshot[];
}

interface Running {
  handle: TimerHandle;
  at: number;
  interval: number;
}

export abstract class Transaction {
  state: TransactionState;
  /**
   * The request that created the transaction (server) or that it sends (client); after the final
   * response its user may swap it for a smaller copy (`keepRequest`).
   */
  request: SipRequest;
  /** Set by the TransactionTable: how it finds this transaction. */
  key: string | undefined;
  protected readonly values: TimerValues;
  protected readonly sendFn: Send;
  private readonly timerApi: Timers;
  private readonly clock: Clock;
  private running: Map<string, Running> | undefined;
  private terminatedHooks: (() => void)[] | undefined;

  constructor(request: SipRequest, initial: TransactionState, options: TransactionOptions) {
    this.request = request;
    this.state = initial;
    this.key = undefined;
    this.values = options.values ?? timersFor(options.reliable ?? true);
    this.sendFn = options.send;
    this.timerApi = options.timers;
    this.clock = options.clock ?? systemClock;
    this.running = undefined;
    this.terminatedHooks = undefined;
  }

  get reliable(): boolean {
    return this.values.reliable;
  }

  /**
   * Swaps the request for `copy` (the same start line and matching headers, no body): what a
   * transaction waiting out Timer L, M or H still reads, without the received message behind it.
   */
  keepRequest(copy: SipRequest): void {
    this.request = copy;
  }

  /** Runs `fn` once when the transaction terminates (the table uses it to forget the transaction). */
  onTerminated(fn: () => void): void {
    (this.terminatedHooks ??= []).push(fn);
  }

  /** Plain JSON: the state and the running timers with absolute deadlines. */
  snapshot(): TransactionSnapshot {
    const timers: TimerSnapshot[] = [];
    for (const [name, r] of this.running ?? []) timers.push({ name, at: r.at, interval: r.interval });
    return { state: this.state, timers };
  }

  /** Puts a restored transaction back in its state; timers already due fire at once (async). */
  protected resume(snapshot: TransactionSnapshot): void {
    this.state = snapshot.state;
    const now = this.clock.now();
    for (const t of snapshot.timers) this.arm(t.name, Math.max(0, t.at - now), t.interval);
  }

  /** A timer of 0 ms (reliable transports) fires synchronously: nothing can arrive meanwhile. */
  protected startTimer(name: string, ms: number, interval = ms): void {
    if (ms <= 0) {
      this.fire(name, interval);
      return;
    }
    this.arm(name, ms, interval);
  }

  protected stopTimer(name: string): void {
    const r = this.running?.get(name);
    if (r === undefined) return;
    this.timerApi.clear(r.handle);
    this.running?.delete(name);
  }

  protected hasTimer(name: string): boolean {
    return this.running?.has(name) ?? false;
  }

  /** Called when a timer fires; `interval` is the value it ran with (for doubling retransmits). */
  protected abstract fire(name: string, interval: number): void;

  /** Sends, and turns a transport error into termination (RFC 3261 §17.1.4 / §17.2.4). */
  protected transmit(message: SipMessage): boolean {
    if (this.sendFn(message) === false) {
      this.transportError();
      return false;
    }
    return true;
  }

  protected abstract transportError(): void;

  protected terminate(): void {
    if (this.state === "Terminated") return;
    this.state = "Terminated";
    if (this.running !== undefined) {
      for (const r of this.running.values()) this.timerApi.clear(r.handle);
      this.running.clear();
    }
    const hooks = this.terminatedHooks;
    this.terminatedHooks = undefined;
    if (hooks !== undefined) for (const fn of hooks) fn();
  }

  private arm(name: string, ms: number, interval: number): void {
    this.stopTimer(name);
    const running = (this.running ??= new Map());
    const handle = this.timerApi.set(ms, () => {
      running.delete(name);
      this.fire(name, interval);
    });
    running.set(name, { handle, at: this.clock.now() + ms, interval });
  }
}

/** The next retransmission interval: doubled, capped at T2 (RFC 3261 §17.1.2.2, §17.2.1). */
export function backoff(interval: number, values: TimerValues): number {
  return Math.min(interval * 2, values.T2);
}

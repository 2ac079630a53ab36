import { systemTimers, type CountedTimers, type TimerHandle, type Timers } from "./timers.ts";

/** A timer in the wheel: `tick` is the bucket it waits in; `short` holds a platform timer's handle instead. */
interface Entry {
  fn: () => void;
  tick: number;
  short?: TimerHandle;
  live: boolean;
}

/**
 * The edge's transaction timers in buckets of `tickMs`, with one platform timer armed for the
 * earliest bucket, as Kamailio's tm keeps its timers in wheels rather than one OS timer each. In
 * workerd every `setTimeout` builds a nodejs_compat `Timeout` and crosses into the runtime, and a
 * gateway call set or cleared about a dozen (branch timers re-armed at each provisional, Timers
 * C, L, M): ≈ 6 % of the edge isolate's time in the call profile. Here a timer is a Set insert.
 *
 * A timer fires no earlier than asked and at most `tickMs` later. Timers shorter than `tickMs`
 * (RFC 3261's zero-length timers of reliable transports) go straight to the platform.
 */
export class TimerWheel implements CountedTimers {
  /** Buckets by tick (ms since the epoch ÷ tickMs, rounded up); an emptied bucket stays until its tick. */
  readonly #buckets = new Map<number, Set<Entry>>();
  /** The ticks of the buckets, ascending, each once. */
  readonly #ticks: number[] = [];
  #armed: { tick: number; handle: TimerHandle } | undefined;
  #pending = 0;

  constructor(
    private readonly base: Timers = systemTimers,
    private readonly clock: () => number = Date.now,
    readonly tickMs = 50,
  ) {}

  get pending(): number {
    return this.#pending;
  }

  set(ms: number, fn: () => void): TimerHandle {
    this.#pending++;
    if (ms < this.tickMs) {
      const entry: Entry = { fn, tick: -1, live: true };
      entry.short = this.base.set(ms, () => this.#run(entry));
      return entry;
    }
    const tick = Math.ceil((this.clock() + ms) / this.tickMs);
    const entry: Entry = { fn, tick, live: true };
    let bucket = this.#buckets.get(tick);
    if (bucket === undefined) {
      bucket = new Set();
      this.#buckets.set(tick, bucket);
      insertSorted(this.#ticks, tick);
    }
    bucket.add(entry);
    if (this.#armed === undefined || tick < this.#armed.tick) this.#arm(tick);
    return entry;
  }

  clear(handle: TimerHandle): void {
    const entry = handle as Entry | undefined;
    if (entry === undefined || !entry.live) return;
    entry.live = false;
    this.#pending--;
    if (entry.short !== undefined) this.base.clear(entry.short);
    else this.#buckets.get(entry.tick)?.delete(entry);
    // The armed platform timer stays: waking once for an emptied bucket costs less than re-arming.
  }

  #arm(tick: number): void {
    if (this.#armed !== undefined) this.base.clear(this.#armed.handle);
    const delay = Math.max(0, tick * this.tickMs - this.clock());
    this.#armed = { tick, handle: this.base.set(delay, () => this.#fire()) };
  }

  #fire(): void {
    this.#armed = undefined;
    const now = this.clock();
    let due = 0;
    while (due < this.#ticks.length && (this.#ticks[due] as number) * this.tickMs <= now) due++;
    for (const tick of this.#ticks.splice(0, due)) {
      const bucket = this.#buckets.get(tick);
      this.#buckets.delete(tick);
      for (const entry of bucket ?? []) this.#run(entry);
    }
    // A timer set by a callback may have armed a later tick than one still waiting.
    const next = this.#ticks[0];
    const armed = this.#armed as { tick: number } | undefined; // callbacks may have set it
    if (next !== undefined && (armed === undefined || armed.tick > next)) this.#arm(next);
  }

  #run(entry: Entry): void {
    if (!entry.live) return;
    entry.live = false;
    this.#pending--;
    try {
      entry.fn();
    } catch (err) {
      // As a platform timer's exception would: reported, and the other timers of the tick still run.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

/** Inserts `value` (not yet present) into the ascending `list`: usually at the end, since most timers of one kind share a delay. */
function insertSorted(list: number[], value: number): void {
  let hi = list.length;
  if (hi === 0 || (list[hi - 1] as number) < value) {
    list.push(value);
    return;
  }
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, value);
}

/**
 * How many REGISTERs one shard runs through the route script at once. Each awaits a D1 lookup
 * and a Location object's RPC, and every await puts it behind everything else the isolate has in
 * flight: with all of a deploy storm's REGISTERs admitted at once the runtime shares its thread
 * among thousands of them, each finishes only when nearly all do, and when that takes longer
 * than the clients' transaction timeout nearly every one of them is answered too late (measured:
 * 2,220 of 2,500 in a storm whose clients then connected and registered again, tripling the
 * work). With the gate, the REGISTERs beyond it wait in order and each admitted one finishes in
 * its own few milliseconds. 16 per shard keeps a Location object's RPC and a cold D1 read
 * (tens of ms in production) from limiting a shard below ~300 REGISTERs a second.
 */
export const REGISTER_CONCURRENCY = 16;

/**
 * First REGISTERs wait in arrival order until the oldest has waited this long; past it the newest
 * goes first (adaptive LIFO). A short burst drains in order; a backlog that outgrows the clients'
 * transaction timeout (10 s in the deploy storm, Timer F's 32 s in JsSIP) is served from the end
 * that can still be answered in time.
 */
export const LIFO_AFTER_MS = 2000;

interface Waiter {
  alive: () => boolean;
  start: (run: boolean) => void;
  since: number;
}

/** A FIFO with a consumed prefix (shift() on a long array copies it, this does not), or a stack. */
class Queue {
  private items: Waiter[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(w: Waiter): void {
    this.items.push(w);
  }

  shift(): Waiter | undefined {
    const w = this.items[this.head];
    if (w === undefined) return undefined;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return w;
  }

  /** The oldest, left in place. */
  peek(): Waiter | undefined {
    return this.items[this.head];
  }

  /** The newest. */
  pop(): Waiter | undefined {
    return this.length > 0 ? this.items.pop() : undefined;
  }
}

/**
 * Admission for a shard's REGISTERs: at most `limit` run at once, and a REGISTER whose socket
 * closed while it waited is dropped unrun (its client gave up and will register over a new
 * connection; the answer could not reach it anyway). REGISTERs that answer a challenge go first,
 * in arrival order: their clients are half-way through, and finishing them frees the most
 * waiting work per slot, where a new client's first REGISTER only earns it a 401. First
 * REGISTERs go in arrival order while the queue is short, newest first once its oldest has waited
 * LIFO_AFTER_MS: when more wait than the shard can answer within the clients' transaction
 * timeout, serving the oldest would answer each just after its client gave up (every answer
 * late, all work wasted), while the newest are answered in time and the oldest clients, timed
 * out either way, come back over new connections as the newest.
 */
export class RegisterGate {
  private running = 0;
  private readonly answering = new Queue();
  private readonly fresh = new Queue();
  /** REGISTERs dropped because their socket closed while they waited (admin, tests). */
  dropped = 0;

  constructor(
    private readonly limit = REGISTER_CONCURRENCY,
    private readonly clock: () => number = Date.now,
  ) {}

  /** REGISTERs waiting for a slot. */
  get waiting(): number {
    return this.answering.length + this.fresh.length;
  }

  /**
   * Runs `task` when a slot is free and the socket is still `alive()`; false when it was dropped.
   * `challenged`: the REGISTER carries credentials (it answers a 401).
   */
  async run(challenged: boolean, alive: () => boolean, task: () => Promise<void>): Promise<boolean> {
    if (this.running < this.limit && this.waiting === 0) {
      this.running++;
    } else {
      const admitted = new Promise<boolean>((start) => (challenged ? this.answering : this.fresh).push({ alive, start, since: this.clock() }));
      this.next();
      if (!(await admitted)) return false;
    }
    try {
      await task();
      return true;
    } finally {
      this.running--;
      this.next();
    }
  }

  private nextFresh(): Waiter | undefined {
    const oldest = this.fresh.peek();
    if (oldest === undefined) return undefined;
    return this.clock() - oldest.since < LIFO_AFTER_MS ? this.fresh.shift() : this.fresh.pop();
  }

  /** Hands the free slot to the first waiter whose socket is still open; drops the others. */
  private next(): void {
    while (this.running < this.limit) {
      const w = this.answering.shift() ?? this.nextFresh();
      if (w === undefined) return;
      if (!w.alive()) {
        this.dropped++;
        w.start(false);
        continue;
      }
      this.running++;
      w.start(true);
    }
  }
}

/**
 * Runs the tasks of one key one after the other, in the order they were handed in, while tasks of
 * other keys interleave freely. A shard uses it so that the messages of one flow (or of one call
 * through the bridge) are handled in arrival order even when one of them awaits an RPC: a CANCEL
 * cannot overtake the INVITE it cancels.
 */
export class KeyedSerial {
  private readonly tails = new Map<string, Promise<void>>();

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.tails.size;
  }

  run(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(key);
    const run = previous === undefined ? start(task) : previous.then(task);
    // One reaction both settles the tail (never rejected: the next task runs whatever this one
    // did) and forgets the key when nothing queued behind it: a promise and a turn per message less.
    // (Arrows passed inline: a named closure would be named again per message by the bundler.)
    const tail: Promise<void> = run.then(
      () => this.forget(key, tail),
      () => this.forget(key, tail),
    );
    this.tails.set(key, tail);
    return run;
  }

  private forget(key: string, tail: Promise<void>): void {
    if (this.tails.get(key) === tail) this.tails.delete(key);
  }
}

/** Starts a task now (no extra turn when nothing is queued), turning a synchronous throw into a rejection. */
function start(task: () => Promise<void>): Promise<void> {
  try {
    return task();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

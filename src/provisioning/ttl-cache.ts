/**
 * A small per-isolate cache of values read from D1, shared by the provisioning lookups (uac,
 * aliases): each value lives for its time-to-live, the oldest goes first when full, a failed read
 * is not kept, and concurrent misses of one key may share one read (per Durable Object).
 */

interface Entry<T> {
  value: T;
  until: number;
}

/** A small TTL cache of values read from D1 that drops its oldest entry when full. */
export class TtlCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly max: number, private readonly clock: () => number) {}

  /**
   * The cached value, or one read. A read in flight is shared only through `inFlight`, which
   * belongs to one Durable Object: its promise cannot be awaited by another object (workerd's I/O
   * contexts: "Cannot perform I/O on behalf of a different Durable Object"). A failure is not cached.
   */
  get(key: string, load: () => Promise<T>, ttlOf: (value: T) => number, inFlight?: Map<string, Promise<T>>): Promise<T> | T {
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.until > this.clock()) return hit.value;
    const pending = inFlight?.get(key);
    if (pending !== undefined) return pending;
    const read = load().then((value) => {
      this.entries.delete(key);
      if (this.entries.size >= this.max) {
        const oldest = this.entries.keys().next();
        if (!oldest.done) this.entries.delete(oldest.value);
      }
      this.entries.set(key, { value, until: this.clock() + ttlOf(value) });
      return value;
    });
    if (inFlight !== undefined) {
      inFlight.set(key, read);
      const forget = () => inFlight.delete(key);
      read.then(forget, forget);
    }
    return read;
  }

  clear(): void {
    this.entries.clear();
  }
}

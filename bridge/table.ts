/**
 * A bounded map of transactions with one timer each. Entries leave when their own timer says so;
 * when the table is full the oldest entry goes first (a Map iterates in insertion order), so a
 * flood of new branches costs bounded memory and only ever loses retransmission handling for the
 * oldest transactions, never a first copy.
 */
export interface Entry {
  readonly key: string;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class TransactionTable<T extends Entry> {
  private readonly map = new Map<string, T>();
  private readonly max: number;
  /** Entries pushed out because the table was full (a sizing hint for operators). */
  evicted = 0;

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): T | undefined {
    return this.map.get(key);
  }

  add(entry: T): void {
    if (this.map.size >= this.max) {
      const oldest = this.map.values().next();
      if (!oldest.done) {
        this.delete(oldest.value);
        this.evicted++;
      }
    }
    this.map.set(entry.key, entry);
  }

  delete(entry: T): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (this.map.get(entry.key) === entry) this.map.delete(entry.key);
  }

  /** (Re)arms the entry's single timer. */
  arm(entry: T, ms: number, fire: (entry: T) => void): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = setTimeout(fire, ms, entry);
  }

  clear(): void {
    for (const entry of this.map.values()) {
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    this.map.clear();
  }
}

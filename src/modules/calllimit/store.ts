import { CallCounter, type CallStart } from "./counter.ts";

/** Storage keys: `call:<Call-ID>` → epoch ms the call stops counting. */
const PREFIX = "call:";
/** Storage keys stay under the KV API's 2,048-byte limit whatever Call-ID a client sends. */
const MAX_KEY = 1024;

const keyOf = (callId: string) => PREFIX + callId.slice(0, MAX_KEY);

/** The part of a Durable Object's storage the table uses. */
export interface CallStorage {
  put(key: string, value: number, options?: { allowUnconfirmed?: boolean }): Promise<void>;
  delete(keys: string[], options?: { allowUnconfirmed?: boolean }): Promise<number>;
  delete(key: string, options?: { allowUnconfirmed?: boolean }): Promise<boolean>;
  list<T>(options: { prefix: string }): Promise<Map<string, T>>;
}

/**
 * A user's call counter kept in the storage of the object that owns the user (Location), so an
 * evicted object still counts the calls in progress. Costs: one storage write when a call starts
 * and one delete when it ends; nothing is read until the first call method after a start.
 *
 * The writes do not hold the answer back (`allowUnconfirmed`): the INVITE waits for the count,
 * not for the disk. A write lost in a crash is a call forgotten early (fail open).
 */
const UNCONFIRMED = { allowUnconfirmed: true };
export class CallTable {
  private readonly counter = new CallCounter();
  private loaded: Promise<void> | undefined;

  constructor(private readonly storage: CallStorage) {}

  /** Counts `callId` for at most `ttlMs` unless `limit` calls are in progress. */
  async start(callId: string, limit: number, ttlMs: number, now = Date.now()): Promise<CallStart> {
    await this.load(now);
    const ended: string[] = [];
    const verdict = this.counter.start(callId.slice(0, MAX_KEY), limit, now + ttlMs, now, (id) => ended.push(id));
    if (ended.length > 0) void this.storage.delete(ended.slice(0, 128).map(keyOf), UNCONFIRMED);
    if (verdict.ok) void this.storage.put(keyOf(callId), now + ttlMs, UNCONFIRMED);
    return verdict;
  }

  /** The call ended; false when it was not counted here. */
  async end(callId: string, now = Date.now()): Promise<boolean> {
    await this.load(now);
    if (!this.counter.end(callId.slice(0, MAX_KEY))) return false;
    void this.storage.delete(keyOf(callId), UNCONFIRMED);
    return true;
  }

  /** Calls counting now (admin, tests). */
  async active(now = Date.now()): Promise<number> {
    await this.load(now);
    return this.counter.active(now);
  }

  private load(now: number): Promise<void> {
    this.loaded ??= (async () => {
      for (const [key, until] of await this.storage.list<number>({ prefix: PREFIX })) this.counter.load(key.slice(PREFIX.length), until, now);
    })();
    return this.loaded;
  }
}

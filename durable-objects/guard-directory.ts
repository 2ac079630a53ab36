import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env.ts";
import { BanDirectory, type DirectoryChanges, type DirectoryEntry, type DirectoryRecord } from "../src/modules/htable/ban-directory.ts";

/** Storage keys: `d:<address key>` → { entry, until }. */
const PREFIX = "d:";
/** How often ended entries are swept from memory and storage. */
const SWEEP_MS = 60_000;

interface Stored {
  readonly entry: DirectoryEntry;
  readonly until: number;
}

/**
 * GuardDirectory: the one object (`idFromName("directory")`) that holds what every shard must know
 * about an address without asking its Guard: all-transport bans, watched addresses (live auth
 * failures) and lifted bans (src/modules/htable/ban-directory.ts). Guards write here, once per
 * ban or watch; shards read the changes since their last look, at most once per
 * `DIRECTORY_MAX_AGE_MS` each and only while they are busy. Entries live in storage, so a
 * restarted directory still knows every ban (it starts a new epoch, and the shards take the whole
 * table once).
 *
 * One object, not a partition per address range: writes are rare (a ban or watch needs real
 * WebSocket traffic from the address), and every shard reads every partition, so partitions would
 * multiply the reads without relieving anything.
 */
export class GuardDirectory extends DurableObject<Env> {
  private readonly directory = new BanDirectory();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      const now = Date.now();
      const ended: string[] = [];
      for (const [name, stored] of await ctx.storage.list<Stored>({ prefix: PREFIX })) {
        if (stored.until > now) this.directory.load(name.slice(PREFIX.length), stored.entry, stored.until, now);
        else ended.push(name.slice(PREFIX.length));
      }
      await this.forget(ended);
    });
  }

  /** A Guard's news about its address: a ban, a watch, or a lifted ban. */
  async record(key: string, change: DirectoryRecord): Promise<void> {
    const now = Date.now();
    const entry = this.directory.record(key, change, now);
    if (entry === undefined) return;
    const until = this.directory.expiresAt(key) ?? now;
    await this.ctx.storage.put<Stored>(PREFIX + key, { entry, until });
    await this.forget(this.directory.drainEvicted());
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + SWEEP_MS);
  }

  /** The changes after `since` in `epoch` (or the whole table), for a shard's copy. */
  async changes(epoch: string | undefined, since: number): Promise<DirectoryChanges> {
    return this.directory.changes(epoch, since);
  }

  /** What the directory holds for `key` (admin, tests). */
  async entry(key: string): Promise<DirectoryEntry | undefined> {
    return this.directory.get(key);
  }

  /**
   * Forgets what has ended, here and in storage, once per SWEEP_MS while anything is held (an
   * ended entry already reads as absent: the sweep only frees memory and storage).
   */
  override async alarm(): Promise<void> {
    await this.forget(this.directory.sweep(Date.now()));
    if (this.directory.size > 0) await this.ctx.storage.setAlarm(Date.now() + SWEEP_MS);
  }

  private async forget(keys: readonly string[]): Promise<void> {
    // The KV API deletes at most 128 keys per call.
    for (let i = 0; i < keys.length; i += 128) await this.ctx.storage.delete(keys.slice(i, i + 128).map((k) => PREFIX + k));
  }
}

/** The directory's stub. */
export function directoryOf(ns: DurableObjectNamespace<GuardDirectory>): DurableObjectStub<GuardDirectory> {
  return ns.get(ns.idFromName("directory"));
}

import type { Logger } from "../src/log.ts";
import type { Tm, ResponseContextSnapshot, Upstream } from "../src/modules/tm/index.ts";
import type { Alarms } from "./alarms.ts";

/** How long a transaction lives in memory only by default (TRANSACTION_STORE_AFTER): most are answered well within it. */
export const PERSIST_AFTER_MS = 2000;
const PREFIX = "tx:";

/**
 * Keeps the shard's long-lived transactions (an INVITE ringing under Timer C) in storage, with
 * the object's alarm at their next deadline, so fr_inv_timer / fr_timer still fire — and the caller
 * still gets its 408 — when the object was evicted meanwhile (issue 3). Short transactions never
 * touch storage: only those still pending PERSIST_AFTER_MS after they began are written, once, and
 * deleted as soon as they end. Stored transactions come back once, when the object starts, with
 * their socket (found by flow token); failure routes are code, so a restored transaction ends with
 * its best response (RTF_DISPATCH's per-call state is not restored).
 *
 * Each stored transaction is two rows written (its `put` and its `delete`): most calls to phones
 * ring longer than 2 s, so at scale this is a line of the storage bill (README, Capacity model).
 * `persistAfterMs` (TRANSACTION_STORE_AFTER) trades it: longer spares the calls answered sooner,
 * undefined stores nothing (Kamailio's transactions live in memory only; an evicted shard's
 * ringing branches then end without their 408 or CANCEL, and the gateway rings until it gives up).
 */
export class TransactionStore {
  private readonly persisted = new Set<string>();

  /** Transactions with a stored copy now (the soak's return-to-zero gauge). */
  get stored(): number {
    return this.persisted.size;
  }
  private sweeping: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly ctx: Pick<DurableObjectState, "storage">,
    private readonly tm: Tm,
    private readonly upstreamFor: (key: string) => Upstream | undefined,
    private readonly alarms: Alarms,
    private readonly log: Logger,
    private readonly persistAfterMs: number | undefined = PERSIST_AFTER_MS,
  ) {}

  /** After a request was relayed statefully: look again once it has had time to end. */
  watch(): void {
    const after = this.persistAfterMs;
    if (after === undefined) return;
    this.sweeping ??= setTimeout(() => {
      this.sweeping = undefined;
      void this.sweep().catch((err: unknown) => this.log.error("persisting transactions failed", { error: String(err) }));
    }, after);
  }

  /** Writes the transactions pending for `persistAfterMs` and not yet stored; re-arms the alarm. */
  async sweep(now = Date.now()): Promise<void> {
    const after = this.persistAfterMs;
    let next: number | undefined;
    let young = false;
    const puts: Record<string, ResponseContextSnapshot> = {};
    for (const context of this.tm.liveContexts()) {
      const deadline = context.nextDeadline();
      if (deadline !== undefined && (next === undefined || deadline < next)) next = deadline;
      if (this.persisted.has(context.id) || context.upstreamKey === undefined || after === undefined) continue;
      if (now - context.createdAt < after) {
        young = true;
        continue;
      }
      const snap = this.tm.snapshot(context.id);
      if (snap) puts[PREFIX + context.id] = snap;
    }
    if (Object.keys(puts).length > 0) {
      await this.ctx.storage.put(puts);
      for (const key of Object.keys(puts)) this.persisted.add(key.slice(PREFIX.length));
    }
    await this.alarms.want("transactions", this.persisted.size > 0 ? next : undefined, now);
    if (young || this.tm.size > this.persisted.size) this.watch();
  }

  /** A transaction ended: its stored copy goes at once, so it can never be restored again. */
  forgotten(id: string): void {
    if (!this.persisted.delete(id)) return;
    void this.ctx.storage.delete(PREFIX + id).catch((err: unknown) => this.log.warn("deleting a stored transaction failed", { id, error: String(err) }));
  }

  /** When the object starts: brings stored transactions back into tm, once. */
  async restore(): Promise<number> {
    const stored = await this.ctx.storage.list<ResponseContextSnapshot>({ prefix: PREFIX });
    let restored = 0;
    const dead: string[] = [];
    for (const [key, snap] of stored) {
      const id = key.slice(PREFIX.length);
      if (this.tm.context(id) !== undefined) continue;
      const upstream = snap.upstreamKey === undefined ? undefined : this.upstreamFor(snap.upstreamKey);
      // Marked first: a restored context whose deadline passed ends at once and deletes its copy.
      this.persisted.add(id);
      const context = upstream ? this.tm.restore(snap, { upstream }) : undefined;
      if (context) restored++;
      else {
        this.persisted.delete(id);
        dead.push(key);
      }
    }
    for (let i = 0; i < dead.length; i += 128) await this.ctx.storage.delete(dead.slice(i, i + 128));
    if (restored > 0) {
      this.log.info("transactions restored after eviction", { restored });
      await this.sweep();
    }
    return restored;
  }
}

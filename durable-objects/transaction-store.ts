import type { Logger } from "../src/log.ts";
import type { Tm, ResponseContextSnapshot, Upstream } from "../src/modules/tm/index.ts";

/** How long a transaction lives in memory only: most are answered well within it. */
export const PERSIST_AFTER_MS = 2000;
const PREFIX = "tx:";

/**
 * Keeps the shard's long-lived transactions (an INVITE ringing under Timer C) in storage, with
 * the object's alarm at their next deadline, so fr_inv_timer / fr_timer still fire — and the caller
 * still gets its 408 — when the object was evicted meanwhile (issue 3). Short transactions never
 * touch storage: only those still pending after PERSIST_AFTER_MS are written, once, and deleted
 * when they end. On wake, stored transactions come back with their socket (found by flow token);
 * failure routes are code, so a restored transaction ends with its best response (RTF_DISPATCH's
 * per-call state is not restored).
 */
export class TransactionStore {
  private readonly persisted = new Set<string>();
  private sweeping: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly tm: Tm,
    private readonly upstreamFor: (key: string) => Upstream | undefined,
    private readonly log: Logger,
  ) {}

  /** After a request was relayed statefully: look again once it has had time to end. */
  watch(): void {
    this.sweeping ??= setTimeout(() => {
      this.sweeping = undefined;
      void this.sweep().catch((err: unknown) => this.log.error("persisting transactions failed", { error: String(err) }));
    }, PERSIST_AFTER_MS);
  }

  /** Writes the pending transactions not yet stored, drops the ended ones, re-arms the alarm. */
  async sweep(): Promise<void> {
    const live = new Set<string>();
    let next: number | undefined;
    const puts: Record<string, ResponseContextSnapshot> = {};
    for (const context of this.tm.liveContexts()) {
      live.add(context.id);
      const deadline = context.nextDeadline();
      if (deadline !== undefined && (next === undefined || deadline < next)) next = deadline;
      if (this.persisted.has(context.id) || context.upstreamKey === undefined) continue;
      const snap = this.tm.snapshot(context.id);
      if (snap) puts[PREFIX + context.id] = snap;
    }
    const gone = [...this.persisted].filter((id) => !live.has(id));
    if (Object.keys(puts).length > 0) await this.ctx.storage.put(puts);
    if (gone.length > 0) await this.ctx.storage.delete(gone.map((id) => PREFIX + id));
    for (const key of Object.keys(puts)) this.persisted.add(key.slice(PREFIX.length));
    for (const id of gone) this.persisted.delete(id);
    if (next !== undefined) await this.ctx.storage.setAlarm(next);
    if (live.size > 0) this.watch();
  }

  /** On wake (constructor, alarm): brings stored transactions back into tm. */
  async restore(): Promise<number> {
    const stored = await this.ctx.storage.list<ResponseContextSnapshot>({ prefix: PREFIX });
    let restored = 0;
    for (const [key, snap] of stored) {
      const id = key.slice(PREFIX.length);
      if (this.tm.context(id) !== undefined) continue;
      const upstream = snap.upstreamKey === undefined ? undefined : this.upstreamFor(snap.upstreamKey);
      const context = upstream ? this.tm.restore(snap, { upstream }) : undefined;
      if (context) {
        this.persisted.add(id);
        restored++;
      } else {
        await this.ctx.storage.delete(key);
      }
    }
    if (restored > 0) {
      this.log.info("transactions restored after eviction", { restored });
      this.watch();
    }
    return restored;
  }
}

/**
 * A Durable Object has one alarm; a shard has several kinds of work that must wake it (stored
 * transactions' deadlines, the dialogs whose client went away, sockets' keep-alive). Each owner
 * says when it next needs to run; the alarm is set to the earliest, never in the past, so an
 * overdue alarm cannot spin (each run re-arms at least MIN_DELAY_MS ahead).
 *
 * An alarm already set no later than what an owner wants is left alone, overdue or not: moving an
 * overdue alarm later cancels the run the runtime has due (workerd logs "SQLite alarm handler
 * canceled with requestScheduledAlarm"), and while the thread is busy every new socket moved it
 * again, so a shard under load could put its sweeps off without end. For the same reason the
 * alarm an earlier incarnation left is read when the object starts (`load`).
 */
const MIN_DELAY_MS = 250;

export class Alarms {
  private readonly wants = new Map<string, number>();
  /** The alarm as last set by this instance. */
  private armedAt: number | undefined;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** `owner` needs to run at `at` (ms since the epoch), or no longer (undefined). */
  async want(owner: string, at: number | undefined, now = Date.now()): Promise<void> {
    if (at === undefined) this.wants.delete(owner);
    else this.wants.set(owner, at);
    let next: number | undefined;
    for (const t of this.wants.values()) if (next === undefined || t < next) next = t;
    if (next === undefined) return; // an alarm already set fires once, finds nothing to do
    const at2 = Math.max(next, now + MIN_DELAY_MS);
    if (this.armedAt !== undefined && this.armedAt <= at2) return;
    this.armedAt = at2;
    await this.storage.setAlarm(at2);
  }

  /** The alarm as stored (set before an eviction or a restart); call once, before any `want`. */
  async load(): Promise<void> {
    this.armedAt = (await this.storage.getAlarm()) ?? undefined;
  }

  /** The alarm fired: the owners run and say again what they want. */
  fired(): void {
    this.armedAt = undefined;
    this.wants.clear();
  }
}

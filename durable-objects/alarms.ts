/**
 * A Durable Object has one alarm; a shard has several kinds of work that must wake it (stored
 * transactions' deadlines, the dialogs whose client went away). Each owner says when it next
 * needs to run; the alarm is set to the earliest, never in the past, so an overdue alarm cannot
 * spin (each run re-arms at least MIN_DELAY_MS ahead). A new instance (a restart, a wake from
 * hibernation) first reads the alarm an earlier one left: its owners have not said what they want
 * yet, and setting a later time would postpone their work (workerd cancels an overdue alarm that
 * was about to run when it is moved).
 */
const MIN_DELAY_MS = 250;

export class Alarms {
  private readonly wants = new Map<string, number>();
  /** The alarm as last set (by this instance, or found set by an earlier one). */
  private armedAt: number | undefined;
  /** Reading the alarm an earlier instance left, once. */
  private inherited: Promise<void> | undefined;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** `owner` needs to run at `at` (ms since the epoch), or no longer (undefined). */
  async want(owner: string, at: number | undefined, now = Date.now()): Promise<void> {
    if (at === undefined) this.wants.delete(owner);
    else this.wants.set(owner, at);
    let next: number | undefined;
    for (const t of this.wants.values()) if (next === undefined || t < next) next = t;
    if (next === undefined) return; // an alarm already set fires once, finds nothing to do
    await (this.inherited ??= this.storage.getAlarm().then((t) => void (this.armedAt ??= t ?? undefined)));
    const at2 = Math.max(next, now + MIN_DELAY_MS);
    // An alarm already due (it has not run yet: a run calls `fired`) still runs; so does an earlier one.
    if (this.armedAt !== undefined && this.armedAt <= at2) return;
    this.armedAt = at2;
    await this.storage.setAlarm(at2);
  }

  /** The alarm fired: the owners run and say again what they want. */
  fired(): void {
    this.armedAt = undefined;
    this.wants.clear();
  }
}

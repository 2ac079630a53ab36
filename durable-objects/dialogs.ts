import type { Logger } from "../src/log.ts";
import { byeOf, type GatewayDialog } from "../src/modules/dialog/index.ts";
import type { DialogService } from "../src/modules/dialog/script.ts";
import type { SentBy } from "../src/modules/tm/index.ts";
import type { Alarms } from "./alarms.ts";

const PREFIX = "dlg:";
/** CSeq shifts of dialogs whose WebSocket side is in this shard (track_cseq_updates). */
const SHIFT_PREFIX = "dlgcs:";
/** Kamailio dialog `default_timeout` (12 h): a record whose BYE was never seen is dropped then. */
export const MAX_DIALOG_AGE_MS = 12 * 3600_000;
/** How long past the timeout a BYE waits for a bridge link before the record is given up. */
const MAX_BYE_DELAY_MS = 10 * 60_000;
/** How long a CSeq shift outlives its dialog's BYE: the BYE's own transaction (64 × T1). */
const SHIFT_AFTER_BYE_MS = 32_000;
/** Calls a shard tracks at most; beyond, new calls are not tracked (and say so in the log). */
const MAX_DIALOGS = 100_000;

export interface DialogDeps {
  /** DIALOG_FLOW_TIMEOUT in ms: how long a call's WebSocket side may be gone before the gateway gets a BYE. */
  timeoutMs: number;
  /** DIALOG_DB_UPDATE_PERIOD in ms: how often the records changed since the last write are stored, in one batch; 0 = at once. */
  writeEveryMs: number;
  /** The flows of `flows` whose sockets are open (in this shard or another). */
  liveFlows(flows: string[]): Promise<Set<string>>;
  /** The live flow the client instance registered since its old one closed. */
  successor(aor: string, instance: string, flow: string): Promise<string | undefined>;
  /** Sends a message through a bridge (the named one when its link is up); the Via it must carry, or undefined. */
  bridgeVia(bridge: string | undefined): (SentBy & { bridge: string }) | undefined;
  send(dst: string, text: string, bridge: string): boolean;
  /** This shard's number: a BYE of a call kept elsewhere is told to its keeper. */
  shard: string;
  tellKeeper(owner: string, callId: string): void;
  log: Logger;
}

/**
 * The gateway calls a shard keeps (issue 8: "calls survive a reconnect"): stored when answered and
 * deleted at their BYE, so a deploy — which drops every socket and restarts every object — does
 * not lose them. As Kamailio's dialog `db_mode` 2, records reach storage every `writeEveryMs` in
 * one `put` of all that changed (and one `delete`): a storage write per call was the largest
 * single cost of a gateway call at the edge, and a call that ends before the next write never
 * touches storage. A crash loses the changes of at most that period. Every poll (a tenth of the timeout, at most 10 s)
 * checks each call's WebSocket flow: a flow that is gone is followed to the one its client
 * instance registered since (the call lives on); once it has been gone for the timeout with no
 * successor, the gateway gets the BYE the client would have sent.
 */
export class DialogStore implements DialogService {
  private readonly records = new Map<string, GatewayDialog>();
  /** CSeq shifts by Call-ID, each with the time (ms) it may be forgotten. */
  private readonly shifts = new Map<string, { by: number; until: number }>();
  /** Call-IDs whose record is in storage (as of the last write that succeeded or is under way). */
  private readonly stored = new Set<string>();
  /** Records changed since the last write, and records to delete from storage. */
  private readonly unsaved = new Map<string, GatewayDialog>();
  private readonly unstored = new Set<string>();
  private saving: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly alarms: Alarms,
    private readonly deps: DialogDeps,
  ) {}

  get size(): number {
    return this.records.size;
  }

  private get pollMs(): number {
    return Math.max(250, Math.min(10_000, Math.floor(this.deps.timeoutMs / 10)));
  }

  /** When the object starts: the stored calls come back, and the next poll is scheduled. */
  async restore(): Promise<void> {
    for (const [key, dialog] of await this.storage.list<GatewayDialog>({ prefix: PREFIX })) {
      if (dialog.v !== 1) continue;
      this.records.set(key.slice(PREFIX.length), dialog);
      this.stored.add(key.slice(PREFIX.length));
    }
    const now = Date.now();
    for (const [key, shift] of await this.storage.list<{ by: number; until: number }>({ prefix: SHIFT_PREFIX })) {
      if (shift.until > now) this.shifts.set(key.slice(SHIFT_PREFIX.length), shift);
      else void this.storage.delete(key);
    }
    if (this.records.size > 0) await this.alarms.want("dialogs", Date.now() + this.pollMs);
  }

  answered(dialog: GatewayDialog): void {
    if (this.deps.timeoutMs <= 0) return;
    if (this.records.size >= MAX_DIALOGS && !this.records.has(dialog.callId)) {
      this.deps.log.warn("too many calls tracked in this shard: this one is not", { callId: dialog.callId });
      return;
    }
    const first = this.records.size === 0;
    this.records.set(dialog.callId, dialog);
    this.write(dialog);
    if (first) void this.alarms.want("dialogs", Date.now() + this.pollMs);
  }

  cseqShift(callId: string): number {
    return this.shifts.get(callId)?.by ?? 0;
  }

  /** One storage write per challenge answered inside a dialog (rare: carriers challenge the INVITE, whose shift the route set carries). */
  shiftCseq(callId: string, by: number, now = Date.now()): void {
    if (by <= 0) return;
    for (const [id, shift] of this.shifts) if (shift.until <= now) this.forgetShift(id);
    if (this.shifts.size >= MAX_DIALOGS && !this.shifts.has(callId)) {
      this.deps.log.warn("too many CSeq shifts kept in this shard: this one is not", { callId });
      return;
    }
    this.putShift(callId, { by: this.cseqShift(callId) + by, until: now + MAX_DIALOG_AGE_MS });
  }

  ended(callId: string, owner: string): void {
    // The BYE itself, its retransmissions and its retry with credentials still need the shift.
    const shift = this.shifts.get(callId);
    if (shift !== undefined) this.putShift(callId, { by: shift.by, until: Date.now() + SHIFT_AFTER_BYE_MS });
    if (owner !== this.deps.shard) {
      this.deps.tellKeeper(owner, callId);
      return;
    }
    if (!this.records.delete(callId)) return;
    this.unsaved.delete(callId);
    if (this.stored.has(callId)) this.save(() => this.unstored.add(callId));
  }

  /** The alarm: checks every call's flow (see the class comment). */
  async poll(now = Date.now()): Promise<void> {
    if (this.records.size === 0) return;
    const live = await this.deps.liveFlows([...new Set([...this.records.values()].map((d) => d.flow))]);
    for (const dialog of [...this.records.values()]) {
      if (now - dialog.since > MAX_DIALOG_AGE_MS) {
        this.deps.log.info("call record dropped after the dialog timeout", { callId: dialog.callId });
        this.ended(dialog.callId, this.deps.shard);
      } else if (live.has(dialog.flow)) {
        if (dialog.lostAt !== undefined) this.write({ ...dialog, lostAt: undefined });
      } else {
        await this.flowGone(dialog, now);
      }
    }
    if (this.records.size > 0) await this.alarms.want("dialogs", now + this.pollMs, now);
  }

  private async flowGone(dialog: GatewayDialog, now: number): Promise<void> {
    const next = dialog.aor !== undefined && dialog.instance !== undefined ? await this.deps.successor(dialog.aor, dialog.instance, dialog.flow).catch(() => undefined) : undefined;
    if (next !== undefined) {
      this.deps.log.info("call follows its client to a new flow", { callId: dialog.callId, flow: next });
      this.write({ ...dialog, flow: next, lostAt: undefined });
      return;
    }
    if (dialog.lostAt === undefined) {
      this.write({ ...dialog, lostAt: now });
      return;
    }
    if (now - dialog.lostAt < this.deps.timeoutMs) return;
    // No bridge link yet (a restarted edge waits for its bridges to dial in): the next poll tries again.
    const via = this.deps.bridgeVia(dialog.bridge);
    if (via === undefined || !this.deps.send(dialog.dst, byeOf(dialog, via, `z9hG4bK-dlg-${crypto.randomUUID()}`), via.bridge)) {
      if (now - dialog.lostAt > this.deps.timeoutMs + MAX_BYE_DELAY_MS) {
        this.deps.log.warn("call record dropped: no bridge link to send its BYE", { callId: dialog.callId, gateway: dialog.dst });
        this.ended(dialog.callId, this.deps.shard);
      }
      return;
    }
    this.deps.log.info("call ended toward the gateway: its WebSocket side is gone", { callId: dialog.callId, gateway: dialog.dst, goneMs: now - dialog.lostAt });
    this.ended(dialog.callId, this.deps.shard);
  }

  private putShift(callId: string, shift: { by: number; until: number }): void {
    this.shifts.set(callId, shift);
    void this.storage.put(SHIFT_PREFIX + callId, shift).catch((err: unknown) => this.deps.log.warn("storing a CSeq shift failed", { callId, error: String(err) }));
  }

  private forgetShift(callId: string): void {
    this.shifts.delete(callId);
    void this.storage.delete(SHIFT_PREFIX + callId).catch(() => undefined);
  }

  private write(dialog: GatewayDialog): void {
    if (dialog.lostAt === undefined) delete dialog.lostAt;
    this.records.set(dialog.callId, dialog);
    this.save(() => {
      this.unstored.delete(dialog.callId);
      this.unsaved.set(dialog.callId, dialog);
    });
  }

  /** Notes a change for the next write (scheduled when it is the first since the last one). */
  private save(change: () => void): void {
    change();
    if (this.deps.writeEveryMs <= 0) this.flush();
    else this.saving ??= setTimeout(() => this.flush(), this.deps.writeEveryMs);
  }

  /** Writes what changed since the last write: one `put` and one `delete` per 128 keys (the storage API's limit). */
  flush(): void {
    if (this.saving !== undefined) clearTimeout(this.saving);
    this.saving = undefined;
    const puts = [...this.unsaved.values()];
    const deletes = [...this.unstored].map((id) => PREFIX + id);
    this.unsaved.clear();
    this.unstored.clear();
    for (const d of puts) this.stored.add(d.callId);
    for (const key of deletes) this.stored.delete(key.slice(PREFIX.length));
    const failed = (what: string, count: number) => (err: unknown) => this.deps.log.warn(`${what} call records failed`, { count, error: String(err) });
    for (let i = 0; i < puts.length; i += 128) {
      const chunk = puts.slice(i, i + 128);
      void this.storage.put(Object.fromEntries(chunk.map((d) => [PREFIX + d.callId, d]))).catch(failed("storing", chunk.length));
    }
    for (let i = 0; i < deletes.length; i += 128) void this.storage.delete(deletes.slice(i, i + 128)).catch(failed("deleting", deletes.length));
  }
}

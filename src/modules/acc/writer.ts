/**
 * Call records leave the call path through a buffer: `push` returns at once, and the buffer goes
 * to D1 in one batch when it holds `batchSize` records or `flushMs` after the first one. A D1
 * error keeps the records for the next attempt (backing off up to a minute); beyond `maxBuffered`
 * the oldest are dropped and counted. What is lost when the object holding the buffer stops
 * before a flush: at most `flushMs` worth of records (README: failure policy).
 */
import { col, jsonChunks, rowsWrittenBy, type SqlDatabase } from "../../provisioning/db.ts";
import type { AccRecord } from "./record.ts";

export interface AccWriterOptions {
  db: SqlDatabase;
  flushMs?: number;
  batchSize?: number;
  maxBuffered?: number;
  /** Keeps the object alive until a flush started from a timer has finished (DO `waitUntil`). */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** A batch reached D1: its records, and the rows D1 says it wrote (index entries included). */
  onWritten?: (records: readonly AccRecord[], rowsWritten: number) => void;
  onDropped?: (count: number) => void;
  onError?: (error: unknown, buffered: number) => void;
}

const COLUMNS = [
  "method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time", "time_ms", "end_ms",
  "src_user", "src_domain", "src_ip", "dst_ouser", "dst_user", "dst_domain", "dst", "branches", "shard",
] as const;

const INSERT = `INSERT INTO acc (${COLUMNS.join(", ")}) SELECT ${COLUMNS.map((_, i) => col(i)).join(", ")} FROM json_each(?1)`;

function row(r: AccRecord): unknown[] {
  return [
    r.method, r.fromTag, r.toTag, r.callId, String(r.sipCode), r.sipReason,
    // Kamailio's `time` column: the record's time as "YYYY-MM-DD HH:MM:SS" (UTC here).
    new Date(r.endMs).toISOString().slice(0, 19).replace("T", " "),
    r.timeMs, r.endMs, r.srcUser, r.srcDomain, r.srcIp, r.dstOuser, r.dstUser, r.dstDomain, r.dst,
    JSON.stringify(r.branches), r.shard,
  ];
}

export class AccWriter {
  readonly #options: Required<Pick<AccWriterOptions, "flushMs" | "batchSize" | "maxBuffered">> & AccWriterOptions;
  #buffer: AccRecord[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> | undefined;
  #failures = 0;

  constructor(options: AccWriterOptions) {
    this.#options = { flushMs: 1000, batchSize: 100, maxBuffered: 10_000, ...options };
  }

  get buffered(): number {
    return this.#buffer.length;
  }

  push(record: AccRecord): void {
    this.#buffer.push(record);
    const over = this.#buffer.length - this.#options.maxBuffered;
    if (over > 0) {
      this.#buffer.splice(0, over);
      this.#options.onDropped?.(over);
    }
    if (this.#buffer.length >= this.#options.batchSize && this.#flushing === undefined) this.#start();
    else this.#schedule(this.#options.flushMs);
  }

  /** Writes what is buffered now (tests, shutdown); resolves when D1 has it or refused it. */
  async flush(): Promise<void> {
    if (this.#flushing !== undefined) await this.#flushing;
    if (this.#buffer.length > 0) await this.#start();
  }

  #schedule(ms: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#flushing === undefined) this.#start();
    }, ms);
  }

  #start(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#buffer;
    this.#buffer = [];
    const flushing = this.#write(batch).finally(() => {
      this.#flushing = undefined;
      if (this.#buffer.length > 0) this.#schedule(this.#failures > 0 ? Math.min(60_000, this.#options.flushMs * 2 ** this.#failures) : this.#options.flushMs);
    });
    this.#flushing = flushing;
    this.#options.waitUntil?.(flushing);
    return flushing;
  }

  async #write(batch: AccRecord[]): Promise<void> {
    if (batch.length === 0) return;
    const { db } = this.#options;
    try {
      const results = await db.batch(jsonChunks(db, INSERT, batch.map(row), 200));
      this.#failures = 0;
      this.#options.onWritten?.(batch, rowsWrittenBy(results));
    } catch (error) {
      this.#failures++;
      // Back in front of what arrived meanwhile, in order; push() bounds the total.
      this.#buffer = batch.concat(this.#buffer);
      const over = this.#buffer.length - this.#options.maxBuffered;
      if (over > 0) {
        this.#buffer.splice(0, over);
        this.#options.onDropped?.(over);
      }
      this.#options.onError?.(error, this.#buffer.length);
    }
  }
}

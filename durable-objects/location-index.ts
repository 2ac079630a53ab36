/**
 * The registration index in D1 (`location_index`, migrations/0003): Durable Objects cannot be
 * listed, so `ul dump` and the dashboard read every AOR from here. A Location object hands its
 * whole binding list over when the set changes (never on a plain refresh); the writes of one
 * object go out one at a time and only the latest list is written after a busy spell, so rows
 * never go back to an older list. A failed write is retried with the latest list (1 s, 2 s, …
 * up to a minute) while the object lives.
 *
 * It also logs one info line per binding added or removed: what Kamailio's default
 * configuration prints with xlog for a registration.
 */
import type { Logger } from "../src/log.ts";
import type { Binding } from "../src/modules/registrar/index.ts";
import type { SqlDatabase } from "../src/provisioning/db.ts";

export interface LocationIndexOptions {
  /** Undefined once the table turned out to be missing. */
  db: SqlDatabase | undefined;
  log: Logger;
  waitUntil: (promise: Promise<unknown>) => void;
  /** Identity of a binding within its AOR (the Location object's key). */
  keyOf: (binding: Binding) => string;
}

interface Pending {
  aor: string;
  bindings: readonly Binding[];
  version: number;
}

const INSERT = `INSERT OR REPLACE INTO location_index
  (aor, binding_key, contact, expires, q, user_agent, received, flow_shard, instance, reg_id, last_modified, version, indexed_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export class LocationIndex {
  readonly #options: LocationIndexOptions;
  #pending: Pending | undefined;
  #writing = false;
  #failures = 0;

  constructor(options: LocationIndexOptions) {
    this.#options = options;
  }

  /** The binding set of `aor` changed from `before` to `after` (now at `version`). */
  changed(aor: string, before: readonly Binding[], after: readonly Binding[], version: number, now = Date.now()): void {
    this.#logChanges(aor, before, after, now);
    if (this.#options.db === undefined) return;
    this.#pending = { aor, bindings: after.filter((b) => b.expires > now), version };
    if (!this.#writing) this.#options.waitUntil(this.#drain());
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#pending !== undefined) {
        const next = this.#pending;
        this.#pending = undefined;
        try {
          await this.#write(next);
          this.#failures = 0;
        } catch (error) {
          if (String(error).includes("no such table")) {
            // A database without migrations/0003: say so once, and keep the object working.
            this.#options.log.error("location index missing: apply the D1 migrations (wrangler d1 migrations apply DB)", { error: String(error) });
            this.#options.db = undefined;
            this.#pending = undefined;
            return;
          }
          this.#failures++;
          this.#pending ??= next;
          const delay = Math.min(60_000, 1000 * 2 ** (this.#failures - 1));
          this.#options.log.warn("location index write failed", { aor: next.aor, error: String(error), retryInMs: delay });
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  async #write({ aor, bindings, version }: Pending): Promise<void> {
    const { db, keyOf } = this.#options;
    if (db === undefined) return;
    const now = Date.now();
    const statements = [db.prepare("DELETE FROM location_index WHERE aor = ?").bind(aor)];
    for (const b of bindings) {
      const token = b.flowToken ?? "";
      statements.push(
        db.prepare(INSERT).bind(
          aor, keyOf(b), b.contact, b.expires, b.q, b.userAgent ?? "", b.received ?? "",
          token.includes(".") ? token.slice(0, token.indexOf(".")) : "", b.instance ?? "", b.regId ?? 0,
          b.lastModified, version, now,
        ),
      );
    }
    await db.batch(statements);
  }

  #logChanges(aor: string, before: readonly Binding[], after: readonly Binding[], now: number): void {
    const { keyOf, log } = this.#options;
    const old = new Map(before.map((b) => [keyOf(b), b]));
    for (const b of after) {
      const was = old.get(keyOf(b));
      old.delete(keyOf(b));
      if (was === undefined || was.contact !== b.contact || was.flowToken !== b.flowToken) {
        log.info("registered", { aor, contact: b.contact, expiresS: Math.round((b.expires - now) / 1000), userAgent: b.userAgent, received: b.received });
      }
    }
    for (const b of old.values()) {
      log.info("unregistered", { aor, contact: b.contact, reason: b.expires <= now ? "expired" : "removed" });
    }
  }
}

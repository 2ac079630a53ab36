/**
 * The demo subscribers `npm start` provisions into an empty `subscriber` table (README lists
 * them), and the benchmark users of ../shared/bench/gen_db.sh (`user0000`… with password `pw`),
 * so the Kamailio reference and sipedge run the same workload.
 */
import type { SqlDatabase } from "./db.ts";
import { countSubscribers, subscriberRow, upsertSubscribers, type SubscriberRow } from "./subscriber.ts";

export const DEMO_USERS: readonly { username: string; password: string }[] = [
  { username: "alice", password: "alice123" },
  { username: "bob", password: "bob123" },
  { username: "carol", password: "carol123" },
];

export const BENCH_USERS = 1000;
export const BENCH_PASSWORD = "pw";

/** `user0000`…: the bench harness's naming (four digits, zero-padded). */
export function benchUsername(i: number): string {
  return `user${String(i).padStart(4, "0")}`;
}

export function demoSubscribers(domain: string, benchUsers = BENCH_USERS): SubscriberRow[] {
  const input = DEMO_USERS.map((u) => ({ ...u, domain }));
  for (let i = 0; i < benchUsers; i++) input.push({ username: benchUsername(i), password: BENCH_PASSWORD, domain });
  return input.map((u) => {
    const r = subscriberRow(u, domain);
    if (!r.ok) throw new Error(`demo subscriber ${u.username}: ${r.field}: ${r.reason}`);
    return r.row;
  });
}

/** Seeds the demo subscribers when the table is empty; returns how many were written. */
export async function seedDemoSubscribers(db: SqlDatabase, domain: string, benchUsers = BENCH_USERS): Promise<number> {
  if ((await countSubscribers(db)) > 0) return 0;
  const rows = demoSubscribers(domain, benchUsers);
  await db.batch(upsertSubscribers(db, rows));
  return rows.length;
}

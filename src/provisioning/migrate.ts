import type { SqlDatabase } from "./db.ts";

/** One migration file: `migrations/0001_init.sql` → `{ name: "0001_init.sql", sql }`. */
export interface Migration {
  readonly name: string;
  readonly sql: string;
}

/**
 * The table `wrangler d1 migrations apply` keeps (same name and columns), so the local stack,
 * the tests and wrangler agree on what has been applied.
 */
const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS d1_migrations(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT UNIQUE,
  applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
)`;

/**
 * Splits a migration file into statements at `;`, skipping `--` and `/* *\/` comments and
 * keeping quoted text ('…', "…", `…`, […]) intact. A single pass with no backtracking.
 * CREATE TRIGGER bodies (`BEGIN … ; … END`) are not split-safe; our migrations have none.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur = "";
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
      cur += " ";
      continue;
    }
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let end = sql.indexOf(close, i + 1);
      // A doubled quote inside the text is an escaped quote ('it''s').
      while (end >= 0 && close !== "]" && sql[end + 1] === close) end = sql.indexOf(close, end + 2);
      const stop = end < 0 ? n : end + 1;
      cur += sql.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === ";") {
      if (cur.trim() !== "") out.push(cur.trim());
      cur = "";
    } else {
      cur += c;
    }
    i++;
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

/**
 * Applies the migrations not yet recorded in `d1_migrations`, in name order, each in one batch
 * (one transaction) together with its record, so a failed file leaves no half-applied schema
 * and a re-run applies nothing twice. Returns the names applied now.
 */
export async function applyMigrations(db: SqlDatabase, migrations: readonly Migration[]): Promise<string[]> {
  await db.prepare(MIGRATIONS_TABLE).run();
  const { results } = await db.prepare("SELECT name FROM d1_migrations").all<{ name: string }>();
  const done = new Set(results.map((r) => r.name));
  const applied: string[] = [];
  const ordered = [...migrations].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const m of ordered) {
    if (done.has(m.name)) continue;
    const statements = splitStatements(m.sql).map((s) => db.prepare(s));
    statements.push(db.prepare("INSERT INTO d1_migrations (name) VALUES (?1)").bind(m.name));
    await db.batch(statements);
    applied.push(m.name);
  }
  return applied;
}

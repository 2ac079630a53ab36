/**
 * The part of D1's API provisioning uses, as a structural type: `D1Database` satisfies it in
 * the Worker, and plain-Node tests and scripts can hand in an adapter over another SQLite.
 */
export interface SqlStatement {
  bind(...values: unknown[]): SqlStatement;
  first<T = Record<string, unknown>>(): Promise<T | null>;
  all<T = Record<string, unknown>>(): Promise<{ results: T[] }>;
  run(): Promise<unknown>;
}

export interface SqlDatabase {
  prepare(query: string): SqlStatement;
  /** Runs the statements in order inside one transaction (D1 `batch`). */
  batch(statements: SqlStatement[]): Promise<unknown[]>;
}

/**
 * Rows per multi-row statement. Rows travel as one JSON array bound to a single parameter and
 * are unpacked by `json_each` in SQL: D1 allows at most 100 bound parameters per statement
 * (16 rows of a 6-column insert), and every statement counts towards the 1,000 queries a
 * Worker invocation may make, so 10,000 subscribers take 20 statements instead of 625.
 * 500 rows of a subscriber (three hashes, ~200 bytes each) stay near 100 KB per parameter.
 */
export const ROWS_PER_STATEMENT = 500;

/** Binds `rows` to `query` (whose only parameter `?1` is a JSON array of rows) in chunks. */
export function jsonChunks(db: SqlDatabase, query: string, rows: readonly unknown[], perStatement = ROWS_PER_STATEMENT): SqlStatement[] {
  const statements: SqlStatement[] = [];
  for (let i = 0; i < rows.length; i += perStatement) {
    statements.push(db.prepare(query).bind(JSON.stringify(rows.slice(i, i + perStatement))));
  }
  return statements;
}

/**
 * The rows a batch wrote as D1 bills them (`meta.rows_written` of each result: index entries
 * included), 0 where a result carries none (another SqlDatabase than D1).
 */
export function rowsWrittenBy(results: readonly unknown[]): number {
  let rows = 0;
  for (const r of results) rows += (r as { meta?: { rows_written?: number } } | undefined)?.meta?.rows_written ?? 0;
  return rows;
}

/** SQL that reads column `n` of the JSON row array `value` that `json_each` yields. */
export function col(n: number): string {
  return `json_extract(value, '$[${n}]')`;
}

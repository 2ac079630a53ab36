import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import type { SqlDatabase, SqlStatement } from "../../../src/provisioning/db.ts";

/**
 * D1's API over Node's built-in SQLite, so provisioning runs against a real SQLite (the engine
 * under D1) in plain-Node tests. `queries` counts statements as D1 would bill them.
 */
export class SqliteD1 implements SqlDatabase {
  readonly db = new DatabaseSync(":memory:");
  queries = 0;

  prepare(query: string): SqlStatement {
    return this.statement(query, []);
  }

  async batch(statements: SqlStatement[]): Promise<unknown[]> {
    this.db.exec("BEGIN");
    try {
      const out: unknown[] = [];
      for (const s of statements) out.push(await s.run());
      this.db.exec("COMMIT");
      return out;
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }

  private statement(query: string, params: SQLInputValue[]): SqlStatement {
    const run = <T>(mode: "all" | "run"): T => {
      this.queries++;
      const stmt = this.db.prepare(query);
      return (mode === "all" ? stmt.all(...params) : stmt.run(...params)) as T;
    };
    return {
      bind: (...values: unknown[]) => this.statement(query, values as SQLInputValue[]),
      first: async <T>() => (run<T[]>("all")[0] ?? null) as T | null,
      all: async <T>() => ({ results: run<T[]>("all") }),
      run: async () => run("run"),
    };
  }
}

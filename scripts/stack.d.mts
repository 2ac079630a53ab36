import type { Miniflare } from "miniflare";

export declare const ROOT: string;
export declare function buildWorker(outdir?: string): Promise<string>;
export interface Stack {
  url: string;
  wsUrl: string;
  mf: Miniflare;
  /** Migrations applied at this start, and demo subscribers seeded (0 when the table had rows). */
  database: { applied: string[]; seeded: number };
  stop(): Promise<void>;
}
export declare function readMigrations(dir?: string): Promise<{ name: string; sql: string }[]>;
export declare function prepareDatabase(
  db: import("../src/provisioning/db.ts").SqlDatabase,
  options?: { seed?: boolean; domain?: string },
): Promise<{ applied: string[]; seeded: number }>;
export declare function startStack(options?: {
  port?: number;
  host?: string;
  stateDir?: string;
  vars?: Record<string, string>;
  build?: boolean;
  seed?: boolean;
  outdir?: string;
  log?: unknown;
}): Promise<Stack>;

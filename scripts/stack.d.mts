import type { ChildProcess } from "node:child_process";
import type { Miniflare } from "miniflare";

export declare const ROOT: string;
export declare function buildWorker(outdir?: string, entry?: string): Promise<string>;

export interface BridgeOptions {
  /** UDP address to bind, `ip:port` (default 127.0.0.1:5060; port 0 = any). */
  listen?: string;
  id?: string;
  /** What of the bridge's log is passed on (default warn). */
  logLevel?: "debug" | "info" | "warn" | "error";
  extraArgs?: string[];
  /** Resolve only once this many shard links are up (startStack passes CONNECTION_SHARDS). */
  shards?: number;
  /** Extra environment of the bridge process (e.g. NODE_EXTRA_CA_CERTS for a test CA). */
  env?: Record<string, string>;
  /** startStack only: restart the bridge whenever it dies (scripts/supervise.mjs), as npm start does. */
  supervise?: boolean;
  /** With `supervise`: hears of each exit (a crash, a kill) and each restart. */
  onExit?: (info: { code: number | null; signal: string | null; error?: string }) => void;
  onRestart?: (info: { restarts: number; pid: number | undefined }) => void;
}

export interface BridgeProcess {
  /** The bound UDP address, `ip:port`. */
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface Stack {
  url: string;
  wsUrl: string;
  mf: Miniflare;
  /** Migrations applied at this start; demo subscribers and dispatcher rows seeded (0 when present). */
  database: { applied: string[]; seeded: number; dispatcher: number };
  /** The bridge child process, when started with `bridge`. */
  bridge?: BridgeProcess;
  bridgeSecret: string;
  /** Open bridge links summed over the shards, and the shard count. */
  bridgeLinks(): Promise<{ up: number; shards: number }>;
  stop(): Promise<void>;
}
export declare function readMigrations(dir?: string): Promise<{ name: string; sql: string }[]>;
export declare function prepareDatabase(
  db: import("../src/provisioning/db.ts").SqlDatabase,
  options?: { seed?: boolean; domain?: string; dispatcherList?: string },
): Promise<{ applied: string[]; seeded: number; dispatcher: number }>;
export declare function startBridge(options: BridgeOptions & { edgeUrl: string; secret: string }): Promise<BridgeProcess>;
export declare function startStack(options?: {
  port?: number;
  host?: string;
  stateDir?: string;
  vars?: Record<string, string>;
  build?: boolean;
  seed?: boolean;
  outdir?: string;
  /** A Worker entry of one's own (relative to the repository) instead of wrangler.toml's `main`. */
  entry?: string;
  log?: unknown;
  bridge?: boolean | BridgeOptions;
  /** Path of the dispatcher list seeded into an empty table (default config/dispatcher.list). */
  dispatcherList?: string;
  /** PEM key and certificate: the edge serves https and wss. */
  tls?: { key: string; cert: string };
  /** Open workerd's DevTools inspector on this loopback port (profiling). */
  inspectorPort?: number;
  /** Apply migrations and seed (default true); false for a restart on a state directory prepared before. */
  prepare?: boolean;
}): Promise<Stack>;

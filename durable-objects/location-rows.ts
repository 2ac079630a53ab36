/**
 * The Location object's SQLite: its schema (forward-only migrations, Kamailio's location columns)
 * and how a binding becomes a row and back.
 */
import type { Binding } from "../src/modules/registrar/index.ts";

// Kamailio location columns where they exist; times are ms since the epoch.
const BINDING_COLUMNS_SQL = `
  key TEXT PRIMARY KEY,
  aor TEXT NOT NULL,
  contact TEXT NOT NULL,
  expires INTEGER NOT NULL,
  q REAL NOT NULL,
  callid TEXT NOT NULL,
  cseq INTEGER NOT NULL,
  instance TEXT,
  reg_id INTEGER,
  path TEXT,
  received TEXT,
  flow_token TEXT,
  user_agent TEXT,
  last_modified INTEGER NOT NULL`;

/**
 * The tables, keyed by their primary key alone (WITHOUT ROWID): a table with a rowid keeps its
 * primary key as a second index, so each insert or delete wrote two rows, and storage is billed
 * per row written (test/workers/rows-written.test.ts).
 */
const tables = (suffix: string): string[] => [
  `CREATE TABLE meta${suffix} (key TEXT PRIMARY KEY, value) WITHOUT ROWID`,
  `CREATE TABLE binding${suffix} (${BINDING_COLUMNS_SQL}) WITHOUT ROWID`,
];

/** Schema 1 (until round 15), as objects that registered before then still hold it. */
export const SCHEMA_1: readonly string[] = [
  "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)",
  `CREATE TABLE IF NOT EXISTS binding (${BINDING_COLUMNS_SQL})`,
];

/**
 * Forward-only upgrades of this object's SQLite, indexed by the version they create; an object's
 * first registration creates the latest schema at once (`FRESH_SCHEMA`). 2: both tables rebuilt
 * WITHOUT ROWID with their rows (SQLite cannot change that in place).
 */
export const MIGRATIONS: readonly (readonly string[])[] = [
  [],
  SCHEMA_1,
  [
    ...tables("_v2"),
    "INSERT INTO meta_v2 (key, value) SELECT key, value FROM meta",
    "INSERT INTO binding_v2 SELECT * FROM binding",
    "DROP TABLE meta",
    "DROP TABLE binding",
    "ALTER TABLE meta_v2 RENAME TO meta",
    "ALTER TABLE binding_v2 RENAME TO binding",
  ],
];
export const SCHEMA_VERSION = MIGRATIONS.length - 1;
/** What an object that never registered creates: the schema SCHEMA_VERSION describes. */
export const FRESH_SCHEMA: readonly string[] = tables("");

/**
 * A binding's identity in its AOR, as the registrar matches it (RFC 5626 §6: instance and
 * reg-id; RFC 3261 §10.3: the Contact URI).
 */
export function keyOf(b: Binding): string {
  return b.instance === undefined ? `c:${b.contact}` : `i:${b.instance};${b.regId ?? ""}`;
}

/** The times a refresh changes: equal means the stored row is current. */
export function sameTimes(a: Binding, b: Binding): boolean {
  return a.expires === b.expires && a.cseq === b.cseq && a.callId === b.callId && a.lastModified === b.lastModified;
}

export type Row = Record<string, SqlStorageValue>;

export function str(v: SqlStorageValue | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function bindingOf(r: Row): Binding {
  const b: Binding = {
    aor: String(r["aor"]),
    contact: String(r["contact"]),
    expires: Number(r["expires"]),
    q: Number(r["q"]),
    callId: String(r["callid"]),
    cseq: Number(r["cseq"]),
    lastModified: Number(r["last_modified"]),
  };
  const instance = str(r["instance"]);
  if (instance !== undefined) b.instance = instance;
  if (typeof r["reg_id"] === "number") b.regId = r["reg_id"];
  const path = str(r["path"]);
  if (path !== undefined) b.path = JSON.parse(path) as string[];
  const received = str(r["received"]);
  if (received !== undefined) b.received = received;
  const flowToken = str(r["flow_token"]);
  if (flowToken !== undefined) b.flowToken = flowToken;
  const userAgent = str(r["user_agent"]);
  if (userAgent !== undefined) b.userAgent = userAgent;
  return b;
}

const BINDING_COLUMNS = ["key", "aor", "contact", "expires", "q", "callid", "cseq", "instance", "reg_id", "path", "received", "flow_token", "user_agent", "last_modified"] as const;
/**
 * An upsert, not `INSERT OR REPLACE`: a refresh then updates the row in place, which the platform
 * bills as one row written, where a replace deletes and inserts it again, its primary-key index
 * entry too (two rows; counted in test/workers/rows-written.test.ts).
 */
const WRITE_BINDING = `INSERT INTO binding (${BINDING_COLUMNS.join(", ")}) VALUES (${BINDING_COLUMNS.map(() => "?").join(", ")})
  ON CONFLICT (key) DO UPDATE SET ${BINDING_COLUMNS.slice(1).map((c) => `${c} = excluded.${c}`).join(", ")}`;

/** Stores a binding under its key (a refresh updates the row it refreshes); returns the rows written. */
export function writeBinding(sql: SqlStorage, b: Binding): number {
  return sql.exec(
    WRITE_BINDING,
    keyOf(b),
    b.aor,
    b.contact,
    b.expires,
    b.q,
    b.callId,
    b.cseq,
    b.instance ?? null,
    b.regId ?? null,
    b.path === undefined ? null : JSON.stringify(b.path),
    b.received ?? null,
    b.flowToken ?? null,
    b.userAgent ?? null,
    b.lastModified,
  ).rowsWritten;
}

/**
 * The `subscriber` table (Kamailio auth_db columns, migrations/0001_init.sql): validating rows,
 * computing the HA1 columns from a password, upserting in bulk, listing for the admin API.
 */
import { computeHa1 } from "../modules/auth/digest.ts";
import { col, jsonChunks, type SqlDatabase, type SqlStatement } from "./db.ts";

/** A subscriber as stored; every column is NOT NULL DEFAULT '' in the schema. */
export interface SubscriberRow {
  username: string;
  domain: string;
  password: string;
  ha1: string;
  ha1b: string;
  ha1_sha256: string;
  /**
   * The caller ID presented to carriers, E.164 (migrations/0004_uac.sql). Undefined: not given,
   * so an upsert keeps the stored one (a subscriber file without the column changes no number).
   */
  rpid?: string;
}

/** A subscriber as an import file or the admin API gives it: a password, HA1s, or both. */
export interface SubscriberInput {
  username?: unknown;
  domain?: unknown;
  password?: unknown;
  ha1?: unknown;
  ha1b?: unknown;
  ha1_sha256?: unknown;
  rpid?: unknown;
}

export type RowCheck<T> = { ok: true; row: T } | { ok: false; field: string; reason: string };

const HEX32 = /^[0-9a-fA-F]{32}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;
// A SIP user part or domain as a column value: no blanks, no '@' (user) and at most 64
// characters (VARCHAR(64) in Kamailio's schema).
const USER = /^[^\s@:]{1,64}$/;
const DOMAIN = /^[^\s@:;]{1,64}$/;

function text(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : "";
}

/**
 * Checks a row and fills the HA1 columns Kamailio's auth_db reads: `ha1` =
 * MD5(username:realm:password), `ha1b` = MD5(username@domain:realm:password) and sipedge's
 * `ha1_sha256` (RFC 8760), with realm = domain as in Kamailio's own kamctl. A stored HA1 is kept
 * when it has the right form; one that does not (the seed's `xxx` placeholders) is recomputed
 * from the password, and is an error when there is no password.
 */
export function subscriberRow(input: SubscriberInput, defaultDomain: string): RowCheck<SubscriberRow> {
  const username = text(input.username);
  if (!USER.test(username)) return { ok: false, field: "username", reason: "missing, longer than 64 or containing blanks, '@' or ':'" };
  const domain = (text(input.domain) || defaultDomain).toLowerCase();
  if (!DOMAIN.test(domain)) return { ok: false, field: "domain", reason: "missing, longer than 64 or containing blanks" };
  const password = text(input.password);
  const row: SubscriberRow = { username, domain, password, ha1: text(input.ha1), ha1b: text(input.ha1b), ha1_sha256: text(input.ha1_sha256) };
  if (input.rpid !== undefined && input.rpid !== null) {
    const rpid = rpidOf(text(input.rpid));
    if (rpid === undefined) return { ok: false, field: "rpid", reason: "not an E.164 number (+ and up to 15 digits), a tel: or a sip: URI of one" };
    row.rpid = rpid;
  }
  const fills: ["ha1" | "ha1b" | "ha1_sha256", RegExp, () => string][] = [
    ["ha1", HEX32, () => computeHa1("MD5", username, domain, password)],
    ["ha1b", HEX32, () => computeHa1("MD5", `${username}@${domain}`, domain, password)],
    ["ha1_sha256", HEX64, () => computeHa1("SHA-256", username, domain, password)],
  ];
  for (const [field, form, compute] of fills) {
    if (form.test(row[field])) row[field] = row[field].toLowerCase();
    else if (password !== "") row[field] = compute();
    else if (row[field] !== "" || field === "ha1") return { ok: false, field, reason: `no password, and ${field} is not ${form === HEX32 ? 32 : 64} hex digits` };
  }
  return { ok: true, row };
}

const UPSERT = `INSERT INTO subscriber (username, domain, password, ha1, ha1b, ha1_sha256)
SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)} FROM json_each(?1) WHERE true
ON CONFLICT (username, domain) DO UPDATE SET
  password = excluded.password, ha1 = excluded.ha1, ha1b = excluded.ha1b, ha1_sha256 = excluded.ha1_sha256`;

const UPSERT_WITH_RPID = `INSERT INTO subscriber (username, domain, password, ha1, ha1b, ha1_sha256, rpid)
SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)} FROM json_each(?1) WHERE true
ON CONFLICT (username, domain) DO UPDATE SET
  password = excluded.password, ha1 = excluded.ha1, ha1b = excluded.ha1b, ha1_sha256 = excluded.ha1_sha256, rpid = excluded.rpid`;

/** `+4930123456`, `tel:+4930123456` or `sip:+4930123456@host` (Kamailio's rpid held URIs) as E.164; "" clears it. */
function rpidOf(value: string): string | undefined {
  if (value === "") return "";
  const m = /^(?:tel:|sips?:)?(\+[1-9][0-9]{1,14})(?:[@;].*)?$/i.exec(value.replace(/^<|>$/g, ""));
  return m?.[1];
}

/**
 * Statements that insert the rows, replacing an existing account (username, domain) so an
 * import can be repeated. Run them in one `batch` to make the import all or nothing.
 */
export function upsertSubscribers(db: SqlDatabase, rows: readonly SubscriberRow[]): SqlStatement[] {
  const without = rows.filter((r) => r.rpid === undefined);
  const withRpid = rows.filter((r) => r.rpid !== undefined);
  return [
    ...jsonChunks(db, UPSERT, without.map((r) => [r.username, r.domain, r.password, r.ha1, r.ha1b, r.ha1_sha256])),
    ...jsonChunks(db, UPSERT_WITH_RPID, withRpid.map((r) => [r.username, r.domain, r.password, r.ha1, r.ha1b, r.ha1_sha256, r.rpid])),
  ];
}

/** What the admin API shows of a subscriber: never the password or HA1s. */
export interface SubscriberSummary {
  id: number;
  username: string;
  domain: string;
  hasPassword: boolean;
  /** The caller ID presented to carriers ("" for none). */
  rpid: string;
}

export async function listSubscribers(db: SqlDatabase, options: { limit: number; after?: number; domain?: string }): Promise<SubscriberSummary[]> {
  const where = options.domain === undefined ? "id > ?1" : "id > ?1 AND domain = ?3";
  const stmt = db.prepare(`SELECT id, username, domain, password <> '' AS has_password, rpid FROM subscriber WHERE ${where} ORDER BY id LIMIT ?2`);
  const bound = options.domain === undefined ? stmt.bind(options.after ?? 0, options.limit) : stmt.bind(options.after ?? 0, options.limit, options.domain);
  const { results } = await bound.all<{ id: number; username: string; domain: string; has_password: number; rpid: string }>();
  return results.map((r) => ({ id: r.id, username: r.username, domain: r.domain, hasPassword: r.has_password === 1, rpid: r.rpid }));
}

export async function countSubscribers(db: SqlDatabase): Promise<number> {
  const row = await db.prepare("SELECT count(*) AS n FROM subscriber").first<{ n: number }>();
  return row?.n ?? 0;
}

/**
 * Calls from the `acc` rows (what Kamailio's `cdrs` procedures do over its acc table): an INVITE
 * row is one call attempt; an attempt answered 2xx is a call, which ends with the first BYE row of
 * its Call-ID. The side that hung up is the one whose tag is the BYE's From tag.
 */

/** An `acc` row as D1 returns it. */
export interface AccRow {
  id: number;
  method: string;
  from_tag: string;
  to_tag: string;
  callid: string;
  sip_code: string;
  sip_reason: string;
  time_ms: number;
  end_ms: number;
  src_user: string;
  src_domain: string;
  src_ip: string;
  dst_ouser: string;
  dst_user: string;
  dst_domain: string;
  dst: string;
  branches: string;
}

export interface CallAttempt {
  id: number;
  callId: string;
  caller: string;
  callee: string;
  /** ISO times: the INVITE's arrival and its final reply. */
  start: string;
  end: string;
  status: number;
  reason: string;
  gateway: string;
  setupMs: number;
  srcIp: string;
  branches: { uri: string; dst: string; status: number; timedOut: boolean }[];
}

export interface CompletedCall {
  callId: string;
  caller: string;
  callee: string;
  start: string;
  answer: string;
  /** Absent while the call is up (no BYE recorded yet). */
  end?: string;
  /** Seconds from answer to hang-up, ms precision; absent while the call is up. */
  duration?: number;
  status: number;
  gateway: string;
  hangup?: "caller" | "callee";
}

const iso = (ms: number): string => new Date(ms).toISOString();

function parseBranches(text: string): CallAttempt["branches"] {
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? (v as CallAttempt["branches"]) : [];
  } catch {
    return [];
  }
}

export function attemptOf(row: AccRow): CallAttempt {
  return {
    id: row.id,
    callId: row.callid,
    caller: row.src_user,
    callee: row.dst_ouser || row.dst_user,
    start: iso(row.time_ms),
    end: iso(row.end_ms),
    status: Number(row.sip_code),
    reason: row.sip_reason,
    gateway: row.dst,
    setupMs: row.end_ms - row.time_ms,
    srcIp: row.src_ip,
    branches: parseBranches(row.branches),
  };
}

/**
 * The reads of GET /admin/acc, here beside the indexes they need (migrations/0003 and 0005): the
 * attempts by arrival time (acc_time_idx, INVITE rows only), then the BYEs of the answered ones by
 * Call-ID (acc_callid_idx), so that a test can pin their query plans.
 */
export const ACC_INVITES_SQL = "SELECT * FROM acc WHERE method = 'INVITE' AND time_ms >= ? AND time_ms < ? ORDER BY time_ms LIMIT ?";

export function accByesSql(callIds: number): string {
  return `SELECT * FROM acc WHERE method = 'BYE' AND callid IN (${new Array<string>(callIds).fill("?").join(",")})`;
}

/** Attempts (every INVITE row) and calls (answered attempts with their first BYE). */
export function assembleCalls(invites: readonly AccRow[], byes: readonly AccRow[]): { attempts: CallAttempt[]; calls: CompletedCall[] } {
  const firstBye = new Map<string, AccRow>();
  for (const b of byes) {
    const seen = firstBye.get(b.callid);
    if (seen === undefined || b.time_ms < seen.time_ms) firstBye.set(b.callid, b);
  }
  const attempts = invites.map(attemptOf);
  const calls: CompletedCall[] = [];
  for (const row of invites) {
    const status = Number(row.sip_code);
    if (status < 200 || status >= 300) continue;
    const call: CompletedCall = {
      callId: row.callid,
      caller: row.src_user,
      callee: row.dst_ouser || row.dst_user,
      start: iso(row.time_ms),
      answer: iso(row.end_ms),
      status,
      gateway: row.dst,
    };
    const bye = firstBye.get(row.callid);
    if (bye !== undefined) {
      call.end = iso(bye.time_ms);
      call.duration = Math.max(0, bye.time_ms - row.end_ms) / 1000;
      call.hangup = bye.from_tag === row.from_tag ? "caller" : "callee";
    }
    calls.push(call);
  }
  return { attempts, calls };
}

const CSV_COLUMNS = ["callId", "caller", "callee", "start", "answer", "end", "duration", "status", "gateway", "hangup"] as const;

function csvField(value: unknown): string {
  const text = value === undefined || value === null ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** RFC 4180 CSV of calls, one per line, with a header line. */
export function callsCsv(calls: readonly CompletedCall[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const c of calls) lines.push(CSV_COLUMNS.map((k) => csvField(c[k])).join(","));
  return lines.join("\r\n") + "\r\n";
}

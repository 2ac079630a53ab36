/**
 * What the uac module needs from the object that runs the script: the provisioning tables (read
 * through per-isolate caches), a per-user call counter, and where refused calls are reported.
 */
import type { UserProfile } from "./caller-id.ts";
import type { TollRule } from "./toll.ts";
import type { UacRegRow } from "./uacreg.ts";

/** A call the toll-fraud limits refused: a log line now, a call record once accounting (acc) exists. */
export interface CallRefusal {
  callId: string;
  /** The caller's AOR (user@domain). */
  caller: string;
  /** As dialled, and as E.164 when it normalised. */
  dialled: string;
  e164?: string;
  rule: TollRule;
  status: number;
  reason: string;
}

export interface UacService {
  /** The `uacreg` rows (Kamailio loads them into memory too; here a per-isolate cache of D1). */
  rows(): Promise<readonly UacRegRow[]>;
  /** A subscriber's own numbers (`rpid`, DIDs) and groups (`grp`). */
  profile(user: string, domain: string): Promise<UserProfile>;
  /** Kamailio `alias_db_lookup("dbaliases")` for a DID: the local user an E.164 number belongs to. */
  did(e164: string): Promise<{ user: string; domain: string } | undefined>;
  /**
   * Counts one call to the PSTN for `aor` (Kamailio pipelimit, one pipe per user): false when it
   * would be more than `perMinute` in the last 60 s. Exact across shards: one counter per user.
   */
  takeCall(aor: string, perMinute: number): Promise<boolean>;
  /**
   * A call the limits refused. The shard logs it; accounting (src/modules/acc, Kamailio
   * `acc_db_request("403 ...")`) records it here too once it exists.
   */
  refused(record: CallRefusal): void;
}

import type { Source } from "../../routing/context.ts";
import type { AuthBlockRequest, AuthBlockVerdict } from "../htable/auth-block.ts";
import type { PikeVerdict } from "./pike.ts";

/**
 * What the object that owns the socket provides to pike and the ban tables: its per-connection
 * fast paths in front of the Guard object of each address (DESIGN.md §3: the Guard is asked only
 * when a connection's local budget for the unit is spent, or when a ban must be recorded).
 */
export interface GuardService {
  /** Counts one request from `source` (Kamailio `pike_check_req`). */
  checkReq(source: Source, now: number): Promise<PikeVerdict>;
  /**
   * `$sht(ipban=>$si) != $null` for a message over `source.transport`, from the shard's copy of
   * the bans it has seen: an all-transport ban, or for UDP also a UDP-only one.
   */
  isBanned(source: Pick<Source, "ip" | "transport">, now: number): boolean;
  /**
   * `$sht(ipban=>$si) = 1`: bans the address (IPv6: its /64) in its Guard for `IPBAN_EXPIRE`,
   * for UDP only when UDP traffic caused it (a forgeable source), else for every transport.
   */
  ban(source: Source): Promise<void>;
  /** Whether the source address has live auth failures (only then is `authBlockCheck` asked). */
  authWatched(ip: string): boolean | Promise<boolean>;
  /** The excessive-REGISTER rule's check, in the Guard of the source address. */
  authBlockCheck(request: AuthBlockRequest): Promise<AuthBlockVerdict>;
  /** Counts one failed digest check of `user` from `ip`. */
  authFailure(user: string, ip: string): Promise<void>;
}

/** The `ctx.pike` namespace: Kamailio pike over the message at hand (requests, and responses too). */
export class PikeScript {
  constructor(
    private readonly ctx: { readonly source: Source },
    private readonly guard: GuardService,
  ) {}

  /**
   * Kamailio `pike_check_req()`: `{ verdict: "ok" }`, or `flood` with `first` (return code -2
   * the first time, -1 after). Fails open: when the Guard cannot be asked, the connection's own
   * count decides.
   */
  checkReq(now = Date.now()): Promise<PikeVerdict> {
    return this.guard.checkReq(this.ctx.source, now);
  }
}

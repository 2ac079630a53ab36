import type { RequestContext } from "../../routing/context.ts";
import { isSipUri } from "../../sip/uri.ts";
import type { GuardService } from "../pike/script.ts";
import type { Source } from "../../routing/services.ts";
import type { AuthBlockVerdict } from "./auth-block.ts";

const ALLOW: AuthBlockVerdict = Object.freeze({ verdict: "allow" });

/**
 * The `ctx.htable` namespace: the two tables the shipped script uses, each living in the Guard
 * object of the source address (DESIGN.md §3), with the shard's cached view in front.
 *
 * - `ipban` (`$sht(ipban=>$si)`): `has()` reads the shard's cache (no hop); `set()` writes
 *   the ban in the Guard, scoped by transport (`ipban.ts`: UDP traffic bans UDP only).
 * - `authBlock` (the seed's `auth_block_list`): counters per user AND source address.
 */
export class HtableScript {
  readonly ipban: IpBanTable;
  readonly authBlock: AuthBlockTable;

  // Classes rather than objects of arrows: this is built for every request, and the bundle wraps
  // each named closure in a `__name` call (esbuild keep_names).
  constructor(ctx: RequestContext, guard: GuardService) {
    this.ipban = new IpBanTable(guard, ctx.source);
    this.authBlock = new AuthBlockTable(guard, ctx);
  }
}

/** `$sht(ipban=>$si)` for one source address (requests' and responses' contexts). */
export class IpBanTable {
  constructor(
    private readonly guard: GuardService,
    private readonly source: Source,
  ) {}

  has(): boolean {
    return this.guard.isBanned(this.source, Date.now());
  }

  set(): Promise<void> {
    return this.guard.ban(this.source);
  }
}

class AuthBlockTable {
  constructor(
    private readonly guard: GuardService,
    private readonly ctx: RequestContext,
  ) {}

  async check(): Promise<AuthBlockVerdict> {
    const { guard, ctx } = this;
    const ip = ctx.source.ip;
    // Addresses without live failures (nearly all) pay no hop: the Guard tells the shards
    // when an address gets its first failure.
    if (!(await guard.authWatched(ip))) return ALLOW;
    const ruri = ctx.msg.ruri();
    const ruriUser = isSipUri(ruri) ? ruri.user : ruri.scheme === "tel" && "number" in ruri ? ruri.number : undefined;
    return guard.authBlockCheck({ user: authUser(ctx), source: ip, ...(ruriUser === undefined ? {} : { ruriUser }) });
  }

  recordFailure(user: string): Promise<void> {
    return this.guard.authFailure(user, this.ctx.source.ip);
  }
}

/**
 * `$au` when the request carries digest credentials, else the user it would authenticate as (To
 * for REGISTER, From otherwise), so a blocked pair is refused without another challenge.
 */
export function authUser(ctx: RequestContext): string {
  const msg = ctx.msg;
  const credentials = msg.headers.get(msg.method === "REGISTER" ? "Authorization" : "Proxy-Authorization") ?? msg.headers.get("Authorization");
  if (credentials !== undefined) {
    const m = /username\s*=\s*"([^"]{0,256})"/i.exec(credentials);
    if (m) return (m[1] as string).toLowerCase();
  }
  const uri = msg.method === "REGISTER" ? msg.to().uri : msg.from().uri;
  return isSipUri(uri) && uri.user ? uri.user.toLowerCase() : "";
}

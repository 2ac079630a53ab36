import type { Config } from "../config.ts";
import type { Route } from "../routing/compose.ts";
import type { ReplyContext, RequestContext } from "../routing/context.ts";
import type { AuthFailure } from "../modules/auth/index.ts";
import { authUser } from "../modules/htable/script.ts";
import { compileScannerFilter, isScanner, type ScannerFilter } from "../modules/scanner/index.ts";

/**
 * The security part of route[REQINIT] (the seed's Kamailio SBC section), first in the shipped
 * script so abusive traffic costs as little as possible:
 *
 * ```
 * if (src_ip != myself && !trusted) {
 *     if ($sht(ipban=>$si) != $null) exit;                       # banned: drop silently
 *     if (!pike_check_req()) { $sht(ipban=>$si) = 1; exit; }      # flooding: ban and drop
 * }
 * if ($ua =~ "friendly-scanner|sipvicious|...") exit;             # scanners: drop
 * if (proto == UDP && is_method("REGISTER")) { sl_send_reply("403", "Forbidden"); exit; }
 * auth_block_list check before authentication (403 "Blocked Forbidden"), count after a failure
 * ```
 *
 * Registrations belong to WebSocket clients. Over UDP (the bridge) only gateways and trusted
 * peers reach the edge, and a UDP source can be spoofed: a REGISTER from any other UDP source is
 * refused before any digest, so a guesser is never given a nonce, and forged guesses cannot
 * feed the auth-failure block of a user at somebody else's address (a lock-out by spoofing).
 *
 * Never counted, banned or blocked: the proxy's own addresses (`is_myself`: SIP_DOMAIN and
 * SIP_ALIASES, the seed's `src_ip != myself`), dispatcher destinations reached through the bridge
 * (`ds_is_from_list`, matched on address and port), and permissions' address group 1 and
 * trusted peers. UDP sources can be spoofed, which is why a gateway is matched by port too.
 */
export const security: Route<RequestContext> = async (ctx, next) => {
  const guarded = ctx.has("guard") && !(await exempt(ctx));
  if (guarded) {
    if (ctx.htable.ipban.has()) {
      ctx.drop();
      return;
    }
    const pike = await ctx.pike.checkReq();
    if (pike.verdict === "flood") {
      if (pike.first) ctx.log.warn("pike blocking", { ip: ctx.source.ip, method: ctx.msg.method });
      await ctx.htable.ipban.set();
      ctx.drop();
      return;
    }
  }
  const userAgent = ctx.msg.headers.get("User-Agent");
  if (scannerFilter(ctx.config).isScanner(userAgent)) {
    // At most a unit's density of these per source before pike bans it (counted above).
    ctx.log.info("scanner dropped", { ip: ctx.source.ip, userAgent });
    ctx.drop();
    return;
  }
  if (guarded && ctx.source.transport === "udp" && ctx.msg.method === "REGISTER") {
    ctx.sl.sendReply(403, "Forbidden");
    return;
  }
  if (ctx.msg.method === "BYE" && ctx.config.security.maxCallsPerUser > 0 && ctx.has("calls")) ctx.callLimit.endOnBye();
  if (guarded && willAuthenticate(ctx)) {
    const block = await ctx.htable.authBlock.check();
    if (block.verdict === "block") {
      if (block.first) ctx.log.warn("auth block", { ip: ctx.source.ip, user: authUser(ctx) });
      ctx.sl.sendReply(block.status, block.reason);
      return;
    }
  }
  await next();
  const failure = ctx.authFailure;
  if (guarded && failure !== undefined && COUNTED.has(failure.code)) {
    await ctx.htable.authBlock.recordFailure(failure.username?.toLowerCase() ?? authUser(ctx));
  }
};

/**
 * A per-user cap on concurrent calls (`MAX_CALLS_PER_USER`, off by default), after the caller
 * authenticated: an initial INVITE beyond the cap gets 403 "Too Many Calls" (a final answer the
 * phone shows, not a 5xx that would send it to another proxy). Counted in the caller's Location
 * object, so it costs a hop per call; `routes/security.ts` ends the count on a BYE.
 */
export const callLimit: Route<RequestContext> = async (ctx, next) => {
  const limit = ctx.config.security.maxCallsPerUser;
  if (limit === 0 || !ctx.authenticated || ctx.msg.method !== "INVITE" || !ctx.has("calls") || ctx.msg.to().params.get("tag") !== undefined) return next();
  const verdict = await ctx.callLimit.start(limit);
  if (!verdict.ok) {
    ctx.log.info("call limit", { active: verdict.active, limit });
    ctx.sl.sendReply(403, "Too Many Calls");
    return;
  }
  await next();
};

/**
 * Failed guesses: a wrong password and an unknown user count alike (otherwise the block would
 * tell existing users from missing ones), and so do credentials too broken to check. A missing
 * or stale nonce is the protocol's normal first round, not a guess.
 */
const COUNTED: ReadonlySet<AuthFailure> = new Set<AuthFailure>(["invalid-password", "user-unknown", "malformed"]);

/** Requests that will meet a digest check: REGISTER, and anything carrying credentials. */
function willAuthenticate(ctx: RequestContext): boolean {
  const msg = ctx.msg;
  return msg.method === "REGISTER" || msg.headers.get("Proxy-Authorization") !== undefined || msg.headers.get("Authorization") !== undefined;
}

async function exempt(ctx: RequestContext): Promise<boolean> {
  if (ctx.trusted || ctx.isMyself(ctx.source.ip)) return true;
  if (ctx.source.transport === "udp" && ctx.has("dispatcher") && (await ctx.dispatcher.isFromList())) return true;
  if (!ctx.has("permissions")) return false;
  return (await ctx.permissions.allowSourceAddress(1)) || (await ctx.permissions.allowTrusted());
}

// Compiled once per configuration (SCANNER_USER_AGENTS is checked when the config is parsed).
const filters = new WeakMap<Config, ScannerFilter>();
const DEFAULT_FILTER: ScannerFilter = { source: "", isScanner };

function scannerFilter(config: Config): ScannerFilter {
  let filter = filters.get(config);
  if (filter === undefined) {
    const pattern = config.security.scannerPattern;
    const compiled = pattern === "" ? undefined : compileScannerFilter({ pattern });
    filter = compiled?.ok ? compiled.value : DEFAULT_FILTER;
    filters.set(config, filter);
  }
  return filter;
}

/**
 * The security part of the onreply route: responses count toward an address's pike rate like
 * requests (an answer to a request the proxy sent costs it as much to read), and a banned or
 * flooding address's responses are dropped. Gateways and the proxy's own addresses are exempt.
 * False: drop the response.
 */
export async function replySecurity(ctx: ReplyContext): Promise<boolean> {
  if (!ctx.has("guard") || ctx.isMyself(ctx.source.ip) || (await ctx.isFromGateway())) return true;
  if (ctx.ipban.has()) return false;
  const pike = await ctx.pike.checkReq();
  if (pike.verdict !== "flood") return true;
  if (pike.first) ctx.log.warn("pike blocking", { ip: ctx.source.ip, status: ctx.msg.status });
  await ctx.ipban.set();
  return false;
}

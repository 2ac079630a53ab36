/**
 * Liveness of client WebSockets (Kamailio websocket `keepalive_*`, nathelper SIP pinging). Pure
 * code: the clock is a parameter, so the rules run the same in a shard and in unit tests.
 *
 * workerd gives a server WebSocket no `bufferedAmount` and no way to send a protocol ping
 * (cloudflare/workerd#988): a peer that stops reading is invisible, and what the edge sends it
 * queues in the runtime. The only proof that a peer reads is an answer to something it had to
 * read, so the edge sends it an out-of-dialog OPTIONS (as nathelper's `sipping_from` does) and
 * closes the socket when no answer comes. A request from the peer is no proof: a deaf client
 * can keep sending.
 */
import { makeBranch, encodeOwner, verifiedOwner } from "../modules/tm/branch-id.ts";
import type { Signer } from "../util/signer.ts";

export interface KeepaliveConfig {
  /** WS_KEEPALIVE_INTERVAL in ms; 0: no pings. */
  intervalMs: number;
  /** WS_KEEPALIVE_TIMEOUT in ms: how long a ping waits for its answer. */
  timeoutMs: number;
  /** WS_IDLE_TIMEOUT in ms: how long a socket may stay open without its first SIP message; 0: forever. */
  idleMs: number;
}

/** What the shard knows about one client socket when it sweeps. */
export interface Liveness {
  connectedAt: number;
  /** The first complete SIP message from the peer (kept in the socket's attachment). */
  firstAt: number | undefined;
  /**
   * The latest complete SIP message from the peer, in memory only: undefined when the object
   * woke from hibernation since (then nothing was sent since it woke).
   */
  seenAt: number | undefined;
  /** The latest RFC 5626 CRLF keep-alive the runtime answered for the peer. */
  keepaliveAt: number | undefined;
  /** The latest answer to a ping (attachment). */
  provenAt: number | undefined;
  /** The outstanding ping, if any (attachment). */
  pingedAt: number | undefined;
}

export type CloseReason = "keepalive-timeout" | "idle";
export type Verdict = { action: "none" } | { action: "ping" } | { action: "close"; reason: CloseReason };

const NONE: Verdict = { action: "none" };
const PING: Verdict = { action: "ping" };

/** WebSocket close codes (RFC 6455 §7.4.2: 4000-4999 are for applications). */
export const CLOSE_CODES: Record<CloseReason, { code: number; reason: string }> = {
  "keepalive-timeout": { code: 4408, reason: "keep-alive timeout: no answer to OPTIONS" },
  idle: { code: 4408, reason: "idle: no SIP message" },
};

/**
 * The rules, in order:
 * 1. A socket that has sent no SIP message within `idleMs` of opening is closed (it never
 *    registered, or trickles a frame that never completes: JavaScript sees no partial frame).
 *    It is never pinged: a ping answer would keep a socket alive that does nothing else.
 * 2. A ping without an answer for `timeoutMs` closes the socket.
 * 3. A socket whose last proof of reading (a ping answer, else its opening) is `intervalMs` old
 *    is pinged when it sent SIP messages since (the edge wrote it replies: does it read them?)
 *    or when it has been silent, keep-alives included, for `intervalMs` (is it there at all?).
 *    A client that only sends CRLF keep-alives after its last proof is left alone: the runtime
 *    answers them, and RFC 5626 §4.4.1 makes the client judge its flow by the pongs.
 */
export function judge(s: Liveness, cfg: KeepaliveConfig, now: number): Verdict {
  if (s.firstAt === undefined) {
    return cfg.idleMs > 0 && now - s.connectedAt >= cfg.idleMs ? { action: "close", reason: "idle" } : NONE;
  }
  if (cfg.intervalMs === 0) return NONE;
  // Only the answer clears a ping: a deaf client can send CRLF keep-alives as well as requests.
  if (s.pingedAt !== undefined) return now - s.pingedAt >= cfg.timeoutMs ? { action: "close", reason: "keepalive-timeout" } : NONE;
  const proven = s.provenAt ?? s.connectedAt;
  if (now - proven < cfg.intervalMs) return NONE;
  if (s.seenAt !== undefined && s.seenAt > proven) return PING;
  const heard = Math.max(proven, s.firstAt, s.seenAt ?? 0, s.keepaliveAt ?? 0);
  return now - heard >= cfg.intervalMs ? PING : NONE;
}

/** When the socket next needs a look, for the shard's alarm; undefined: only at the next interval. */
export function nextLook(s: Liveness, cfg: KeepaliveConfig): number | undefined {
  if (s.firstAt === undefined) return cfg.idleMs > 0 ? s.connectedAt + cfg.idleMs : undefined;
  if (s.pingedAt !== undefined) return s.pingedAt + cfg.timeoutMs;
  return undefined;
}

/**
 * The branch marker of a ping, in the loop-hash field of the proxy's branch (branch-id.ts); "~"
 * never occurs in a loop hash (base 36), so no transaction's branch can look like a ping's.
 */
const PING_MARK = "~ka";

/**
 * A ping's Via branch: the proxy's signed branch format with the shard as owner, so it reads as
 * the proxy's own everywhere; the flow's id and the time of the ping make it unique and let the
 * answer find its socket and its ping without any table (the object may have hibernated since).
 */
export function pingBranch(flow: string, pingedAt: number, signer: Signer): string {
  const dot = flow.indexOf(".");
  return makeBranch(encodeOwner(flow.slice(0, dot)), PING_MARK, flow.slice(dot + 1), pingedAt.toString(36), signer);
}

/** The flow and ping an answer belongs to, when `branch` is a ping branch this deployment signed. */
export function pingOf(branch: string | undefined, signer: Signer): { flow: string; pingedAt: number } | undefined {
  if (branch === undefined || branch.indexOf(`.${PING_MARK}.`) === -1) return undefined; // cheap test before the MAC
  const owner = verifiedOwner(branch, signer);
  if (owner === undefined) return undefined;
  const parts = branch.split(".");
  if (parts.length !== 5 || parts[1] !== PING_MARK) return undefined;
  return { flow: `${owner}.${parts[2]}`, pingedAt: parseInt(parts[3] ?? "", 36) };
}

export interface PingParams {
  flow: string;
  branch: string;
  /** nathelper `sipping_from`: sip:pinger@<SIP_DOMAIN>. */
  from: string;
  /** The Request-URI: an AOR registered over the flow, else the domain (the shard keeps no contact URI). */
  uri: string;
  /** How the client connected: the Via says WS or WSS (RFC 7118 §5). */
  transport: "ws" | "wss";
  host: string;
  serverHeader: string;
}

/** The OPTIONS a socket is pinged with; its own Call-ID and From tag, out of any dialog. */
export function pingRequest(p: PingParams): string {
  const tag = p.branch.slice(-10);
  return [
    `OPTIONS ${p.uri} SIP/2.0`,
    `Via: SIP/2.0/${p.transport === "wss" ? "WSS" : "WS"} ${p.host};branch=${p.branch}`,
    "Max-Forwards: 70",
    `From: <${p.from}>;tag=${tag}`,
    `To: <${p.uri}>`,
    `Call-ID: ${p.branch}`,
    "CSeq: 1 OPTIONS",
    `User-Agent: ${p.serverHeader}`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

import type { Logger } from "../src/log.ts";
import type { SipResponse } from "../src/sip/message.ts";
import { formatHostPort, type HostPort } from "../src/transport/bridge.ts";

/** One keepalive a shard sends through its bridge link. */
export interface Probe {
  uri: string;
  /** Where the bridge sends it: `host:port`. */
  dst: string;
  /** From URI of the OPTIONS (Kamailio `ds_ping_from`, or the destination's `ping_from` attr). */
  from: string;
}

export interface ProbeResult {
  uri: string;
  /** 408 when nothing came back within the probe timeout while the bridge was alive. */
  status: number;
  latencyMs: number;
  /** The bridge link closed, or its bridge did not answer its ping, before an answer: no verdict on the destination (status 0). */
  lost?: boolean;
  /**
   * Lost because the bridge did not answer its ping: which bridge, and when the ping went. Its
   * links in the other shards opened before then are as dead (the Dispatcher object has them closed).
   */
  frozen?: { bridge: string; since: number };
}

const PROBE_PREFIX = "z9hG4bKds";
/** Close code for a link whose bridge left a liveness ping unanswered (it dials in again when it wakes). */
export const UNRESPONSIVE_CLOSE = 4408;

/** What a keepalive round needs of the link it goes through. */
export interface ProbeLink {
  ws: WebSocket;
  bridge: string;
  advertise: HostPort;
  /** The bridge answers `ping` control frames (its hello said `pong: true`). */
  pong: boolean;
  out: { datagram(dst: string, message: string): void; control(json: string): void };
}

interface Pending {
  uri: string;
  sentAt: number;
  ws: WebSocket;
  done: (r: ProbeResult) => void;
}

/**
 * The Dispatcher object's OPTIONS keepalives through one bridge link, and whether that bridge is
 * alive. A keepalive that stays silent says "408" about its gateway only if the bridge that was
 * to carry it is known to be running: each round also sends the bridge a `ping` control frame,
 * which a bridge answers at once from its event loop. When the probe timeout passes without the
 * `pong`, the bridge is frozen (SIGSTOP, a paused VM, a host without power: its socket still looks
 * open), so the round's keepalives end as `lost` (no verdict on any gateway) and the link is
 * closed, so that calls leave through another bridge and the frozen one dials in again when it
 * wakes. Bridges whose hello did not offer `pong` are probed as before (silence counts as 408).
 */
export class LinkProbes {
  private readonly pending = new Map<string, Pending>();
  /** Liveness pings waiting for their pong, by id. */
  private readonly pings = new Map<string, () => void>();

  constructor(
    private readonly log: Logger,
    private readonly close: (ws: WebSocket, code: number, reason: string) => void,
  ) {}

  /**
   * Sends each probe through `link`; resolves with every status: the reply's, 408 for those that
   * stayed silent for `timeoutMs` while the bridge answered its ping, `lost` for those whose link
   * closed or whose bridge did not answer.
   */
  async round(link: ProbeLink, probes: Probe[], timeoutMs: number, shard: string): Promise<ProbeResult[]> {
    const alive = link.pong ? this.ping(link, timeoutMs) : undefined;
    const results = await Promise.all(probes.map((p) => this.one(link, p, timeoutMs, shard, alive)));
    if (alive !== undefined && !alive.answered && link.ws.readyState === WebSocket.OPEN) {
      this.log.warn("bridge link unresponsive: closed", { bridge: link.bridge, timeoutMs });
      this.close(link.ws, UNRESPONSIVE_CLOSE, "bridge unresponsive");
    }
    return results;
  }

  /** A reply to one of our keepalives: consumed here (true), else the caller routes it. */
  reply(response: SipResponse): boolean {
    const branch = response.topVia().branch ?? "";
    if (!branch.startsWith(PROBE_PREFIX)) return false;
    const probe = this.pending.get(branch);
    if (probe && response.status >= 200) probe.done({ uri: probe.uri, status: response.status, latencyMs: Date.now() - probe.sentAt });
    return true;
  }

  /** A `pong` control frame from a bridge. */
  pong(body: Record<string, unknown>): void {
    const id = body["id"];
    if (typeof id === "string") this.pings.get(id)?.();
  }

  /** A link closed: its keepalives end at once as lost (a bridge's death says nothing about its gateways). */
  lostWith(ws: WebSocket): void {
    for (const probe of [...this.pending.values()]) {
      if (probe.ws === ws) probe.done({ uri: probe.uri, status: 0, latencyMs: Date.now() - probe.sentAt, lost: true });
    }
  }

  private ping(link: ProbeLink, timeoutMs: number): { answered: boolean; since: number } {
    const state = { answered: false, since: Date.now() };
    const id = crypto.randomUUID();
    const timer = setTimeout(() => this.pings.delete(id), timeoutMs + 1000);
    this.pings.set(id, () => {
      state.answered = true;
      clearTimeout(timer);
      this.pings.delete(id);
    });
    link.out.control(JSON.stringify({ type: "ping", id }));
    return state;
  }

  private one(link: ProbeLink, p: Probe, timeoutMs: number, shard: string, alive: { answered: boolean; since: number } | undefined): Promise<ProbeResult> {
    return new Promise<ProbeResult>((resolve) => {
      const branch = `${PROBE_PREFIX}${shard}x${crypto.randomUUID().replaceAll("-", "")}`;
      const sentAt = Date.now();
      const silent = (): ProbeResult =>
        alive === undefined || alive.answered
          ? { uri: p.uri, status: 408, latencyMs: timeoutMs }
          : { uri: p.uri, status: 0, latencyMs: Date.now() - sentAt, lost: true, frozen: { bridge: link.bridge, since: alive.since } };
      const timer = setTimeout(() => finish(silent()), timeoutMs);
      const finish = (r: ProbeResult) => {
        clearTimeout(timer);
        this.pending.delete(branch);
        resolve(r);
      };
      this.pending.set(branch, { uri: p.uri, sentAt, ws: link.ws, done: finish });
      link.out.datagram(p.dst, keepalive(p, formatHostPort(link.advertise), branch));
    });
  }
}

function keepalive(p: Probe, via: string, branch: string): string {
  return [
    `OPTIONS ${p.uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${via};branch=${branch};rport`,
    "Max-Forwards: 70",
    `From: <${p.from}>;tag=${branch.slice(-10)}`,
    `To: <${p.uri}>`,
    `Call-ID: ${branch}`,
    "CSeq: 1 OPTIONS",
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

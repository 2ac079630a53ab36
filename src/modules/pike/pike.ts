import { pikeKey } from "./key.ts";

/**
 * Flood detection per source address, with the semantics of Kamailio's pike module:
 * requests are counted per `sampling_time_unit`; an address that sends more than
 * `reqs_density_per_unit` in a unit turns "red" (flooding) and stays red until a whole unit
 * passes at or under the limit; its counter is forgotten after `remove_latency` without
 * traffic. Pike only reports; the route script decides (the shipped one bans through htable).
 *
 * Kamailio's tree of address bytes needs between x and 3x (IPv4) hits before an address can
 * turn red, because inner nodes must be "expanded" first. sipedge keys a map by the whole
 * address (IPv6: its /64), so the limit is exactly x per unit; the README documents this.
 */

export interface PikeOptions {
  /** Seconds per sampling unit. Kamailio default 2. */
  readonly samplingTimeUnit?: number;
  /** Requests allowed per unit before flagging; 0 turns pike off. Kamailio default 30. */
  readonly reqsDensityPerUnit?: number;
  /** Seconds without traffic after which an address's counters are dropped. Default 120. */
  readonly removeLatency?: number;
  /** Upper bound on tracked addresses; the least recently seen are dropped first. */
  readonly maxNodes?: number;
}

/**
 * The verdict of `checkReq`; Kamailio's `pike_check_req` return codes are
 * ok → 1, flood with `first: true` → -2 (newly detected), flood with `first: false` → -1.
 */
export type PikeVerdict = { readonly verdict: "ok" } | { readonly verdict: "flood"; readonly first: boolean };

export type PikeNodeStatus = "ok" | "warm" | "hot";

export interface PikeNodeInfo {
  readonly key: string;
  readonly previousUnitHits: number;
  readonly currentUnitHits: number;
  readonly status: PikeNodeStatus;
  readonly lastSeen: number;
}

interface PikeNode {
  /** Index of the sampling unit `curr` counts: floor(time / unit length). */
  unit: number;
  prev: number;
  curr: number;
  red: boolean;
  lastSeen: number;
}

const OK: PikeVerdict = Object.freeze({ verdict: "ok" });
const FLOOD_FIRST: PikeVerdict = Object.freeze({ verdict: "flood", first: true });
const FLOOD_AGAIN: PikeVerdict = Object.freeze({ verdict: "flood", first: false });

export const PIKE_DEFAULTS = Object.freeze({
  samplingTimeUnit: 2,
  reqsDensityPerUnit: 30,
  removeLatency: 120,
  maxNodes: 65_536,
});

/** Kamailio's numeric return code for a verdict (for logs and parity tests). */
export function pikeReturnCode(v: PikeVerdict): 1 | -1 | -2 {
  if (v.verdict === "ok") return 1;
  return v.first ? -2 : -1;
}

export class Pike {
  readonly unitMs: number;
  readonly density: number;
  readonly removeLatencyMs: number;
  readonly maxNodes: number;
  private readonly nodes = new Map<string, PikeNode>();
  private nextSweep = 0;

  constructor(options: PikeOptions = {}) {
    const unit = options.samplingTimeUnit ?? PIKE_DEFAULTS.samplingTimeUnit;
    this.unitMs = Math.max(1, unit) * 1000;
    this.density = Math.max(0, options.reqsDensityPerUnit ?? PIKE_DEFAULTS.reqsDensityPerUnit);
    // Never below the two units the counters span: forgetting sooner would reset a flood.
    const latency = (options.removeLatency ?? PIKE_DEFAULTS.removeLatency) * 1000;
    this.removeLatencyMs = Math.max(latency, 2 * this.unitMs);
    this.maxNodes = Math.max(1, options.maxNodes ?? PIKE_DEFAULTS.maxNodes);
  }

  get size(): number {
    return this.nodes.size;
  }

  /**
   * Counts `hits` requests (default 1; a connection's fast path reports its batched hits) from
   * `ip` at time `now` (ms) and says whether the address floods.
   */
  checkReq(ip: string, now: number, hits = 1): PikeVerdict {
    if (this.density === 0) return OK;
    if (now >= this.nextSweep) this.sweep(now);
    const key = pikeKey(ip);
    const unit = Math.floor(now / this.unitMs);
    let node = this.nodes.get(key);
    if (node === undefined || now - node.lastSeen >= this.removeLatencyMs) {
      if (node === undefined && this.nodes.size >= this.maxNodes) this.evictOldest();
      node = { unit, prev: 0, curr: 0, red: false, lastSeen: now };
      this.nodes.delete(key);
      this.nodes.set(key, node);
    } else {
      this.roll(node, unit);
      // Re-inserting keeps the map in last-seen order, so eviction drops the stalest first.
      this.nodes.delete(key);
      this.nodes.set(key, node);
    }
    // Hits are counted in the unit they were made in: a shard's batch made at the end of a unit
    // can reach the Guard after the next began (counted there, with the next unit's own batch on
    // top, it flagged an address sending ~60 % of the density). One unit late counts in `prev`;
    // older than that, the unit is no longer kept.
    if (unit === node.unit) node.curr += hits;
    else if (unit === node.unit - 1) node.prev += hits;
    node.lastSeen = Math.max(node.lastSeen, now);
    if (node.curr <= this.density && node.prev <= this.density) return OK;
    if (node.red) return FLOOD_AGAIN;
    node.red = true;
    return FLOOD_FIRST;
  }

  /** Whether `ip` is currently flagged, without counting a request. */
  isRed(ip: string, now: number): boolean {
    const node = this.nodes.get(pikeKey(ip));
    if (node === undefined || now - node.lastSeen >= this.removeLatencyMs) return false;
    this.roll(node, Math.floor(now / this.unitMs));
    return node.red;
  }

  /** Like Kamailio's `pike.top`: nodes with their counters, hottest first. */
  top(now: number, filter: "hot" | "warm" | "all" = "hot"): PikeNodeInfo[] {
    const out: PikeNodeInfo[] = [];
    const unit = Math.floor(now / this.unitMs);
    for (const [key, node] of this.nodes) {
      if (now - node.lastSeen >= this.removeLatencyMs) continue;
      this.roll(node, unit);
      const status = this.status(node);
      if (filter === "hot" && status !== "hot") continue;
      if (filter === "warm" && status === "ok") continue;
      out.push({ key, previousUnitHits: node.prev, currentUnitHits: node.curr, status, lastSeen: node.lastSeen });
    }
    return out.sort((a, b) => b.previousUnitHits + b.currentUnitHits - (a.previousUnitHits + a.currentUnitHits));
  }

  /** Drops nodes idle for `remove_latency`; runs by itself at most once per sampling unit. */
  sweep(now: number): number {
    let removed = 0;
    for (const [key, node] of this.nodes) {
      if (now - node.lastSeen < this.removeLatencyMs) break; // map is in last-seen order
      this.nodes.delete(key);
      removed++;
    }
    this.nextSweep = now + this.unitMs;
    return removed;
  }

  /** Forgets one address (admin unblock) or all of them. */
  reset(ip?: string): void {
    if (ip === undefined) this.nodes.clear();
    else this.nodes.delete(pikeKey(ip));
  }

  private status(node: PikeNode): PikeNodeStatus {
    if (node.red) return "hot";
    const half = this.density / 2;
    return node.curr > half || node.prev > half ? "warm" : "ok";
  }

  /**
   * Advances a node to `unit`. Kamailio's timer shifts the counters once per unit and clears
   * the red flag at the first shift whose finished unit stayed under the limit ("An IP is
   * unblocked next occurrence of sampling_time_unit that does not exceed
   * reqs_density_per_unit"); doing it on access gives the same answers without a timer.
   */
  /** Moves the node's counters on to `unit`; never back (a late report, another object's clock). */
  private roll(node: PikeNode, unit: number): void {
    if (unit <= node.unit) return;
    node.prev = unit === node.unit + 1 ? node.curr : 0;
    node.curr = 0;
    node.unit = unit;
    if (node.red && node.prev <= this.density) node.red = false;
  }

  private evictOldest(): void {
    for (const key of this.nodes.keys()) {
      this.nodes.delete(key);
      return;
    }
  }
}

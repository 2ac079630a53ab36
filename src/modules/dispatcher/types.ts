/**
 * The destination-set model every loader produces (dispatcher.list, D1 rows, db_text) and
 * every algorithm reads. Kamailio's dispatcher is the reference for field meanings.
 */

/**
 * "probing" is the seed's (OpenSIPS') third state: down and being pinged to come back, which
 * Kamailio shows as "IP". Kamailio's separate probing bit (flag 8, "AP" = active and pinged)
 * is `Destination.probe`. Only "active" and "trying" destinations are selected.
 */
export type DestinationState = "active" | "inactive" | "probing" | "disabled" | "trying";

/** Kamailio list/DB flags (dispatcher docs, "Destination List File"). */
export const DS_INACTIVE_DST = 1;
export const DS_TRYING_DST = 2;
export const DS_DISABLED_DST = 4;
export const DS_PROBING_DST = 8;
export const DS_NODNSARES_DST = 16;

/** Special attributes with their Kamailio meaning; `all` keeps every key=value for the route script. */
export interface Attrs {
  /** the raw attrs string as loaded */
  readonly body: string;
  /** call-load identity (algorithm 10) */
  readonly duid?: string;
  /** active-call limit for algorithm 10; 0 = no limit */
  readonly maxload: number;
  /** percent of calls for algorithm 9; 1..100, anything else is 0 (ignored) */
  readonly weight: number;
  /** relative weight for algorithm 11; 1..100, anything else is 0 (excluded) */
  readonly rweight: number;
  /** congestion control for algorithm 11 (cc=1): weight lowered by estimated congestion ms */
  readonly cc: boolean;
  readonly socket?: string;
  readonly sockname?: string;
  readonly pingFrom?: string;
  readonly obproxy?: string;
  /** initial latency estimate in ms */
  readonly latency?: number;
  readonly all: Readonly<Record<string, string>>;
}

export interface Destination {
  readonly uri: string;
  readonly host: string;
  /** explicit port, or the scheme default (5060 sip, 5061 sips) */
  readonly port: number;
  readonly transport?: string;
  /** Kamailio flags as loaded (1 inactive, 2 trying, 4 disabled, 8 probing, 16 no DNS) */
  readonly flags: number;
  readonly priority: number;
  readonly attrs: Attrs;
  readonly description?: string;
  /** mutable: changed by markDst, probing and the admin API */
  state: DestinationState;
  /** mutable: Kamailio's probing bit, keepalives are sent (the "P" in "AP") */
  probe: boolean;
  /** mutable: consecutive failures (towards inactive) or successes (towards active) */
  failures: number;
  successes: number;
  /** mutable: latency statistics from keepalive replies (ds_ping_latency_stats) */
  latency?: LatencyStats;
}

export interface LatencyStats {
  count: number;
  /** running mean in ms */
  average: number;
  /** sum of squared deviations (Welford), for the standard deviation */
  m2: number;
  /** EWMA estimate in ms (ds_latency_estimator_alpha) */
  estimate: number;
  max: number;
  timeouts: number;
}

export interface DestinationSet {
  readonly id: number;
  /** label written before the set in the seed's OpenSIPS-style list ("proxies", "gateways") */
  readonly label?: string;
  /**
   * Kamailio's order: priority descending; among equal priorities the entry loaded last comes
   * first (observed with Kamailio 5.6, see test/unit/dispatcher/golden.json).
   */
  readonly destinations: Destination[];
  /**
   * Algorithm 9's 100-slot table of destination indexes, shuffled once at load
   * (weights do not change with state).
   */
  readonly weightSlots: Uint16Array;
  /** bumped on every state or congestion change, so algorithm 11 rebuilds its table */
  version: number;
}

export interface DispatcherList {
  readonly sets: Map<number, DestinationSet>;
}

/** A loader error names the file, the 1-based line and the field. */
export interface LoadError {
  readonly file: string;
  readonly line: number;
  readonly field: string;
  readonly reason: string;
}

export type Loaded<T> = { ok: true; value: T } | { ok: false; error: LoadError };

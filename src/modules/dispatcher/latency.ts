/**
 * Keepalive latency statistics (ds_ping_latency_stats): running average and standard deviation
 * (Welford's method, over all samples since load), the short-term EWMA estimate controlled by
 * ds_latency_estimator_alpha, the maximum, and the count of timeouts. "Because Kamailio doesn't
 * support float parameter types, the value in the parameter is divided by 1000" (docs): the
 * parameter is an integer per mille, 900 meaning that the previous estimate keeps 90 % weight.
 */
import type { LatencyStats } from "./types.ts";

export const DEFAULT_LATENCY_ESTIMATOR_ALPHA = 900;

export function emptyLatencyStats(): LatencyStats {
  return { count: 0, average: 0, m2: 0, estimate: 0, max: 0, timeouts: 0 };
}

/** Adds one reply's round-trip time in ms. `alphaPerMille` is ds_latency_estimator_alpha. */
export function recordLatency(stats: LatencyStats, ms: number, alphaPerMille = DEFAULT_LATENCY_ESTIMATOR_ALPHA): LatencyStats {
  stats.count += 1;
  if (stats.count === 1) {
    stats.average = ms;
    stats.estimate = ms;
    stats.m2 = 0;
  } else {
    const delta = ms - stats.average;
    stats.average += delta / stats.count;
    stats.m2 += delta * (ms - stats.average);
    const alpha = alphaPerMille / 1000;
    stats.estimate = alpha * stats.estimate + (1 - alpha) * ms;
  }
  if (ms > stats.max) stats.max = ms;
  return stats;
}

/** A keepalive that got no reply: counted, no latency sample. */
export function recordTimeout(stats: LatencyStats): LatencyStats {
  stats.timeouts += 1;
  return stats;
}

/** Sample standard deviation of the latency, 0 until there are two samples. */
export function latencyStdDev(stats: LatencyStats): number {
  return stats.count > 1 ? Math.sqrt(stats.m2 / (stats.count - 1)) : 0;
}

/**
 * Estimated congestion for cc=1: "estimate (current latency ms) - average (normal condition
 * latency ms)", never negative, in whole ms as Kamailio lowers the weight by 1 per ms.
 */
export function congestionMs(stats: LatencyStats): number {
  return Math.max(0, Math.round(stats.estimate - stats.average));
}

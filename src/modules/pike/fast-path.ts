import { PIKE_DEFAULTS } from "./pike.ts";

/**
 * The per-connection front of pike. The shared counter for an address lives in its Guard
 * object, one RPC hop away (~300 µs, DESIGN.md §7); most connections send a handful of
 * requests per sampling unit, far under the limit, and need not ask. This counter answers
 * "certainly below the limit" for the first `localBudget` requests of each unit and asks the
 * Guard for every request after that, handing over the hits it held back so the Guard's count
 * for the unit is exact from then on.
 *
 * Bound: hits a connection never reports are at most `localBudget` per unit, so an address
 * with N connections can send N × localBudget per unit unseen by the Guard. With the default
 * budget of density/2 that is more than the limit from three connections on: cap the
 * connections per address (issue 5), or lower the budget (0 = always ask).
 *
 * Units are aligned to the epoch exactly as in `Pike`, so held-back hits belong to the unit
 * the Guard counts them in.
 */

export interface PikeFastPathOptions {
  readonly samplingTimeUnit?: number;
  readonly reqsDensityPerUnit?: number;
  /** Requests per unit answered locally; default floor(density / 2). */
  readonly localBudget?: number;
}

export type FastPathDecision =
  | { readonly escalate: false }
  | { readonly escalate: true; /** hits to pass to `Pike.checkReq` */ readonly hits: number };

const BELOW: FastPathDecision = Object.freeze({ escalate: false });
const ONE: FastPathDecision = Object.freeze({ escalate: true, hits: 1 });

export class PikeFastPath {
  readonly unitMs: number;
  readonly budget: number;
  private readonly disabled: boolean;
  private unit = -1;
  private count = 0;

  constructor(options: PikeFastPathOptions = {}) {
    this.unitMs = Math.max(1, options.samplingTimeUnit ?? PIKE_DEFAULTS.samplingTimeUnit) * 1000;
    const density = Math.max(0, options.reqsDensityPerUnit ?? PIKE_DEFAULTS.reqsDensityPerUnit);
    this.disabled = density === 0;
    const budget = options.localBudget ?? Math.floor(density / 2);
    // A budget at or above the density could hide a flood from a single connection.
    this.budget = Math.max(0, Math.min(budget, density - 1));
  }

  /**
   * Requests this connection sent in the current unit. When the Guard cannot be reached the
   * caller can still apply the limit to this connection alone (`hitsThisUnit > density`).
   */
  hitsThisUnit(now: number): number {
    return Math.floor(now / this.unitMs) === this.unit ? this.count : 0;
  }

  /** Records one request at `now` (ms). */
  hit(now: number): FastPathDecision {
    if (this.disabled) return BELOW;
    const unit = Math.floor(now / this.unitMs);
    if (unit !== this.unit) {
      this.unit = unit;
      this.count = 0;
    }
    this.count++;
    if (this.count <= this.budget) return BELOW;
    if (this.count === this.budget + 1) return this.count === 1 ? ONE : { escalate: true, hits: this.count };
    return ONE;
  }
}

/**
 * ds_select_dst / ds_next_dst: algorithms 0-12 in Kamailio numbering (DESIGN.md §5).
 *
 * Behaviour observed on Kamailio 5.6 (test/unit/dispatcher/golden.json) and from its docs:
 * - the chosen index is taken modulo the set size (size - 1 with use_default, so the last
 *   entry is only a final option); an inactive or disabled pick moves forward to the next
 *   usable entry, wrapping around; if none, use_default's last entry, else no selection;
 * - with failover (Kamailio `flags` bit 2) the failover list is the pick, then the rest of
 *   the set in circular order after the pick, skipping unusable entries, then the default;
 *   `limit` caps the list, the pick and the default being kept first.
 *
 * Shared state (round-robin and weight positions, the algorithm 11 table) lives in a
 * SelectState the caller owns. Each edge object that selects from a cached snapshot has its
 * own, so round robin and weights are exact per object and approximate across objects; call
 * load (algorithm 10) is exact only in the object that owns the CallLoad table.
 */
import { CallLoad } from "./call-load.ts";
import { kamailioHash, uriHash } from "./hash.ts";
import { congestionMs } from "./latency.ts";
import type { Destination, DestinationSet } from "./types.ts";
import { buildRelativeWeightSlots, SLOTS } from "./weights.ts";

export const ALG = {
  HASH_CALLID: 0,
  HASH_FROM_URI: 1,
  HASH_TO_URI: 2,
  HASH_RURI: 3,
  ROUND_ROBIN: 4,
  HASH_AUTH_USERNAME: 5,
  RANDOM: 6,
  HASH_PVAR: 7,
  PRIORITY: 8,
  WEIGHT: 9,
  CALL_LOAD: 10,
  RELATIVE_WEIGHT: 11,
  PARALLEL: 12,
} as const;

/** The request strings the algorithms read; URIs may be bare or `<...>`. */
export interface SelectInput {
  readonly method: string;
  readonly callId: string;
  readonly fromUri: string;
  readonly toUri: string;
  readonly ruri: string;
  /** digest username from Proxy-Authorization or Authorization, if any */
  readonly authUsername?: string;
  /** the expanded hash_pvar template, for algorithm 7 */
  readonly pvarValue?: string;
}

export interface SelectOptions {
  /** use_default: the last entry of a set is used only when all others are down */
  readonly useDefault?: boolean;
  /** Kamailio `flags` bit 2: keep the failover list for nextDst */
  readonly failover?: boolean;
  /** Kamailio `flags` bit 1: URI hashes use only the user part */
  readonly hashUserOnly?: boolean;
  /** ds_select_dst's third parameter: at most this many destinations in the failover list */
  readonly limit?: number;
  readonly random?: () => number;
  /** ms clock for call-load expiry */
  readonly now?: number;
}

interface RelativeWeights {
  version: number;
  slots: Uint16Array | undefined;
  position: number;
}

export interface SelectState {
  readonly roundRobin: Map<number, number>;
  readonly weightPosition: Map<number, number>;
  readonly relativeWeights: Map<number, RelativeWeights>;
  readonly callLoad: CallLoad;
}

export function createSelectState(callLoad: CallLoad = new CallLoad()): SelectState {
  return { roundRobin: new Map(), weightPosition: new Map(), relativeWeights: new Map(), callLoad };
}

export type SelectFailure = "no-set" | "no-destination" | "no-hash-value" | "no-duid";

export type Selection =
  | {
      readonly selected: true;
      readonly setId: number;
      readonly alg: number;
      /** [0] is the destination to use now; the rest is what nextDst walks (failover only) */
      readonly destinations: readonly Destination[];
      /** algorithm 12: fork to all `destinations` at once */
      readonly parallel: boolean;
      /** algorithm 10: the Call-ID whose load nextDst moves */
      readonly loadCallId?: string;
      /** index in `destinations` of the one in use; nextDst advances it */
      position: number;
    }
  | { readonly selected: false; readonly reason: SelectFailure };

export function isUsable(dst: Destination): boolean {
  return dst.state === "active" || dst.state === "trying";
}

function underMaxLoad(dst: Destination, load: CallLoad): boolean {
  const max = dst.attrs.maxload;
  return max === 0 || dst.attrs.duid === undefined || load.active(dst.attrs.duid) < max;
}

/** Algorithm 10: the usable destination with the fewest active calls under its maxload. */
function leastLoaded(dsts: readonly Destination[], span: number, load: CallLoad): number {
  let best = -1;
  let bestLoad = Infinity;
  for (let i = 0; i < span; i++) {
    const dst = dsts[i] as Destination;
    if (!isUsable(dst) || !underMaxLoad(dst, load)) continue;
    const active = dst.attrs.duid === undefined ? 0 : load.active(dst.attrs.duid);
    if (active < bestLoad) {
      best = i;
      bestLoad = active;
    }
  }
  return best;
}

/** rweight of one destination for the algorithm 11 table; cc=1 lowers `weight` by congestion ms. */
function relativeWeightOf(dst: Destination, allCongested: boolean): number {
  if (!isUsable(dst)) return 0;
  if (!dst.attrs.cc || !dst.latency) return dst.attrs.rweight;
  const congestion = congestionMs(dst.latency);
  return allCongested ? congestion : Math.max(0, dst.attrs.weight - congestion);
}

/**
 * "If all the gateways in a set are above their congestion threshold(weight), the load
 * distribution is instead done using the ratio of estimated congestion ms." (Kamailio docs)
 */
function relativeSlots(set: DestinationSet, state: SelectState, random: () => number): RelativeWeights {
  let entry = state.relativeWeights.get(set.id);
  if (entry && entry.version === set.version) return entry;
  const dsts = set.destinations;
  const cc = dsts.filter((d) => isUsable(d) && d.attrs.cc && d.latency);
  const allCongested = cc.length > 0 && cc.every((d) => relativeWeightOf(d, false) === 0);
  const weights = dsts.map((d) => relativeWeightOf(d, allCongested));
  entry = { version: set.version, slots: buildRelativeWeightSlots(weights, random), position: 0 };
  state.relativeWeights.set(set.id, entry);
  return entry;
}

function nextPosition(map: Map<number, number>, id: number, modulo: number): number {
  const at = map.get(id) ?? 0;
  map.set(id, (at + 1) % modulo);
  return at;
}

/** The raw pick for one algorithm, before the modulo and the skip of unusable entries. */
function pick(set: DestinationSet, alg: number, input: SelectInput, state: SelectState, span: number, opts: SelectOptions): number | SelectFailure {
  const random = opts.random ?? Math.random;
  switch (alg) {
    case ALG.HASH_CALLID:
      return kamailioHash(input.callId.trim());
    case ALG.HASH_FROM_URI:
    case ALG.HASH_TO_URI:
    case ALG.HASH_RURI: {
      const uri = alg === ALG.HASH_FROM_URI ? input.fromUri : alg === ALG.HASH_TO_URI ? input.toUri : input.ruri;
      return uriHash(uri, opts.hashUserOnly) ?? "no-hash-value";
    }
    case ALG.HASH_AUTH_USERNAME: {
      // Only the user part of a "user@domain" username is hashed (golden.json); none: round robin.
      const name = input.authUsername;
      if (name === undefined || name === "") return nextPosition(state.roundRobin, set.id, span);
      const at = name.indexOf("@");
      return kamailioHash(at >= 0 ? name.slice(0, at) : name);
    }
    case ALG.ROUND_ROBIN:
      return nextPosition(state.roundRobin, set.id, span);
    case ALG.RANDOM:
      return Math.floor(random() * span);
    case ALG.HASH_PVAR:
      return input.pvarValue === undefined ? "no-hash-value" : kamailioHash(input.pvarValue);
    case ALG.WEIGHT:
      return set.weightSlots[nextPosition(state.weightPosition, set.id, SLOTS)] as number;
    case ALG.CALL_LOAD: {
      // "This algorithm can be used only for dispatching INVITE requests"; others: first entry.
      if (input.method !== "INVITE") return 0;
      const best = leastLoaded(set.destinations, span, state.callLoad);
      return best < 0 ? "no-destination" : best;
    }
    case ALG.RELATIVE_WEIGHT: {
      const table = relativeSlots(set, state, random);
      if (!table.slots) return 0;
      const at = table.position;
      table.position = (at + 1) % SLOTS;
      return table.slots[at] as number;
    }
    default:
      // ALG.PRIORITY (the set is already sorted by priority) and unknown algorithms: first entry.
      return 0;
  }
}

/** Moves an unusable pick forward, wrapping within `span`; use_default's entry last. */
function firstUsable(dsts: readonly Destination[], start: number, span: number, useDefault: boolean): number {
  let i = start;
  while (!isUsable(dsts[i] as Destination)) {
    i = (i + 1) % span;
    if (i === start) {
      const last = dsts.length - 1;
      return useDefault && isUsable(dsts[last] as Destination) ? last : -1;
    }
  }
  return i;
}

function failoverList(set: DestinationSet, chosen: number, alg: number, span: number, state: SelectState, opts: SelectOptions): Destination[] {
  const dsts = set.destinations;
  const first = dsts[chosen] as Destination;
  if (!opts.failover) return [first];
  const list = [first];
  const last = dsts.length - 1;
  const withDefault = span < dsts.length && chosen !== last && isUsable(dsts[last] as Destination);
  const room = (opts.limit && opts.limit > 0 ? opts.limit : Infinity) - (withDefault ? 1 : 0);
  for (let k = 1; k < dsts.length && list.length < room; k++) {
    const i = (chosen + k) % dsts.length;
    if (i >= span) continue;
    const dst = dsts[i] as Destination;
    if (!isUsable(dst)) continue;
    if (alg === ALG.CALL_LOAD && !underMaxLoad(dst, state.callLoad)) continue;
    list.push(dst);
  }
  if (withDefault) list.push(dsts[last] as Destination);
  return list;
}

/**
 * ds_select_dst(set, alg[, limit]). Mutates `state` (round-robin and weight positions, call
 * load for algorithm 10). Returns the ordered destinations; no selection when the set is
 * unknown or nothing in it is usable.
 */
export function select(set: DestinationSet | undefined, alg: number, input: SelectInput, state: SelectState, opts: SelectOptions = {}): Selection {
  if (!set) return { selected: false, reason: "no-set" };
  const dsts = set.destinations;
  if (dsts.length === 0) return { selected: false, reason: "no-destination" };
  const useDefault = opts.useDefault === true && dsts.length > 1;
  const span = useDefault ? dsts.length - 1 : dsts.length;
  if (alg === ALG.PARALLEL) {
    const all = dsts.filter(isUsable);
    if (all.length === 0) return { selected: false, reason: "no-destination" };
    return { selected: true, setId: set.id, alg, destinations: all, parallel: true, position: 0 };
  }
  const raw = pick(set, alg, input, state, span, opts);
  if (typeof raw === "string") return { selected: false, reason: raw };
  const chosen = firstUsable(dsts, raw % span, span, useDefault);
  if (chosen < 0) return { selected: false, reason: "no-destination" };
  // A non-INVITE under algorithm 10 is dispatched like algorithm 0's fallback: no load kept.
  const counted = alg === ALG.CALL_LOAD && input.method === "INVITE";
  const destinations = failoverList(set, chosen, counted || alg !== ALG.CALL_LOAD ? alg : 0, span, state, opts);
  if (counted) {
    const duid = (destinations[0] as Destination).attrs.duid;
    if (duid === undefined) return { selected: false, reason: "no-duid" };
    state.callLoad.add(input.callId, duid, opts.now ?? Date.now());
    return { selected: true, setId: set.id, alg, destinations, parallel: false, loadCallId: input.callId, position: 0 };
  }
  return { selected: true, setId: set.id, alg, destinations, parallel: false, position: 0 };
}

/**
 * ds_next_dst(): the next destination of the failover list, or undefined when it is used up.
 * `usable` is the destinations' state now: one that probing marked inactive since the selection
 * was made is skipped, not tried for a whole fr_timer. For algorithm 10 the call's load moves to
 * the new destination's duid, as Kamailio does.
 */
export function nextDst(selection: Selection, state?: SelectState, usable: (dst: Destination) => boolean = () => true): Destination | undefined {
  if (!selection.selected || selection.parallel) return undefined;
  let position = selection.position + 1;
  while (position < selection.destinations.length && !usable(selection.destinations[position] as Destination)) position++;
  if (position >= selection.destinations.length) return undefined;
  selection.position = position;
  const dst = selection.destinations[selection.position] as Destination;
  if (state && selection.loadCallId !== undefined && dst.attrs.duid !== undefined) {
    state.callLoad.replace(selection.loadCallId, dst.attrs.duid);
  }
  return dst;
}

/** The destination in use (ds_mark_dst marks this one). */
export function currentDst(selection: Selection): Destination | undefined {
  return selection.selected ? selection.destinations[selection.position] : undefined;
}

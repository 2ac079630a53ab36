import type { DestinationState, DispatcherList } from "./types.ts";

/**
 * Destination states that outlive a restart of the Dispatcher object (a deploy, an eviction).
 * Without them every destination starts again from the list's flags, so a gateway that probing
 * or `ds_mark_dst` took down is "active" again until the first probe interval has passed, and
 * calls go to it. Only what the list cannot give back is kept: the state and the probing bit,
 * keyed by set and URI; counters and latency statistics start again.
 */
export interface KeptState {
  state: DestinationState;
  probe: boolean;
}

/** `"<setid> <uri>"` → the state it was in. */
export type KeptStates = Record<string, KeptState>;

const key = (setId: number, uri: string): string => `${setId} ${uri}`;

/** The states of every destination whose state or probing bit differs from what its list row loads as. */
export function captureStates(list: DispatcherList, loaded: KeptStates): KeptStates {
  const out: KeptStates = {};
  for (const set of list.sets.values()) {
    for (const d of set.destinations) {
      const k = key(set.id, d.uri);
      const initial = loaded[k];
      if (initial === undefined || initial.state !== d.state || initial.probe !== d.probe) out[k] = { state: d.state, probe: d.probe };
    }
  }
  return out;
}

/** Every destination's state as loaded from the list (what captureStates compares against). */
export function listStates(list: DispatcherList): KeptStates {
  const out: KeptStates = {};
  for (const set of list.sets.values()) for (const d of set.destinations) out[key(set.id, d.uri)] = { state: d.state, probe: d.probe };
  return out;
}

/**
 * Puts kept states back on a freshly loaded list. A destination no longer in the list is
 * ignored (the list is the truth for which gateways exist); returns how many were restored.
 */
export function restoreStates(list: DispatcherList, kept: KeptStates): number {
  let restored = 0;
  for (const set of list.sets.values()) {
    for (const d of set.destinations) {
      const k = kept[key(set.id, d.uri)];
      if (k === undefined || (k.state === d.state && k.probe === d.probe)) continue;
      d.state = k.state;
      d.probe = k.probe;
      set.version += 1;
      restored++;
    }
  }
  return restored;
}

/**
 * The dispatcher module's pure core: loaders, selection (algorithms 0-12), Kamailio's hash,
 * call load, probing transitions and latency statistics. The Dispatcher Durable Object and the
 * route-script namespace (`ctx.dispatcher.selectDst(1, 4)`) are built on these.
 */
export type { Attrs, Destination, DestinationSet, DestinationState, DispatcherList, LatencyStats, LoadError, Loaded } from "./types.ts";
export { DS_DISABLED_DST, DS_INACTIVE_DST, DS_NODNSARES_DST, DS_PROBING_DST, DS_TRYING_DST } from "./types.ts";
export { parseDispatcherList } from "./list-file.ts";
export { loadDispatcherDbText, loadDispatcherRows } from "./db.ts";
export type { DispatcherRow } from "./db.ts";
export { kamailioStateLetters, parseAttrs, parseDestinationUri, stateFromFlags } from "./destination.ts";
export { kamailioHash, uriHash, uriHashKey } from "./hash.ts";
export type { UriHashKey } from "./hash.ts";
export { ALG, createSelectState, currentDst, isUsable, nextDst, select } from "./select.ts";
export type { SelectFailure, SelectInput, SelectOptions, SelectState, Selection } from "./select.ts";
export { CallLoad } from "./call-load.ts";
export type { CallLoadOptions } from "./call-load.ts";
export { isAcceptedReply, markDst, onProbeReply, parseReplyCodes, shouldProbe, TIMEOUT_STATUS } from "./probing.ts";
export type { DispatcherEvent, ProbingMode, ProbingOptions, ReplyCodes, Transition } from "./probing.ts";
export { congestionMs, DEFAULT_LATENCY_ESTIMATOR_ALPHA, emptyLatencyStats, latencyStdDev, recordLatency, recordTimeout } from "./latency.ts";
export { FROM_LIST_ACTIVE_ONLY, FROM_LIST_IGNORE_PORT, FROM_LIST_IGNORE_PROTO, isActive, isFromList, listExists } from "./lookup.ts";
export type { FromListMatch, Source } from "./lookup.ts";

export { Htable, HTABLE_DEFAULT_MAX_ITEMS } from "./htable.ts";
export type { HtValue, HtItem, HtableOptions, HtableStats } from "./htable.ts";
export { HtableSet, IPBAN_DEFINITION, parseHtableDefinition } from "./definition.ts";
export type { HtableDefinition } from "./definition.ts";
export { AuthBlockList, AUTH_BLOCK_DEFAULTS } from "./auth-block.ts";
export type { AuthBlockOptions, AuthBlockReason, AuthBlockRequest, AuthBlockVerdict } from "./auth-block.ts";

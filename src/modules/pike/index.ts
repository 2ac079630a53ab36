export { Pike, PIKE_DEFAULTS, pikeReturnCode } from "./pike.ts";
export type { PikeOptions, PikeVerdict, PikeNodeInfo, PikeNodeStatus } from "./pike.ts";
export { PikeFastPath } from "./fast-path.ts";
export type { PikeFastPathOptions, FastPathDecision } from "./fast-path.ts";
export { pikeKey } from "./key.ts";

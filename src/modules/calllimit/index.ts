export { CallCounter, type CallStart } from "./counter.ts";
export { CallTable } from "./store.ts";
export { CallLimitScript, type CallCountService } from "./script.ts";

import { buildWorker } from "../../scripts/stack.mjs";

/** Bundles the worker once (as `wrangler deploy` would) for every end-to-end file. */
export default async function setup(): Promise<void> {
  await buildWorker();
}

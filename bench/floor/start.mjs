// Starts the runtime-floor worker (worker.js) in its own workerd through Miniflare, with the
// compatibility settings of the product's wrangler.toml, so `--mode echo` measures the same runtime.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * Resolves with { wsUrl, mf, stop } once the floor worker listens on a free loopback port;
 * `inspectorPort` opens its DevTools inspector (bench/profile.mjs); `scriptPath` runs a variant
 * of worker.js (an experiment on the floor, bench/promoted.mjs).
 */
export async function startFloor({ inspectorPort, scriptPath = join(HERE, "worker.js") } = {}) {
  const toml = readFileSync(join(HERE, "../../wrangler.toml"), "utf8");
  const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  const mf = new Miniflare(convertV4MiniflareOptions({
    name: "floor",
    modules: true,
    scriptPath,
    compatibilityDate,
    durableObjects: { ECHO: "Echo" },
    host: "127.0.0.1",
    port: 0,
    ...(inspectorPort !== undefined ? { inspectorPort } : {}),
  }));
  const url = await mf.ready;
  return { wsUrl: url.href.replace(/^http/, "ws"), mf, stop: () => mf.dispose() };
}

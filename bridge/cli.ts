/**
 * The bridge as a process: settings from flags or environment, JSON log lines on stdout, and a
 * graceful stop (links closed with 1001, socket closed) on SIGINT or SIGTERM.
 */
import { readFileSync, writeSync } from "node:fs";
import { createLogger } from "../src/log.ts";
import { Bridge } from "./bridge.ts";
import { parseConfig } from "./config.ts";
import { startHttp } from "./http.ts";

export async function main(argv: readonly string[], env: Record<string, string | undefined>): Promise<void> {
  const config = parseConfig(argv, env, (path) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  });
  if (!config.ok) {
    if ("help" in config) {
      process.stdout.write(config.reason + "\n");
      return;
    }
    process.stderr.write(`sipedge-bridge: ${config.reason}\n`);
    process.exitCode = 2;
    return;
  }
  // Synchronous writes: a line logged just before exit must not be lost in a buffer.
  const log = createLogger(config.value.logLevel, (line) => writeSync(1, line + "\n"), { bridge: config.value.id });
  const bridge = new Bridge({ config: config.value, log });
  try {
    await bridge.start();
  } catch (error) {
    log.error("cannot start", { error: (error as Error).message, listen: config.value.listen });
    process.exitCode = 1;
    return;
  }
  const httpServer = config.value.http === undefined
    ? undefined
    : await startHttp({ bridge, listen: config.value.http, token: config.value.metricsToken, log, id: config.value.id }).catch((error: Error) => {
        log.error("cannot start the HTTP listener", { error: error.message, http: config.value.http });
        process.exitCode = 1;
        return null;
      });
  if (httpServer === null) {
    await bridge.stop();
    return;
  }
  log.info("bridge started", { edge: config.value.edge, id: config.value.id });
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    const force = setTimeout(() => process.exit(1), 5_000);
    force.unref();
    httpServer?.close();
    await bridge.stop();
    log.info("stopped", {});
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

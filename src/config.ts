import { isLogLevel, type LogLevel } from "./log.ts";

/** The edge's variables (wrangler.toml `[vars]` and secrets); bindings are in `env.ts`. */
export interface Vars {
  SIP_DOMAIN?: string;
  SIP_ALIASES?: string;
  LOG_LEVEL?: string;
  MAX_MESSAGE_SIZE?: string;
  ALLOWED_ORIGINS?: string;
  CONNECTION_SHARDS?: string;
  SERVER_HEADER?: string;
}

export interface Config {
  /** The SIP domain this edge serves (`is_myself`). */
  domain: string;
  /** Other host names and addresses that mean "this proxy" (Kamailio `alias=`). */
  aliases: string[];
  logLevel: LogLevel;
  /** Messages of this many bytes or more get 513 (the seed: `$ml >= 65535`). */
  maxMessageSize: number;
  /** Allowed WebSocket Origins; empty means any Origin (or none) is accepted. */
  allowedOrigins: string[];
  connectionShards: number;
  /** Server / User-Agent string the edge puts on what it sends. */
  serverHeader: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    reason: string,
    readonly line?: number,
  ) {
    super(`${file}${line === undefined ? "" : `:${line}`}: ${field}: ${reason}`);
    this.name = "ConfigError";
  }
}

const SOURCE = "wrangler.toml [vars]";

function list(value: string | undefined): string[] {
  if (!value) return [];
  return value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

function positiveInt(field: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  if (!/^[0-9]+$/.test(value.trim()) || Number(value) <= 0) {
    throw new ConfigError(SOURCE, field, `expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

export function parseConfig(env: Vars): Config {
  const logLevel = env.LOG_LEVEL ?? "info";
  if (!isLogLevel(logLevel)) {
    throw new ConfigError(SOURCE, "LOG_LEVEL", `expected debug, info, warn or error, got ${JSON.stringify(logLevel)}`);
  }
  const domain = (env.SIP_DOMAIN ?? "localhost").trim().toLowerCase();
  if (!domain) throw new ConfigError(SOURCE, "SIP_DOMAIN", "must not be empty");
  return {
    domain,
    aliases: list(env.SIP_ALIASES).map((a) => a.toLowerCase()),
    logLevel,
    maxMessageSize: positiveInt("MAX_MESSAGE_SIZE", env.MAX_MESSAGE_SIZE, 65535),
    allowedOrigins: list(env.ALLOWED_ORIGINS),
    connectionShards: positiveInt("CONNECTION_SHARDS", env.CONNECTION_SHARDS, 16),
    serverHeader: env.SERVER_HEADER?.trim() || "sipedge",
  };
}

// Env objects are stable per isolate; parse each once.
const cache = new WeakMap<object, Config>();

export function configFor(env: Vars): Config {
  let config = cache.get(env);
  if (!config) {
    config = parseConfig(env);
    cache.set(env, config);
  }
  return config;
}

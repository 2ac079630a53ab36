import { isLogLevel, type LogLevel } from "./log.ts";
import { parseReplyCodes, type ReplyCodes } from "./modules/dispatcher/probing.ts";
import { makeSubnet, parseCidr, type Subnet } from "./modules/permissions/ip.ts";
import { parseIceServers } from "./phone/ice.ts";
import type { KeepaliveConfig } from "./transport/keepalive.ts";
import { parseUacConfig, type UacConfig, type UacVars } from "./modules/uac/config.ts";

/** The edge's variables (wrangler.toml `[vars]` and secrets); bindings are in `env.ts`. */
export interface Vars extends UacVars {
  SIP_DOMAIN?: string;
  SIP_ALIASES?: string;
  LOG_LEVEL?: string;
  MAX_MESSAGE_SIZE?: string;
  ALLOWED_ORIGINS?: string;
  CONNECTION_SHARDS?: string;
  SERVER_HEADER?: string;
  DEFAULT_EXPIRES?: string;
  MIN_EXPIRES?: string;
  MIN_EXPIRES_MODE?: string;
  MAX_EXPIRES?: string;
  MAX_CONTACTS?: string;
  NONCE_EXPIRE?: string;
  SUBSCRIBER_CACHE_TTL?: string;
  HANDLE_LOST_FLOWS?: string;
  FR_TIMER?: string;
  FR_INV_TIMER?: string;
  DIALOG_FLOW_TIMEOUT?: string;
  DIALOG_DB_UPDATE_PERIOD?: string;
  TRANSACTION_STORE_AFTER?: string;
  WS_KEEPALIVE_INTERVAL?: string;
  WS_KEEPALIVE_TIMEOUT?: string;
  WS_IDLE_TIMEOUT?: string;
  DS_PING_INTERVAL?: string;
  DS_PROBING_THRESHOLD?: string;
  DS_INACTIVE_THRESHOLD?: string;
  DS_PROBING_MODE?: string;
  DS_PING_FROM?: string;
  DS_PING_REPLY_CODES?: string;
  DS_PROBE_TIMEOUT?: string;
  DS_LATENCY_ESTIMATOR_ALPHA?: string;
  PIKE_SAMPLING_TIME_UNIT?: string;
  PIKE_DENSITY?: string;
  PIKE_REMOVE_LATENCY?: string;
  PIKE_LOCAL_BUDGET?: string;
  IPBAN_EXPIRE?: string;
  MAX_CONNECTIONS_PER_ADDRESS?: string;
  AUTH_BLOCK_THRESHOLD?: string;
  AUTH_BLOCK_TIME?: string;
  AUTH_BLOCK_WINDOW?: string;
  EMERGENCY_NUMBERS?: string;
  SCANNER_USER_AGENTS?: string;
  METRICS_ALLOW_FROM?: string;
  RTPENGINE_TIMEOUT?: string;
  PHONE_ICE_SERVERS?: string;
  TURN_TTL?: string;
  MAX_CALLS_PER_USER?: string;
  CALL_LIMIT_TIMEOUT?: string;
  ROUTE_SCRIPT?: string;
  RELAY_ADDRESS_GROUP?: string;
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
  /** Kamailio registrar parameters (default_expires, min_expires, min_expires_mode, ...). */
  registrar: {
    defaultExpires: number;
    minExpires: number;
    minExpiresMode: 0 | 1;
    maxExpires: number;
    maxContacts: number;
  };
  /** Kamailio auth `nonce_expire`, seconds. */
  nonceExpire: number;
  /** Seconds a subscriber's HA1 is served from the isolate's cache (a changed password applies after this). */
  subscriberCacheTtl: number;
  /** Kamailio `handle_lost_tcp`: a flow's bindings are removed when its socket closes. */
  handleLostFlows: boolean;
  /** Kamailio tm `fr_timer` / `fr_inv_timer` (ms): no final reply → 408 for the branch. */
  tm: { frTimer: number; frInvTimer: number };
  /** Seconds a gateway call's WebSocket side may be gone (no reconnect) before the gateway gets a BYE; 0 = never. */
  dialogFlowTimeout: number;
  /** Kamailio dialog `db_update_period` (db_mode 2), seconds: call records reach storage in one batch this often; 0 = at once. */
  dialogDbUpdatePeriod: number;
  /**
   * ms a relayed transaction must stay pending before its shard stores it, so that its timers
   * survive an eviction (durable-objects/transaction-store.ts); undefined = never stored, as
   * Kamailio keeps transactions in memory only.
   */
  transactionStoreAfterMs: number | undefined;
  /** Client sockets' liveness (Kamailio websocket keepalive_*, nathelper pinging), in ms. */
  keepalive: KeepaliveConfig;
  /** Media anchoring: the longest wait (ms) for a bridge's answer to an rtpengine command. */
  rtpengine: { timeoutMs: number };
  /** The browser phone: ICE server URIs (stun:/turn:) and the lifetime of TURN credentials (s). */
  phone: { iceServers: string[]; turnTtl: number };
  /** Kamailio dispatcher parameters (ds_ping_interval, ds_probing_threshold, ...). */
  dispatcher: {
    pingInterval: number;
    probingThreshold: number;
    inactiveThreshold: number;
    probingMode: 0 | 1 | 2 | 3;
    /** `ds_ping_reply_codes`: replies besides 200 that count as up ("class=4;code=403"). */
    replyCodes: ReplyCodes;
    pingFrom: string;
    /** Seconds a keepalive waits for its reply before it counts as a timeout. */
    probeTimeout: number;
    latencyAlpha: number;
  };
  /** Issue 5: pike, ipban, the excessive-REGISTER block, scanners, connection cap. */
  security: SecurityConfig;
  /** Addresses that may read /metrics without a token (CIDRs; empty: a token is always needed). */
  metricsAllowFrom: Subnet[];
  /** The route script this edge runs, by name (src/routes/index.ts checks it against the scripts the build carries). */
  routeScript: string;
  /**
   * The `address` group whose addresses a script may relay to through the bridge for a caller
   * that is no gateway (the registrar script's foreign domains and aliases): nothing else is
   * reachable that way, so the bridge is never a UDP relay to any host.
   */
  relayAddressGroup: number;
  /** Carrier trunks: number plan, toll-fraud limits, uac_reg retries (src/modules/uac). */
  uac: UacConfig;
}

export interface SecurityConfig {
  /** Kamailio pike sampling_time_unit, reqs_density_per_unit (0 = off), remove_latency. */
  pike: { samplingTimeUnit: number; reqsDensityPerUnit: number; removeLatency: number; localBudget: number | undefined };
  /** Seconds a flooding address stays in `ipban` (Kamailio htable autoexpire). */
  ipbanExpire: number;
  /** Concurrent WebSocket connections one address (IPv6: /64) may hold; 0 = no cap. */
  maxConnectionsPerAddress: number;
  /** The seed's excessive-REGISTER rule (htable auth_block_list). */
  authBlock: { threshold: number; blockTime: number; failureWindow: number; emergencyNumbers: string[] };
  /** A case-insensitive regular expression over User-Agent; empty = the default scanner list. */
  scannerPattern: string;
  /** Concurrent calls one authenticated user may place; 0 = no cap. */
  maxCallsPerUser: number;
  /** Seconds an answered call counts against its caller when its BYE never comes. */
  callLimitTimeout: number;
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

function nonNegativeInt(field: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  if (!/^[0-9]+$/.test(value.trim())) {
    throw new ConfigError(SOURCE, field, `expected a whole number, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** A whole number of seconds, in ms, or `off` (undefined). */
function secondsOrOff(field: string, value: string | undefined, fallback: number): number | undefined {
  if (value === undefined || value === "") return fallback * 1000;
  const v = value.trim().toLowerCase();
  if (v === "off") return undefined;
  if (!/^[0-9]+$/.test(v)) throw new ConfigError(SOURCE, field, `expected a whole number of seconds or off, got ${JSON.stringify(value)}`);
  return Number(v) * 1000;
}

function flag(field: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === "") return fallback;
  const v = value.trim().toLowerCase();
  if (v === "1" || v === "true" || v === "yes") return true;
  if (v === "0" || v === "false" || v === "no") return false;
  throw new ConfigError(SOURCE, field, `expected 1/0, true/false or yes/no, got ${JSON.stringify(value)}`);
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
    registrar: {
      defaultExpires: positiveInt("DEFAULT_EXPIRES", env.DEFAULT_EXPIRES, 3600),
      minExpires: nonNegativeInt("MIN_EXPIRES", env.MIN_EXPIRES, 60),
      minExpiresMode: minExpiresMode(env.MIN_EXPIRES_MODE),
      maxExpires: nonNegativeInt("MAX_EXPIRES", env.MAX_EXPIRES, 0),
      maxContacts: nonNegativeInt("MAX_CONTACTS", env.MAX_CONTACTS, 10),
    },
    nonceExpire: positiveInt("NONCE_EXPIRE", env.NONCE_EXPIRE, 300),
    subscriberCacheTtl: positiveInt("SUBSCRIBER_CACHE_TTL", env.SUBSCRIBER_CACHE_TTL, 60),
    handleLostFlows: flag("HANDLE_LOST_FLOWS", env.HANDLE_LOST_FLOWS, true),
    tm: {
      frTimer: positiveInt("FR_TIMER", env.FR_TIMER, 30_000),
      frInvTimer: positiveInt("FR_INV_TIMER", env.FR_INV_TIMER, 181_000),
    },
    dialogFlowTimeout: nonNegativeInt("DIALOG_FLOW_TIMEOUT", env.DIALOG_FLOW_TIMEOUT, 60),
    dialogDbUpdatePeriod: nonNegativeInt("DIALOG_DB_UPDATE_PERIOD", env.DIALOG_DB_UPDATE_PERIOD, 1),
    transactionStoreAfterMs: secondsOrOff("TRANSACTION_STORE_AFTER", env.TRANSACTION_STORE_AFTER, 2),
    keepalive: {
      intervalMs: nonNegativeInt("WS_KEEPALIVE_INTERVAL", env.WS_KEEPALIVE_INTERVAL, 30) * 1000,
      timeoutMs: positiveInt("WS_KEEPALIVE_TIMEOUT", env.WS_KEEPALIVE_TIMEOUT, 10) * 1000,
      idleMs: nonNegativeInt("WS_IDLE_TIMEOUT", env.WS_IDLE_TIMEOUT, 60) * 1000,
    },
    rtpengine: { timeoutMs: positiveInt("RTPENGINE_TIMEOUT", env.RTPENGINE_TIMEOUT, 3000) },
    phone: { iceServers: iceServers(env.PHONE_ICE_SERVERS), turnTtl: positiveInt("TURN_TTL", env.TURN_TTL, 3600) },
    dispatcher: {
      pingInterval: nonNegativeInt("DS_PING_INTERVAL", env.DS_PING_INTERVAL, 10),
      probingThreshold: positiveInt("DS_PROBING_THRESHOLD", env.DS_PROBING_THRESHOLD, 1),
      inactiveThreshold: positiveInt("DS_INACTIVE_THRESHOLD", env.DS_INACTIVE_THRESHOLD, 1),
      probingMode: probingMode(env.DS_PROBING_MODE),
      replyCodes: replyCodes(env.DS_PING_REPLY_CODES),
      pingFrom: env.DS_PING_FROM?.trim() || `sip:dispatcher@${domain}`,
      probeTimeout: positiveInt("DS_PROBE_TIMEOUT", env.DS_PROBE_TIMEOUT, 2),
      latencyAlpha: nonNegativeInt("DS_LATENCY_ESTIMATOR_ALPHA", env.DS_LATENCY_ESTIMATOR_ALPHA, 900),
    },
    security: parseSecurity(env),
    metricsAllowFrom: list(env.METRICS_ALLOW_FROM).map((text) => {
      const cidr = parseCidr(text);
      if (!cidr.ok) throw new ConfigError(SOURCE, "METRICS_ALLOW_FROM", `${JSON.stringify(text)}: ${cidr.reason}`);
      return makeSubnet(cidr.address, cidr.prefix ?? (cidr.address.family === 4 ? 32 : 128));
    }),
    routeScript: env.ROUTE_SCRIPT?.trim() || DEFAULT_ROUTE_SCRIPT,
    relayAddressGroup: nonNegativeInt("RELAY_ADDRESS_GROUP", env.RELAY_ADDRESS_GROUP, 2),
    uac: parseUacConfig(env, (field, reason) => {
      throw new ConfigError(SOURCE, field, reason);
    }),
  };
}

/** The shipped script a configuration without ROUTE_SCRIPT runs (the seed's Kamailio SBC). */
export const DEFAULT_ROUTE_SCRIPT = "kamailio-sbc";

/** Seed values: pike 2 s / 16 / 4 s; auth block 30 failures, 900 s block, 300 s window. */
function parseSecurity(env: Vars): SecurityConfig {
  const budget = env.PIKE_LOCAL_BUDGET;
  return {
    pike: {
      samplingTimeUnit: positiveInt("PIKE_SAMPLING_TIME_UNIT", env.PIKE_SAMPLING_TIME_UNIT, 2),
      reqsDensityPerUnit: nonNegativeInt("PIKE_DENSITY", env.PIKE_DENSITY, 16),
      removeLatency: positiveInt("PIKE_REMOVE_LATENCY", env.PIKE_REMOVE_LATENCY, 4),
      localBudget: budget === undefined || budget === "" ? undefined : nonNegativeInt("PIKE_LOCAL_BUDGET", budget, 0),
    },
    ipbanExpire: positiveInt("IPBAN_EXPIRE", env.IPBAN_EXPIRE, 300),
    maxConnectionsPerAddress: nonNegativeInt("MAX_CONNECTIONS_PER_ADDRESS", env.MAX_CONNECTIONS_PER_ADDRESS, 100),
    authBlock: {
      threshold: positiveInt("AUTH_BLOCK_THRESHOLD", env.AUTH_BLOCK_THRESHOLD, 30),
      blockTime: positiveInt("AUTH_BLOCK_TIME", env.AUTH_BLOCK_TIME, 900),
      failureWindow: positiveInt("AUTH_BLOCK_WINDOW", env.AUTH_BLOCK_WINDOW, 300),
      emergencyNumbers: env.EMERGENCY_NUMBERS === undefined ? ["112", "911"] : list(env.EMERGENCY_NUMBERS),
    },
    scannerPattern: scannerPattern(env.SCANNER_USER_AGENTS),
    maxCallsPerUser: nonNegativeInt("MAX_CALLS_PER_USER", env.MAX_CALLS_PER_USER, 0),
    callLimitTimeout: positiveInt("CALL_LIMIT_TIMEOUT", env.CALL_LIMIT_TIMEOUT, 7200),
  };
}

function scannerPattern(value: string | undefined): string {
  const pattern = value?.trim() ?? "";
  if (pattern === "") return "";
  try {
    new RegExp(pattern, "i");
  } catch (e) {
    throw new ConfigError(SOURCE, "SCANNER_USER_AGENTS", `not a regular expression: ${(e as Error).message}`);
  }
  return pattern;
}

function minExpiresMode(value: string | undefined): 0 | 1 {
  const mode = nonNegativeInt("MIN_EXPIRES_MODE", value, 0);
  if (mode !== 0 && mode !== 1) throw new ConfigError(SOURCE, "MIN_EXPIRES_MODE", `expected 0 (raise to the minimum) or 1 (answer 423), got ${mode}`);
  return mode;
}

function iceServers(value: string | undefined): string[] {
  const parsed = parseIceServers(value ?? "");
  if (!parsed.ok) throw new ConfigError(SOURCE, "PHONE_ICE_SERVERS", parsed.reason);
  return parsed.value;
}

function replyCodes(value: string | undefined): ReplyCodes {
  const parsed = parseReplyCodes(value ?? "");
  if (!parsed.ok) throw new ConfigError(SOURCE, "DS_PING_REPLY_CODES", parsed.reason);
  return parsed.value;
}

function probingMode(value: string | undefined): 0 | 1 | 2 | 3 {
  const mode = nonNegativeInt("DS_PROBING_MODE", value, 1);
  if (mode > 3) throw new ConfigError(SOURCE, "DS_PROBING_MODE", `expected 0, 1, 2 or 3, got ${mode}`);
  return mode as 0 | 1 | 2 | 3;
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

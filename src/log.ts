/**
 * Structured JSON logs. Library code receives a Logger (never console directly), so tests can
 * capture lines and production logs stay machine-readable (Workers Logs / `wrangler tail`).
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines all carry `fields` (Call-ID and method for a message). */
  child(fields: LogFields): Logger;
  enabled(level: LogLevel): boolean;
}

export type LogSink = (line: string) => void;

// Header values that carry secrets; they never reach a log line (issue: security hardening).
const SECRET_FIELDS = new Set(["authorization", "proxy-authorization", "password", "secret", "token"]);

function redact(fields: LogFields): LogFields {
  let out: LogFields | undefined;
  for (const key of Object.keys(fields)) {
    if (SECRET_FIELDS.has(key.toLowerCase())) {
      out ??= { ...fields };
      out[key] = "[redacted]";
    }
  }
  return out ?? fields;
}

export function isLogLevel(value: string): value is LogLevel {
  return value in LEVELS;
}

export function createLogger(
  level: LogLevel,
  sink: LogSink = (line) => console.log(line), // eslint-disable-line no-console
  base: LogFields = {},
): Logger {
  const threshold = LEVELS[level];
  const write = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (LEVELS[lvl] < threshold) return;
    const line = { ts: new Date().toISOString(), level: lvl, msg, ...base, ...(fields ? redact(fields) : undefined) };
    sink(JSON.stringify(line));
  };
  return {
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    child: (fields) => createLogger(level, sink, { ...base, ...redact(fields) }),
    enabled: (lvl) => LEVELS[lvl] >= threshold,
  };
}

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
  return new JsonLogger(LEVELS[level], sink, base);
}

/**
 * A class, not an object of closures: every message gets a child logger, and methods on the
 * prototype make that one small allocation (the bundler names each closure at creation, which
 * profiled at several µs per message).
 */
class JsonLogger implements Logger {
  // Plain fields, no parameter properties: the bridge runs this file with Node's type stripping.
  private readonly threshold: number;
  private readonly sink: LogSink;
  private base: LogFields;
  /** A child's own fields, merged into `base` (redacted) only when it first writes a line. */
  private own: LogFields | undefined;

  constructor(threshold: number, sink: LogSink, base: LogFields, own?: LogFields) {
    this.threshold = threshold;
    this.sink = sink;
    this.base = base;
    this.own = own;
  }

  debug(msg: string, fields?: LogFields): void {
    this.write("debug", msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write("info", msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write("warn", msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.write("error", msg, fields);
  }

  child(fields: LogFields): Logger {
    // Every message gets a child and most never write a line: the merge waits for the first one.
    return new JsonLogger(this.threshold, this.sink, this.fields(), fields);
  }

  enabled(lvl: LogLevel): boolean {
    return LEVELS[lvl] >= this.threshold;
  }

  private fields(): LogFields {
    if (this.own !== undefined) {
      this.base = { ...this.base, ...redact(this.own) };
      this.own = undefined;
    }
    return this.base;
  }

  private write(lvl: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVELS[lvl] < this.threshold) return;
    const line = { ts: new Date().toISOString(), level: lvl, msg, ...this.fields(), ...(fields ? redact(fields) : undefined) };
    this.sink(JSON.stringify(line));
  }
}

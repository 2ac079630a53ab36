// Helpers for the operations tests: the sipedge CLI as a child process, and /metrics scraped and
// read with an npm Prometheus text-format parser (not ours).
import { spawn } from "node:child_process";
import path from "node:path";
import parsePrometheus, { type ParsedFamily } from "parse-prometheus-text-format";
import { ROOT } from "../../scripts/stack.mjs";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sipedge ARGS` with SIPEDGE_ADMIN_TOKEN = `token` (null: unset). Never blocks the loop. */
export function sipedgeCli(args: string[], token: string | null, env: Record<string, string> = {}): Promise<CliResult> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env, SIPEDGE_ADMIN_TOKEN: token ?? undefined };
  if (token === null) delete childEnv.SIPEDGE_ADMIN_TOKEN;
  const child = spawn(process.execPath, [path.join(ROOT, "bin/sipedge.mjs"), ...args], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** One scrape, parsed; throws with the status and body when the scrape is refused. */
export async function scrape(url: string, token?: string): Promise<Scrape> {
  const res = await fetch(url, token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`scrape ${url}: ${res.status} ${text}`);
  return new Scrape(parsePrometheus(text), res.headers.get("content-type") ?? "");
}

export class Scrape {
  constructor(
    readonly families: ParsedFamily[],
    readonly contentType: string,
  ) {}

  family(name: string): ParsedFamily | undefined {
    return this.families.find((f) => f.name === name);
  }

  /** Sum of the samples of `name` whose labels include `labels` (0 when there are none). */
  sum(name: string, labels: Record<string, string> = {}): number {
    const f = this.family(name);
    if (f === undefined) return 0;
    return f.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)).reduce((n, m) => n + Number(m.value), 0);
  }

  /** The value of the one sample of `name` with exactly these labels, if any. */
  value(name: string, labels: Record<string, string>): number | undefined {
    const m = this.family(name)?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
    return m === undefined ? undefined : Number(m.value);
  }
}

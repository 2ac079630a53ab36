/**
 * The Prometheus text exposition format (version 0.0.4): `# HELP`, `# TYPE`, then one line per
 * series. Plain TypeScript with no Workers or Node APIs, so the edge and the bridge (Node type
 * stripping) write the same format.
 */

export type MetricType = "counter" | "gauge";

export interface Sample {
  labels?: Readonly<Record<string, string | number>>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label values escape backslash, double quote and line feed (the format's only escapes). */
function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}

/** HELP text escapes backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Sample["labels"]): string {
  if (labels === undefined) return "";
  const parts: string[] = [];
  for (const name of Object.keys(labels)) parts.push(`${name}="${escapeLabel(String(labels[name]))}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Renders families in the order given; a family without samples still declares its type. */
export function renderExposition(families: readonly Family[]): string {
  let out = "";
  for (const f of families) {
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) out += `${f.name}${formatLabels(s.labels)} ${formatValue(s.value)}\n`;
  }
  return out;
}

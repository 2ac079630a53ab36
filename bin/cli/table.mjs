// Human output: aligned columns, no colours (pipes stay clean), "-" for nothing.

const text = (v) => (v === undefined || v === null || v === "" ? "-" : String(v));

/** Prints `rows` (arrays of cells) under `headers`, columns padded to their widest cell. */
export function printTable(headers, rows, out = process.stdout) {
  const cells = [headers, ...rows.map((r) => r.map(text))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? "").length)));
  for (const row of cells) out.write(row.map((c, i) => (i === row.length - 1 ? String(c) : String(c).padEnd(widths[i]))).join("  ").trimEnd() + "\n");
}

export function printJson(value, out = process.stdout) {
  out.write(JSON.stringify(value, null, 2) + "\n");
}

/** "in 42 s" / "3 s ago" for an ISO time. */
export function relative(iso) {
  if (!iso) return "-";
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return s >= 0 ? `in ${s} s` : `${-s} s ago`;
}

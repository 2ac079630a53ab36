/**
 * Parse results are values, not exceptions: a failure carries the reason that becomes the
 * reason phrase of the 400 (or other status) the edge answers with.
 */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail<T = never>(reason: string): Parsed<T> {
  return { ok: false, reason };
}

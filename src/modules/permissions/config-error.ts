/**
 * Errors in operator-supplied permission data name where to look: the file (or D1 table),
 * the line (or 1-based row), and the field (column) that is wrong.
 */
export interface ConfigError {
  readonly file: string;
  readonly line: number;
  readonly field: string;
  readonly reason: string;
}

export type ConfigResult<T> = { ok: true; value: T } | { ok: false; error: ConfigError };

export function configOk<T>(value: T): ConfigResult<T> {
  return { ok: true, value };
}

export function configError<T = never>(file: string, line: number, field: string, reason: string): ConfigResult<T> {
  return { ok: false, error: { file, line, field, reason } };
}

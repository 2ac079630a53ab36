/**
 * ds_is_from_list, ds_list_exists and ds_is_active over a loaded list (pure; host names are
 * compared as written, DNS resolution is the bridge's job).
 */
import { isUsable } from "./select.ts";
import type { Destination, DispatcherList } from "./types.ts";

/** ds_is_from_list mode bits: 1 ignore port, 2 ignore protocol, 4 only active destinations. */
export const FROM_LIST_IGNORE_PORT = 1;
export const FROM_LIST_IGNORE_PROTO = 2;
export const FROM_LIST_ACTIVE_ONLY = 4;

export interface Source {
  readonly host: string;
  readonly port: number;
  /** udp, tcp, tls, ws, wss ... */
  readonly transport: string;
}

export type FromListMatch = { found: true; setId: number; destination: Destination } | { found: false };

/** A host without IPv6 brackets, lower case. */
function bare(h: string): string {
  return (h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h).toLowerCase();
}

/**
 * Runs for every destination on each gateway datagram (ds_is_from_list), so the common case (the
 * same IP literal) allocates nothing; a module-level helper, not a closure, since the bundle wraps
 * every named closure it creates in a `__name` call (esbuild keep_names).
 */
function sameHost(a: string, b: string): boolean {
  return a === b || bare(a) === bare(b);
}

/**
 * ds_is_from_list([groupid [, mode]]): `setId` undefined or -1 searches every set. "Note that
 * for backward compatibility mode, when no parameter is given or only groupid is given, the
 * matching is done only for IP address and port (protocol is ignored)": mode defaults to 2.
 */
export function isFromList(list: DispatcherList, source: Source, setId = -1, mode = FROM_LIST_IGNORE_PROTO): FromListMatch {
  for (const set of list.sets.values()) {
    if (setId !== -1 && set.id !== setId) continue;
    for (const dst of set.destinations) {
      if (!sameHost(dst.host, source.host)) continue;
      if (!(mode & FROM_LIST_IGNORE_PORT) && dst.port !== source.port) continue;
      if (!(mode & FROM_LIST_IGNORE_PROTO) && (dst.transport ?? "udp") !== source.transport.toLowerCase()) continue;
      if (mode & FROM_LIST_ACTIVE_ONLY && !isUsable(dst)) continue;
      return { found: true, setId: set.id, destination: dst };
    }
  }
  return { found: false };
}

/** ds_list_exists(groupid) */
export function listExists(list: DispatcherList, setId: number): boolean {
  return list.sets.has(setId);
}

/** ds_is_active(groupid [, uri]): an active destination in the set, or that one URI active. */
export function isActive(list: DispatcherList, setId: number, uri?: string): boolean {
  const set = list.sets.get(setId);
  if (!set) return false;
  return set.destinations.some((d) => (uri === undefined || d.uri === uri) && isUsable(d));
}

/**
 * Recent instances of the short-lived classes on the per-message path, kept alive on purpose.
 *
 * V8's optimised code embeds the hidden classes (maps) it was specialised for, weakly. An object
 * that lives only while one message is handled (a header scan, a request's context and what hangs
 * off it, a route walk) is rarely alive when a mark-compact runs, and a map with no live instance
 * is collected after V8's map retention (two mark-compacts): every optimised function that embedded
 * it is then deoptimised ("embedded weak objects cleared") and compiled again. In workerd a loaded
 * shard mark-compacts every few seconds (the runtime itself promotes ~1.2 KB per message), and each
 * one deoptimised 50–170 functions of the REGISTER path (bench/README.md, "The two modes, round 9").
 * A live instance keeps its maps alive; the cost is a few messages' objects per isolate.
 */
const latest = new Map<unknown, object>();

/** The contexts of the last messages, whatever their kind (see keepRecent). */
export const RECENT_KEPT = 16;
const recent: (object | undefined)[] = new Array<object | undefined>(RECENT_KEPT).fill(undefined);
let next = 0;

/** Keeps `instance` alive until the next instance of the same class replaces it. */
export function keepShape(instance: object): void {
  latest.set(instance.constructor, instance);
}

/**
 * Keeps `instance` alive until RECENT_KEPT more have been kept. For a message's context: what hangs
 * off it depends on the path the message took (a challenged REGISTER creates no registrar
 * objects), so the last few contexts cover the paths that the traffic of the moment takes.
 */
export function keepRecent(instance: object): void {
  recent[next] = instance;
  next = (next + 1) % RECENT_KEPT;
}

/** The objects held now: one per class kept by keepShape, plus the recent ring's. */
export function keptCount(): number {
  return latest.size + recent.filter((o) => o !== undefined).length;
}

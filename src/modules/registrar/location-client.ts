import { ownString } from "../../util/own-string.ts";
import type { Binding, LookupResult, RegisterInput, Registrar } from "./index.ts";
import type { LocationService, SaveReply } from "./script.ts";

/** What the client needs of a Location object (durable-objects/location.ts). */
export interface LocationStub {
  /**
   * `copy`: the Location object counts this shard as holding the reply's binding list
   * (durable-objects/location-copies.ts); `rowsWritten`: the storage rows the REGISTER cost it.
   */
  save(input: RegisterInput, config: Registrar["config"]): Promise<SaveReply & { bindings?: Binding[]; changed?: boolean; copy?: boolean; rowsWritten?: number }>;
  lookup(): Promise<LookupResult>;
  removeFlow(flowToken: string): Promise<unknown>;
}

interface Entry {
  bindings: Binding[];
  version: number;
  /** The expiry each binding has in the Location object (key: contact + flow). */
  stored: Map<string, number>;
  fetchedAt: number;
  /** False: a change at `version` left no copy here, and a slower reply older than it must not leave one. */
  usable: boolean;
}

const key = (b: Binding): string => `${b.contact}\n${b.flowToken ?? ""}`;

/**
 * A binding as the cache keeps it: its strings copied out of the REGISTER they came from (a
 * sliced Call-ID or User-Agent keeps the whole message alive, util/own-string.ts), since the entry
 * lives until the AOR's next refresh, minutes in production.
 */
function ownBinding(b: Binding): Binding {
  const own: Binding = { ...b, aor: ownString(b.aor), contact: ownString(b.contact), callId: ownString(b.callId) };
  if (b.instance !== undefined) own.instance = ownString(b.instance);
  if (b.path !== undefined) own.path = b.path.map(ownString);
  if (b.received !== undefined) own.received = ownString(b.received);
  if (b.flowToken !== undefined) own.flowToken = ownString(b.flowToken);
  if (b.userAgent !== undefined) own.userAgent = ownString(b.userAgent);
  return own;
}

/**
 * How long a cached binding list may answer refreshes, ms. The Location objects count on it
 * (durable-objects/location-copies.ts): a copy older than this answers nothing, so it need not be told.
 */
export const COPY_TTL_MS = 30_000;

export interface LocationClientOptions {
  /** How long a cached binding list may answer refreshes, ms (at most COPY_TTL_MS). */
  ttl?: number;
  clock?: () => number;
  /** Most AORs cached. */
  maxEntries?: number;
}

/**
 * The shard's view of the Location objects. DESIGN.md §3: a REGISTER refresh should touch no other
 * object and write nothing. A refresh that changes nothing but expiry and CSeq is answered from
 * the cached binding list while the Location object's copy of every refreshed binding still has
 * more than half of the newly granted interval to run; past that (or on any change, or when the
 * cache entry is older than `ttl`) the REGISTER goes to the Location object, which stays the truth.
 *
 * The Location object hands a copy only with its reply to a refresh (a REGISTER that changed
 * nothing) of a client that refreshes within COPY_TTL_MS, says so in the reply (`copy`), and tells
 * every shard it handed one when the binding set changes (`forget`), so a 200 answered here lists
 * what the Location object has. A REGISTER that changed the set leaves no copy: the next refresh
 * goes to the object and brings one (in a reconnect storm, where every REGISTER is a change,
 * nobody holds a copy and nobody has to be told). What remains
 * approximate: the Location object's expiry for a binding can trail the granted one by up to half
 * an interval (never exceed it), and an invalidation in flight races a refresh by a few ms.
 */
export class LocationClient implements LocationService {
  private readonly cache = new Map<string, Entry>();
  private readonly ttl: number;
  private readonly clock: () => number;
  private readonly maxEntries: number;

  constructor(
    private readonly stubFor: (aor: string) => LocationStub,
    private readonly registrar: Registrar,
    options: LocationClientOptions = {},
  ) {
    this.ttl = Math.min(options.ttl ?? COPY_TTL_MS, COPY_TTL_MS);
    this.clock = options.clock ?? Date.now;
    this.maxEntries = options.maxEntries ?? 50_000;
  }

  async save(input: RegisterInput): Promise<SaveReply> {
    const now = this.clock();
    const local = this.answerLocally(input, now);
    if (local) return local;
    const reply = await this.stubFor(input.aor).save(input, this.registrar.config);
    if (reply.ok) {
      // The Location object tells only the shards it handed a copy (durable-objects/location-copies.ts):
      // without one, this shard keeps none until a reply says it may.
      this.remember(input.aor, reply.version, now, reply.copy === true ? reply.bindings : undefined);
    } else {
      this.cache.delete(input.aor);
    }
    return reply;
  }

  lookup(aor: string): Promise<LookupResult> {
    return this.stubFor(aor).lookup();
  }

  /** The Location object says the AOR's binding set changed: the cached copy goes (false: there was none). */
  forget(aor: string): boolean {
    const held = this.cache.get(aor);
    this.cache.delete(aor);
    return held?.usable === true;
  }

  /** The socket of a flow closed: its bindings go (Kamailio `handle_lost_tcp`). */
  async removeFlow(aor: string, flowToken: string): Promise<void> {
    this.cache.delete(aor);
    await this.stubFor(aor).removeFlow(flowToken);
  }

  private answerLocally(input: RegisterInput, now: number): SaveReply | undefined {
    const entry = this.cache.get(input.aor);
    if (!entry?.usable || now - entry.fetchedAt > this.ttl) return undefined;
    const result = this.registrar.save(entry.bindings, input, now);
    if (!result.ok || result.changed) return undefined;
    for (const b of result.bindings) {
      const stored = entry.stored.get(key(b));
      if (stored === undefined || stored - now <= (b.expires - now) / 2) return undefined;
    }
    entry.bindings = result.bindings.map(ownBinding);
    return { ok: true, ...this.registrar.saveReply(result.bindings, input, now), version: entry.version };
  }

  /** The AOR's set at `version`: a copy to answer refreshes with, or (undefined) none may be kept. */
  private remember(aor: string, version: number, now: number, bindings: Binding[] | undefined): void {
    // Replies to two REGISTERs of one AOR may come back out of order: never go back to an older set.
    const held = this.cache.get(aor);
    if (held !== undefined && held.version > version) return;
    if (held === undefined && this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
    const kept = bindings ?? [];
    this.cache.set(aor, { bindings: kept, version, stored: new Map(kept.map((b) => [key(b), b.expires])), fetchedAt: now, usable: bindings !== undefined });
  }
}

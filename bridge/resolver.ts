/**
 * Destination resolution for UDP (RFC 3263 §4.2, without NAPTR: the edge names the transport).
 * An IP literal needs nothing. A host name with a port gets an A (or AAAA) lookup. A host name
 * without a port gets an SRV lookup of `_sip._udp.<name>` first: "If no SRV records were found,
 * the client performs an A or AAAA record lookup of the domain name", with port 5060.
 * Results are cached (bounded, TTL-limited), failures briefly too, and concurrent lookups of one
 * name share one query.
 */
import { promises as dns } from "node:dns";
import { fail, ok, type Parsed } from "../src/sip/result.ts";
import type { Address, Target } from "./frame.ts";

export interface ResolverOptions {
  /** DNS servers (`ip` or `ip:port`); default: the system's. */
  servers?: string[];
  /** "A" for an IPv4 socket, "AAAA" for IPv6. */
  family?: 4 | 6;
  /** Longest time an answer is kept; DNS TTLs shorter than this win for A/AAAA. */
  maxTtlMs?: number;
  /** How long a failed lookup is remembered. */
  negativeTtlMs?: number;
  maxEntries?: number;
  /** Per-query timeout and tries (c-ares). */
  timeoutMs?: number;
  tries?: number;
  /** For weighted SRV choice; injectable for tests. */
  random?: () => number;
}

interface Candidate {
  address: string;
  port: number;
  priority: number;
  weight: number;
}

type CacheEntry = { expires: number; result: Parsed<Candidate[]> };

const DEFAULT_SIP_PORT = 5060;

export class Resolver {
  private readonly dns: dns.Resolver;
  private readonly family: 4 | 6;
  private readonly maxTtlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly random: () => number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly pending = new Map<string, Promise<Parsed<Candidate[]>>>();

  constructor(options: ResolverOptions = {}) {
    this.dns = new dns.Resolver({ timeout: options.timeoutMs ?? 2_000, tries: options.tries ?? 2 });
    if (options.servers !== undefined && options.servers.length > 0) this.dns.setServers(options.servers);
    this.family = options.family ?? 4;
    this.maxTtlMs = options.maxTtlMs ?? 60_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 5_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.random = options.random ?? Math.random;
  }

  /** The answer without waiting, when there is one (IP literal or fresh cache entry). */
  resolveNow(target: Target): Parsed<Address> | undefined {
    if (target.ip !== 0) return ok({ address: target.host, port: target.port ?? DEFAULT_SIP_PORT });
    const hit = this.cache.get(cacheKey(target));
    if (hit === undefined || hit.expires <= Date.now()) return undefined;
    return this.pick(hit.result);
  }

  async resolve(target: Target): Promise<Parsed<Address>> {
    const now = this.resolveNow(target);
    if (now !== undefined) return now;
    const key = cacheKey(target);
    let query = this.pending.get(key);
    if (query === undefined) {
      query = this.lookup(target).finally(() => this.pending.delete(key));
      this.pending.set(key, query);
    }
    return this.pick(await query);
  }

  private async lookup(target: Target): Promise<Parsed<Candidate[]>> {
    let result: Parsed<Candidate[]>;
    let ttl = this.maxTtlMs;
    if (target.port === undefined) {
      const srv = await this.srv(target.host);
      if (srv.ok && srv.value.length > 0) {
        result = srv;
      } else {
        const a = await this.addresses(target.host, DEFAULT_SIP_PORT, 0, 0);
        result = a.result;
        ttl = Math.min(ttl, a.ttlMs);
      }
    } else {
      const a = await this.addresses(target.host, target.port, 0, 0);
      result = a.result;
      ttl = Math.min(ttl, a.ttlMs);
    }
    this.remember(cacheKey(target), result.ok ? ttl : this.negativeTtlMs, result);
    return result;
  }

  /** SRV records (RFC 2782), each target resolved to its addresses. */
  private async srv(name: string): Promise<Parsed<Candidate[]>> {
    let records: { name: string; port: number; priority: number; weight: number }[];
    try {
      records = await this.dns.resolveSrv("_sip._udp." + name);
    } catch (error) {
      return fail(dnsReason(error));
    }
    const out: Candidate[] = [];
    for (const r of records) {
      // RFC 2782: a target of "." means the service is decidedly not available at this domain.
      if (r.name === "" || r.name === ".") continue;
      const a = await this.addresses(r.name, r.port, r.priority, r.weight);
      if (a.result.ok) out.push(...a.result.value);
    }
    return out.length > 0 ? ok(out) : fail("SRV targets did not resolve");
  }

  private async addresses(
    name: string,
    port: number,
    priority: number,
    weight: number,
  ): Promise<{ result: Parsed<Candidate[]>; ttlMs: number }> {
    try {
      const answers = this.family === 6 ? await this.dns.resolve6(name, { ttl: true }) : await this.dns.resolve4(name, { ttl: true });
      if (answers.length === 0) return { result: fail("no address records"), ttlMs: this.negativeTtlMs };
      const ttlMs = Math.min(...answers.map((a) => a.ttl)) * 1000;
      return { result: ok(answers.map((a) => ({ address: a.address, port, priority, weight }))), ttlMs };
    } catch (error) {
      return { result: fail(dnsReason(error)), ttlMs: this.negativeTtlMs };
    }
  }

  private remember(key: string, ttlMs: number, result: Parsed<Candidate[]>): void {
    if (ttlMs <= 0) return;
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.delete(key);
    this.cache.set(key, { expires: Date.now() + ttlMs, result });
  }

  /**
   * RFC 2782: the lowest priority wins; among equal priorities a target is chosen at random with
   * probability proportional to its weight (weight 0 only when all are 0).
   */
  private pick(result: Parsed<Candidate[]>): Parsed<Address> {
    if (!result.ok) return result;
    let best = Infinity;
    for (const c of result.value) best = Math.min(best, c.priority);
    const top = result.value.filter((c) => c.priority === best);
    const total = top.reduce((sum, c) => sum + c.weight, 0);
    let chosen = top[0];
    if (total > 0) {
      let roll = this.random() * total;
      for (const c of top) {
        roll -= c.weight;
        if (roll < 0) {
          chosen = c;
          break;
        }
      }
    } else if (top.length > 1) {
      chosen = top[Math.floor(this.random() * top.length)];
    }
    if (chosen === undefined) return fail("no candidates");
    return ok({ address: chosen.address, port: chosen.port });
  }
}

function cacheKey(target: Target): string {
  return target.port === undefined ? target.host : target.host + ":" + target.port;
}

function dnsReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : String(error);
}

import type { SipRequest } from "../../sip/message.ts";
import { parseNameAddr } from "../../sip/name-addr.ts";
import { formatUri, isSipUri } from "../../sip/uri.ts";
import type { Target } from "../tm/types.ts";
import { aorOf, instanceKey, normalizeInstance, Q_UNSPECIFIED, type ContactInput, type LookupResult, type RegisterInput } from "./index.ts";
import type { SaveFailure } from "./errors.ts";

/** The answer of the Location object to a save. */
export type SaveReply =
  | { ok: true; status: 200; reason: "OK"; contacts: string[]; headers: [string, string][]; version: number }
  | (SaveFailure & { version: number });

/** Where bindings live (a Location object per AOR, reached through a cache). */
export interface LocationService {
  save(input: RegisterInput): Promise<SaveReply>;
  lookup(aor: string): Promise<LookupResult>;
}

/** The `aliases` table (Kamailio/OpenSIPS `lookup("aliases")`): an alias AOR's target URI, if it has one. */
export interface AliasService {
  lookup(user: string, domain: string): Promise<string | undefined>;
}

/**
 * What the registrar functions need from the host. The routing layer's `Services` includes this
 * slice; a script that calls a function whose service the host did not wire in fails loudly.
 */
export interface RegistrarServices {
  location?: LocationService;
  aliases?: AliasService;
  /** Whether a subscriber exists (480 vs 404 after a failed lookup). */
  subscriberExists?: (user: string, domain: string) => Promise<boolean>;
  /** Told when a REGISTER over this flow stored bindings (they go when the flow closes), with the instance key. */
  flowRegistered?: (aor: string, instance: string | undefined) => void;
  /**
   * Whether the request's flow is still open. A REGISTER whose client closed the socket (it gave
   * up waiting, and registers again over a new one) is not saved: the binding would name a dead
   * flow and its removal cost a second write.
   */
  flowOpen?: () => boolean;
}

/** The slice of a request context the registrar reads (a route's `RequestContext` is one). */
export interface RegistrarRequest {
  readonly msg: SipRequest;
  readonly source: { readonly ip: string; readonly transport: string; readonly flow?: string };
  readonly config: { readonly domain: string };
  readonly sl: { sendReply(status: number, reason: string, options?: { headers?: [string, string][] }): unknown };
  isMyself(host: string): boolean;
}

/** Kamailio `lookup("location")` as tm targets; 480 vs 404 is decided by whether the user exists. */
export type LookupOutcome = { found: true; aor: string; targets: Target[] } | { found: false; reason: "not-found" | "offline" };

/** Kamailio/OpenSIPS `lookup("aliases")`: the Request-URI was rewritten to the alias's target (`uri`). */
export type AliasOutcome = { found: true; aor: string; uri: string } | { found: false; reason: "not-found" };

export type SaveOutcome = { ok: true; contacts: number } | { ok: false; status: number; reason: string };

/** A numeric parameter: undefined when absent, NaN when present but not a number (→ 400). */
function number(value: string | null | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  return /^\s*[0-9]+(\.[0-9]*)?\s*$/.test(value) ? Number(value) : NaN;
}

/**
 * The `ctx.registrar` namespace: Kamailio registrar over the request at hand. `save` answers the
 * REGISTER itself (200 with every current binding, or the registrar's error), as Kamailio's
 * `save("location")` does.
 */
export class RegistrarScript {
  constructor(
    private readonly ctx: RegistrarRequest,
    private readonly services: RegistrarServices,
  ) {}

  private get location(): LocationService {
    return need(this.services.location, "location");
  }

  /**
   * Kamailio `lookup("location")` for the Request-URI: its bindings as targets (q-ordered, each
   * with the flow that reaches it). "offline" (the user exists but has no binding: the script
   * answers 480) is only told apart from "not-found" (404) for subscribers of this domain.
   *
   * `lookup("aliases")` (OpenSIPS, Kamailio's registrar over the `aliases` table): an alias AOR
   * of this domain has its Request-URI rewritten to the alias's target, which may be a local user
   * (look up "location" next) or a URI elsewhere (`is_myself` of the new Request-URI says which).
   */
  lookup(table?: "location"): Promise<LookupOutcome>;
  lookup(table: "aliases"): Promise<AliasOutcome>;
  async lookup(table: "location" | "aliases" = "location"): Promise<LookupOutcome | AliasOutcome> {
    if (table === "aliases") return this.lookupAlias();
    const aor = this.aorOf("ruri");
    if (!aor) return { found: false, reason: "not-found" };
    const result = await this.location.lookup(aor);
    if (result.found && result.contacts.length > 0) {
      const targets = result.contacts.map((c): Target => {
        const t: Target = { uri: c.uri, q: c.q === Q_UNSPECIFIED ? 1 : c.q };
        if (c.flowToken !== undefined) t.flow = c.flowToken;
        if (c.path !== undefined) t.path = c.path;
        if (c.instance !== undefined) t.successor = { aor, instance: instanceKey(c.instance, c.regId) };
        return t;
      });
      return { found: true, aor, targets };
    }
    const at = aor.lastIndexOf("@");
    const exists = this.services.subscriberExists ? await this.services.subscriberExists(aor.slice(0, at), aor.slice(at + 1)) : false;
    return { found: false, reason: exists ? "offline" : "not-found" };
  }

  /** Only aliases of this domain are looked up: an AOR elsewhere is no alias of ours. */
  private async lookupAlias(): Promise<AliasOutcome> {
    const uri = this.ctx.msg.ruri();
    if (!isSipUri(uri) || !uri.user || !this.ctx.isMyself(uri.host)) return { found: false, reason: "not-found" };
    const aor = aorOf(uri.user, this.ctx.config.domain);
    const at = aor.lastIndexOf("@");
    const target = await need(this.services.aliases, "aliases").lookup(aor.slice(0, at), aor.slice(at + 1));
    if (target === undefined) return { found: false, reason: "not-found" };
    this.ctx.msg.uri = target;
    return { found: true, aor, uri: target };
  }

  /** The address-of-record of a request's To URI (REGISTER) with aliases folded to the domain. */
  aorOf(target: "to" | "ruri" = "to"): string | undefined {
    const uri = target === "to" ? this.ctx.msg.to().uri : this.ctx.msg.ruri();
    if (!isSipUri(uri) || !uri.user) return undefined;
    return aorOf(uri.user, this.ctx.isMyself(uri.host) ? this.ctx.config.domain : uri.host);
  }

  /** Kamailio `save("location")`. */
  async save(_table: "location" = "location"): Promise<SaveOutcome> {
    const aor = this.aorOf("to");
    if (!aor) {
      this.ctx.sl.sendReply(400, "Bad To URI");
      return { ok: false, status: 400, reason: "Bad To URI" };
    }
    const input = this.registerInput(aor);
    if (!input) {
      this.ctx.sl.sendReply(400, "Bad Contact header");
      return { ok: false, status: 400, reason: "Bad Contact header" };
    }
    // No reply either: there is no socket to carry it (RFC 5626 §5.3's 430 names the reason).
    if (this.services.flowOpen?.() === false) return { ok: false, status: 430, reason: "Flow Failed" };
    const reply = await this.location.save(input);
    if (!reply.ok) {
      this.ctx.sl.sendReply(reply.status, reply.reason, { headers: reply.headers });
      return { ok: false, status: reply.status, reason: reply.reason };
    }
    if (input.contacts.length > 0 && !input.star) this.services.flowRegistered?.(aor, registeredInstance(input));
    const headers: [string, string][] = reply.contacts.map((c) => ["Contact", c]);
    this.ctx.sl.sendReply(200, "OK", { headers: [...headers, ...reply.headers] });
    return { ok: true, contacts: reply.contacts.length };
  }

  private registerInput(aor: string): RegisterInput | undefined {
    const msg = this.ctx.msg;
    const contacts: ContactInput[] = [];
    let star = false;
    for (const value of msg.headers.getAll("Contact")) {
      if (value.trim() === "*") {
        star = true;
        continue;
      }
      const parsed = parseNameAddr(value);
      if (!parsed.ok) return undefined;
      const { uri, params } = parsed.value;
      contacts.push({
        uri: formatUri(uri),
        expires: number(params.get("expires")),
        q: number(params.get("q")),
        instance: params.get("+sip.instance") ?? undefined,
        regId: number(params.get("reg-id")),
      });
    }
    const supported = msg.headers.getAll("Supported").map((t) => t.trim().toLowerCase());
    const path = msg.headers.getAll("Path");
    return {
      aor,
      callId: msg.callId,
      cseq: msg.cseq.seq,
      expiresHeader: number(msg.headers.get("Expires")),
      star,
      contacts,
      outbound: supported.includes("outbound"),
      path: path.length > 0 ? path : undefined,
      pathSupported: supported.includes("path"),
      received: `sip:${this.ctx.source.ip};transport=${this.ctx.source.transport}`,
      flowToken: this.ctx.source.flow,
      userAgent: msg.headers.get("User-Agent"),
    };
  }
}

function need<T>(service: T | undefined, name: string): T {
  if (service === undefined) throw new Error(`route script uses ${name}, but no ${name} service is wired in`);
  return service;
}

/** The instance key of the REGISTER's flow-bound contact (RFC 5626: one with an instance and, with outbound, a reg-id). */
function registeredInstance(input: RegisterInput): string | undefined {
  const c = input.contacts.find((c) => c.instance !== undefined && (c.expires ?? input.expiresHeader) !== 0);
  if (c?.instance === undefined) return undefined;
  return instanceKey(normalizeInstance(c.instance), input.outbound ? c.regId : undefined);
}

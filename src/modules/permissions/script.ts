import type { SqlDatabase } from "../../provisioning/db.ts";
import type { RequestContext } from "../../routing/context.ts";
import { isSipUri } from "../../sip/uri.ts";
import type { AddressRow } from "./address.ts";
import type { ConfigResult } from "./config-error.ts";
import { Permissions, type RuleFiles } from "./permissions.ts";
import type { TrustedRow } from "./trusted.ts";

/** The host's permissions: compiled once from D1 (and files), swapped on an admin reload. */
export type PermissionsSource = () => Promise<ConfigResult<Permissions>>;

/**
 * The `ctx.permissions` namespace: Kamailio permissions over the request at hand. Every check is
 * async only because the rules are loaded on first use; after that they answer from memory.
 * A failed load grants nothing (fail closed for trust: README failure policy) and allows
 * everything for the allow/deny files (fail open, as a missing file in Kamailio).
 */
export class PermissionsScript {
  constructor(
    private readonly ctx: RequestContext,
    private readonly load: PermissionsSource,
  ) {}

  private async rules(): Promise<Permissions | undefined> {
    const loaded = await this.load();
    if (loaded.ok) return loaded.value;
    this.ctx.log.error("permissions not loaded", { ...loaded.error });
    return undefined;
  }

  /** `allow_source_address([group])`: the source IP and port are in the address group. */
  async allowSourceAddress(group = 1): Promise<boolean> {
    const p = await this.rules();
    return p !== undefined && p.allowSourceAddress(group, this.ctx.source.ip, this.ctx.source.port ?? 0).allowed;
  }

  /** `allow_address(group, addr, port)`. */
  async allowAddress(group: number, addr: string, port: number): Promise<boolean> {
    const p = await this.rules();
    return p !== undefined && p.allowAddress(group, addr, port).allowed;
  }

  /** `allow_trusted()`: source IP, transport and From URI against the trusted table. */
  async allowTrusted(): Promise<boolean> {
    const p = await this.rules();
    if (p === undefined) return false;
    const from = this.ctx.msg.headers.get("From") ?? "";
    const m = /<([^>]*)>/.exec(from);
    const fromUri = m ? (m[1] as string) : (from.split(";")[0] ?? "").trim();
    return p.allowTrusted(this.ctx.source.ip, this.ctx.source.transport, fromUri, this.ctx.msg.uri).trusted;
  }

  /** `allow_routing(files)`: From URI with the Request-URI. */
  async allowRouting(files?: RuleFiles): Promise<boolean> {
    const p = await this.rules();
    return p === undefined || p.allowRouting(files, this.uriOf("From"), [this.ctx.msg.uri]);
  }

  /** `allow_register(files)`: To URI with every Contact URI. */
  async allowRegister(files?: RuleFiles): Promise<boolean> {
    const p = await this.rules();
    if (p === undefined) return true;
    const contacts = this.ctx.msg.headers.getAll("Contact");
    if (contacts.some((c) => c.trim() === "*")) return true;
    return p.allowRegister(files, this.uriOf("To"), contacts.map((c) => /<([^>]*)>/.exec(c)?.[1] ?? (c.split(";")[0] ?? "").trim()));
  }

  /** `allow_uri(files, uri)`: From URI with the given URI. */
  async allowUri(files: RuleFiles, uri: string): Promise<boolean> {
    const p = await this.rules();
    return p === undefined || p.allowUri(files, this.uriOf("From"), uri);
  }

  private uriOf(name: "From" | "To"): string {
    const uri = name === "From" ? this.ctx.msg.from().uri : this.ctx.msg.to().uri;
    if (isSipUri(uri)) return `${uri.scheme}:${uri.user ? `${uri.user}@` : ""}${uri.host}${uri.port ? `:${uri.port}` : ""}`;
    return "";
  }
}

/**
 * Compiles the permissions from the D1 `address` and `trusted` tables (Kamailio's columns) and
 * the `.allow` / `.deny` files in `permissions_rules`. A malformed row is an error naming the
 * table, the 1-based row and the column; a malformed rule file names the file, line and field.
 */
export async function compilePermissionsFromD1(db: SqlDatabase): Promise<ConfigResult<Permissions>> {
  const [address, trusted, rules] = await Promise.all([
    db.prepare("SELECT grp, ip_addr, mask, port, tag FROM address ORDER BY id").all<AddressRow>(),
    db.prepare("SELECT src_ip, proto, from_pattern, ruri_pattern, tag, priority FROM trusted ORDER BY id").all<TrustedRow>(),
    ruleFilesFromD1(db),
  ]);
  return Permissions.compile({ addressRows: address.results, trustedRows: trusted.results, ruleFiles: rules });
}

/**
 * The stored rule files by name. Without migration 0002 there are none: as in Kamailio, a
 * missing file allows everything (and the address/trusted tables still load).
 */
async function ruleFilesFromD1(db: SqlDatabase): Promise<Record<string, string>> {
  try {
    const { results } = await db.prepare("SELECT name, text FROM permissions_rules ORDER BY name").all<{ name: string; text: string }>();
    return Object.fromEntries(results.map((r) => [r.name, r.text]));
  } catch (err) {
    if (/no such table/i.test(String(err))) return {};
    throw err;
  }
}

/**
 * The per-object loader: compiled once on first use; `reload()` compiles again and swaps only
 * on success, so a bad edit leaves the running rules in force (Kamailio `addressReload`).
 */
export class PermissionsLoader {
  private current: Promise<ConfigResult<Permissions>> | undefined;

  constructor(private readonly db: SqlDatabase) {}

  readonly load: PermissionsSource = () => (this.current ??= compilePermissionsFromD1(this.db).catch((err: unknown) => {
    this.current = undefined; // a D1 hiccup is retried on the next request
    return { ok: false as const, error: { file: "address/trusted/permissions_rules", line: 0, field: "db", reason: String(err) } };
  }));

  async reload(): Promise<ConfigResult<Permissions>> {
    const next = await compilePermissionsFromD1(this.db);
    if (next.ok) this.current = Promise.resolve(next);
    return next;
  }
}

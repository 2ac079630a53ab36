import { AddressTable } from "./address.ts";
import type { AddressGroupMatch, AddressMatch, AddressRow } from "./address.ts";
import { configOk } from "./config-error.ts";
import type { ConfigResult } from "./config-error.ts";
import { EMPTY_RULES, decide, parseRuleFile, plainUri } from "./rules.ts";
import type { RuleFile } from "./rules.ts";
import { TrustedTable } from "./trusted.ts";
import type { TrustedMatch, TrustedRow } from "./trusted.ts";

/**
 * The permissions module: everything compiled once from its sources, then answered from
 * memory. To reload (admin `permissions.addressReload`), compile a new instance and swap it
 * in; a failed compile leaves the running one in place.
 */

export interface PermissionsConfig {
  /** Kamailio address file; takes precedence over `addressRows`, as `address_file` does. */
  readonly addressFile?: { readonly name: string; readonly text: string };
  /** Rows of the D1 `address` table. */
  readonly addressRows?: readonly AddressRow[];
  /** Rows of the D1 `trusted` table. */
  readonly trustedRows?: readonly TrustedRow[];
  /** Permission files by name (`"register.allow"`: text). A missing file is an empty one. */
  readonly ruleFiles?: Readonly<Record<string, string>>;
  readonly allowSuffix?: string;
  readonly denySuffix?: string;
  readonly defaultAllowFile?: string;
  readonly defaultDenyFile?: string;
}

/**
 * Which files a check reads: a basename (`"register"` → register.allow + register.deny), an
 * explicit pair (`allow_routing("rules.allow", "rules.deny")`), or undefined for the default
 * files (permissions.allow / permissions.deny).
 */
export type RuleFiles = string | { readonly allow: string; readonly deny: string } | undefined;

export class Permissions {
  readonly addresses: AddressTable;
  readonly trusted: TrustedTable;
  private readonly files: ReadonlyMap<string, RuleFile>;
  private readonly config: PermissionsConfig;
  private readonly pairs = new Map<string, { allow: RuleFile; deny: RuleFile }>();

  // Plain fields rather than parameter properties: the code must survive type stripping.
  private constructor(
    addresses: AddressTable,
    trusted: TrustedTable,
    files: ReadonlyMap<string, RuleFile>,
    config: PermissionsConfig,
  ) {
    this.addresses = addresses;
    this.trusted = trusted;
    this.files = files;
    this.config = config;
  }

  static compile(config: PermissionsConfig): ConfigResult<Permissions> {
    const addresses =
      config.addressFile !== undefined
        ? AddressTable.fromFile(config.addressFile.name, config.addressFile.text)
        : AddressTable.fromRows(config.addressRows ?? []);
    if (!addresses.ok) return addresses;
    const trusted = TrustedTable.fromRows(config.trustedRows ?? []);
    if (!trusted.ok) return trusted;
    const files = new Map<string, RuleFile>();
    for (const [name, text] of Object.entries(config.ruleFiles ?? {})) {
      const parsed = parseRuleFile(name, text);
      if (!parsed.ok) return parsed;
      files.set(name, parsed.value);
    }
    return configOk(new Permissions(addresses.value, trusted.value, files, config));
  }

  /** `allow_source_address([group])`: the request's source IP and port; group defaults to 1. */
  allowSourceAddress(group: number, ip: string, port: number): AddressMatch {
    return this.addresses.allowSourceAddress(group, ip, port);
  }

  /** `allow_address(group, addr, port)`: addr is an IP address or a domain name. */
  allowAddress(group: number, addr: string, port: number): AddressMatch {
    return this.addresses.allowAddress(group, addr, port);
  }

  /** `allow_address_group(addr, port)` / `allow_source_address_group()`. */
  allowAddressGroup(addr: string, port: number): AddressGroupMatch {
    return this.addresses.allowAddressGroup(addr, port);
  }

  /** `allow_trusted(src_ip, proto, from_uri)`. */
  allowTrusted(ip: string, proto: string, fromUri: string, ruri?: string): TrustedMatch {
    return this.trusted.allowTrusted(ip, proto, fromUri, ruri);
  }

  /**
   * `allow_routing`: pairs of the From URI with the Request-URI and every branch URI
   * (`targets`, Request-URI first); all must pass (check_all_branches=1).
   */
  allowRouting(files: RuleFiles, fromUri: string, targets: readonly string[]): boolean {
    const { allow, deny } = this.ruleSet(files);
    return decide(allow, deny, fromUri, targets.map(plainUri));
  }

  /**
   * `allow_register`: pairs of the To URI with each Contact URI. A REGISTER without Contacts
   * or with `Contact: *` changes no binding to a forbidden address and is allowed.
   */
  allowRegister(files: RuleFiles, toUri: string, contacts: readonly string[] | "*"): boolean {
    if (contacts === "*" || contacts.length === 0) return true;
    const { allow, deny } = this.ruleSet(files);
    return decide(allow, deny, toUri, contacts.map(plainUri));
  }

  /** `allow_uri(basename, pvar)`: the From URI with the given URI, as given. */
  allowUri(files: RuleFiles, fromUri: string, uri: string): boolean {
    const { allow, deny } = this.ruleSet(files);
    return decide(allow, deny, fromUri, [uri]);
  }

  /** Names of the loaded permission files, for admin listing. */
  ruleFileNames(): string[] {
    return [...this.files.keys()];
  }

  private ruleSet(files: RuleFiles): { allow: RuleFile; deny: RuleFile } {
    const key = files === undefined ? "" : typeof files === "string" ? files : `${files.allow}\n${files.deny}`;
    let pair = this.pairs.get(key);
    if (pair === undefined) {
      const c = this.config;
      const [allowName, denyName] =
        files === undefined
          ? [c.defaultAllowFile ?? "permissions.allow", c.defaultDenyFile ?? "permissions.deny"]
          : typeof files === "string"
            ? [files + (c.allowSuffix ?? ".allow"), files + (c.denySuffix ?? ".deny")]
            : [files.allow, files.deny];
      pair = { allow: this.files.get(allowName) ?? EMPTY_RULES, deny: this.files.get(denyName) ?? EMPTY_RULES };
      this.pairs.set(key, pair);
    }
    return pair;
  }
}

import type { SipRequest } from "../../sip/message.ts";
import { parseNameAddr } from "../../sip/name-addr.ts";

export type SanityResult =
  | { ok: true }
  | { ok: false; status: number; reason: string; headers?: [string, string][]; check: string };

export interface SanityOptions {
  /** Option tags this proxy supports in Proxy-Require (RFC 3261 §16.3 item 4). */
  supported?: readonly string[];
}

type Failure = Omit<Extract<SanityResult, { ok: false }>, "ok" | "check">;
type Check = (msg: SipRequest, options: SanityOptions) => Failure | undefined;

const SUPPORTED_SCHEMES = new Set(["sip", "sips", "tel"]);

/**
 * RFC 3261 §16.3 item 2 (and §8.2.2.1): "If the Request-URI has a URI whose scheme is not
 * understood by the proxy, the proxy SHOULD reject the request with a 416 (Unsupported URI Scheme)".
 */
function rfc3261_16_3_requestUriScheme(msg: SipRequest): Failure | undefined {
  const scheme = msg.ruri().scheme.toLowerCase();
  if (SUPPORTED_SCHEMES.has(scheme)) return undefined;
  return { status: 416, reason: "Unsupported URI Scheme" };
}

/**
 * RFC 3261 §16.3 item 4: "If the request contains a Proxy-Require header field with one or more
 * option-tags this element does not understand, the element MUST return a 420 (Bad Extension)
 * response. The response MUST include an Unsupported header field".
 */
function rfc3261_16_3_proxyRequire(msg: SipRequest, options: SanityOptions): Failure | undefined {
  const required = msg.headers.getAll("Proxy-Require");
  if (required.length === 0) return undefined;
  const supported = options.supported ?? [];
  const unsupported = required.map((t) => t.trim()).filter((t) => t && !supported.includes(t.toLowerCase()));
  if (unsupported.length === 0) return undefined;
  return { status: 420, reason: "Bad Extension", headers: [["Unsupported", unsupported.join(", ")]] };
}

/** RFC 3261 §20.19: Expires = "Expires" HCOLON delta-seconds (1*DIGIT). */
function rfc3261_20_19_expires(msg: SipRequest): Failure | undefined {
  const value = msg.headers.get("Expires");
  if (value === undefined || /^[0-9]{1,10}$/.test(value.trim())) return undefined;
  return { status: 400, reason: "Bad Expires header" };
}

/**
 * RFC 3261 §20.10: each Contact is a name-addr or addr-spec; `*` only in a REGISTER (§10.2.2).
 * Checked where the proxy will act on it: REGISTER (the registrar stores it) and dialog-creating
 * requests (it becomes the remote target).
 */
function rfc3261_20_10_contact(msg: SipRequest): Failure | undefined {
  if (msg.method !== "REGISTER" && msg.method !== "INVITE" && msg.method !== "SUBSCRIBE") return undefined;
  for (const value of msg.headers.getAll("Contact")) {
    if (value.trim() === "*") {
      if (msg.method === "REGISTER") continue;
      return { status: 400, reason: "Bad Contact header" };
    }
    if (!parseNameAddr(value).ok) return { status: 400, reason: "Bad Contact header" };
  }
  return undefined;
}

/** The checks in the order they run; each is named after the rule it enforces. */
export const SANITY_CHECKS: readonly Check[] = [
  rfc3261_16_3_requestUriScheme,
  rfc3261_16_3_proxyRequire,
  rfc3261_20_19_expires,
  rfc3261_20_10_contact,
];

/**
 * Kamailio `sanity` (`sanity_check()`): the checks the parser leaves to the script. The parser
 * already refuses what breaks framing (start line, Via, From, To, Call-ID, CSeq, Content-Length).
 */
export class Sanity {
  constructor(
    private readonly msg: SipRequest,
    private readonly options: SanityOptions = {},
  ) {}

  check(): SanityResult {
    for (const check of SANITY_CHECKS) {
      const failure = check(this.msg, this.options);
      if (failure) return { ok: false, check: check.name, ...failure };
    }
    return { ok: true };
  }
}

/**
 * fast-check generators for the SIP grammars (RFC 3261 §25.1, RFC 3966, RFC 5118), producing
 * wire text that must parse. Each generator draws from the whole grammar, not from examples:
 * escapes, every token character, IPv6 in all its spellings, quoted strings needing escapes.
 */
import fc from "fast-check";

const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const chars = (set: string) => fc.constantFrom(...set.split(""));
const hex2 = fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, "0")}`);

export const token = fc.string({ unit: chars(ALNUM + "-.!%*_+`'~"), minLength: 1, maxLength: 12 });
export const lowerToken = fc.string({ unit: chars("abcdefghijklmnopqrstuvwxyz0123456789-"), minLength: 1, maxLength: 10 });
export const method = fc.oneof(fc.constantFrom("INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "MESSAGE", "PRACK", "UPDATE", "INFO", "REFER", "NOTIFY", "SUBSCRIBE"), token);

const label = fc.stringMatching(/^[a-zA-Z0-9](?:[a-zA-Z0-9_-]{0,10}[a-zA-Z0-9])?$/);
const topLabel = fc.stringMatching(/^[a-zA-Z](?:[a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?$/);
export const hostname = fc.tuple(fc.array(label, { maxLength: 3 }), topLabel, fc.boolean()).map(([ls, top, dot]) => [...ls, top].join(".") + (dot ? "." : ""));
export const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join("."));

/** Eight 16-bit groups and one of their RFC 4291 spellings (compression, case, IPv4 tail). */
export const ipv6Groups = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });

export function ipv6Text(groups: number[], style: { compressAt: number; compressLen: number; upper: boolean; v4Tail: boolean; pad: boolean }): string {
  const hex = (g: number) => {
    const h = style.pad ? g.toString(16).padStart(4, "0") : g.toString(16);
    return style.upper ? h.toUpperCase() : h;
  };
  let parts = groups.map(hex);
  if (style.v4Tail) {
    const [a = 0, b = 0] = groups.slice(6);
    parts = [...parts.slice(0, 6), `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`];
  }
  const n = parts.length;
  const start = Math.min(style.compressAt, n - 1);
  const len = Math.min(style.compressLen, n - start);
  // Only zero groups may be compressed, and never the IPv4 tail.
  const zeros = parts.slice(start, start + len).every((p, i) => groups[start + i] === 0 && !p.includes("."));
  if (len < 1 || !zeros) return parts.join(":");
  return `${parts.slice(0, start).join(":")}::${parts.slice(start + len).join(":")}`;
}

export const ipv6Style = fc.record({
  compressAt: fc.nat(7),
  compressLen: fc.integer({ min: 0, max: 8 }),
  upper: fc.boolean(),
  v4Tail: fc.boolean(),
  pad: fc.boolean(),
});

export const ipv6 = fc.oneof(fc.ipV6(), fc.tuple(ipv6Groups, ipv6Style).map(([g, s]) => ipv6Text(g, s)));
export const host = fc.oneof(hostname, ipv4, ipv6.map((a) => `[${a}]`));
const port = fc.option(fc.nat(65535), { nil: undefined });

/** user = 1*( unreserved / escaped / user-unreserved ) */
const userPart = fc.string({ unit: fc.oneof({ weight: 8, arbitrary: chars(ALNUM + "-_.!~*'()&=+$,;?/") }, { weight: 1, arbitrary: hex2 }), minLength: 1, maxLength: 16 });
const password = fc.string({ unit: fc.oneof(chars(ALNUM + "-_.!~*'()&=+$,"), hex2), maxLength: 8 });
const paramName = fc.string({ unit: fc.oneof({ weight: 8, arbitrary: chars("abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()[]/:&+$") }, { weight: 1, arbitrary: hex2 }), minLength: 1, maxLength: 10 });
const paramValue = fc.string({ unit: fc.oneof(chars(ALNUM + "-_.!~*'()[]/:&+$"), hex2), minLength: 1, maxLength: 12 });
const hnv = fc.string({ unit: fc.oneof(chars(ALNUM + "-_.!~*'()[]/?:+$"), hex2), minLength: 1, maxLength: 10 });

function uniqueBy<T>(arb: fc.Arbitrary<T[]>, key: (t: T) => string): fc.Arbitrary<T[]> {
  return arb.map((items) => {
    const seen = new Set<string>();
    return items.filter((t) => !seen.has(key(t)) && (seen.add(key(t)), true));
  });
}

const decodeKey = (name: string) => {
  try {
    return decodeURIComponent(name).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
};

const uriParams = uniqueBy(fc.array(fc.tuple(paramName, fc.option(paramValue, { nil: undefined })), { maxLength: 4 }), ([n]) => decodeKey(n)).map((ps) =>
  ps.map(([n, v]) => `;${n}${v === undefined ? "" : `=${v}`}`).join(""),
);
const uriHeaders = uniqueBy(fc.array(fc.tuple(hnv, fc.string({ unit: fc.oneof(chars(ALNUM + "-_.!~*'()[]/?:+$"), hex2), maxLength: 10 })), { maxLength: 3 }), ([n]) => decodeKey(n)).map((hs) =>
  hs.length === 0 ? "" : "?" + hs.map(([n, v]) => `${n}=${v}`).join("&"),
);

export interface UriOptions {
  /** Request-URIs allow neither headers nor the method parameter (RFC 3261 §19.1.1). */
  requestUri?: boolean;
}

export function sipUri(options: UriOptions = {}): fc.Arbitrary<string> {
  return fc
    .record({
      scheme: fc.constantFrom("sip", "sips", "SIP", "Sip"),
      user: fc.option(fc.tuple(userPart, fc.option(password, { nil: undefined })), { nil: undefined }),
      host,
      port,
      params: options.requestUri ? uriParams.filter((p) => !/;method(=|;|$)/i.test(p)) : uriParams,
      headers: options.requestUri ? fc.constant("") : uriHeaders,
    })
    .map(({ scheme, user, host, port, params, headers }) => {
      const userinfo = user === undefined ? "" : `${user[0]}${user[1] === undefined ? "" : `:${user[1]}`}@`;
      return `${scheme}:${userinfo}${host}${port === undefined ? "" : `:${port}`}${params}${headers}`;
    });
}

/** RFC 3966: a global number (visual separators allowed) or a local one with phone-context. */
export const telUri = fc.oneof(
  fc.tuple(fc.stringMatching(/^\+[0-9][0-9().-]{0,14}$/), fc.constantFrom("", ";ext=12", ";isub=7;x-y=z")).map(([n, p]) => `tel:${n}${p}`),
  fc.tuple(fc.stringMatching(/^[0-9a-fA-F*#][0-9a-fA-F*#().-]{0,10}$/), fc.constantFrom("+1-201", "example.com")).map(([n, ctx]) => `tel:${n};phone-context=${ctx}`),
);

export const anyUri = fc.oneof({ weight: 4, arbitrary: sipUri() }, { weight: 1, arbitrary: telUri });

/** Display names of any printable text (the formatter quotes them), or plain token words. */
export const displayName = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 16 }).filter((s) => !/[\x00-\x1f\x7f]/.test(s)),
  fc.array(token, { minLength: 1, maxLength: 3 }).map((ws) => ws.join(" ")),
);

const quotedString = fc.string({ unit: "grapheme-ascii", maxLength: 12 }).filter((s) => !/[\x00-\x1f\x7f]/.test(s)).map((s) => `"${s.replace(/["\\]/g, "\\$&")}"`);
const genValue = fc.oneof(token, host, quotedString);
export const headerParams = uniqueBy(fc.array(fc.tuple(token, fc.option(genValue, { nil: undefined })), { maxLength: 4 }), ([n]) => n.toLowerCase()).map((ps) =>
  ps.map(([n, v]) => `;${n}${v === undefined ? "" : `=${v}`}`).join(""),
);

/** From/To/Contact/Route values: name-addr (quoted or token display name) or addr-spec. */
export const nameAddr = fc.oneof(
  fc.tuple(fc.option(displayName, { nil: undefined }), anyUri, headerParams).map(([dn, uri, ps]) => `${dn === undefined ? "" : `"${dn.replace(/["\\]/g, "\\$&")}" `}<${uri}>${ps}`),
  fc.tuple(anyUri.filter((u) => !/[;?,]/.test(u)), headerParams).map(([uri, ps]) => `${uri}${ps}`),
);

const viaTransport = fc.oneof(fc.constantFrom("UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "udp", "wss"), token);
const viaParams = fc
  .record({
    branch: fc.option(token.map((t) => `z9hG4bK${t}`), { nil: undefined }),
    received: fc.option(fc.oneof(ipv4, ipv6, ipv6.map((a) => `[${a}]`)), { nil: undefined }),
    rport: fc.option(fc.option(fc.nat(65535), { nil: undefined }), { nil: null }),
    ttl: fc.option(fc.nat(255), { nil: undefined }),
    maddr: fc.option(host, { nil: undefined }),
    extra: headerParams.filter((p) => !/;(branch|received|rport|ttl|maddr)(=|;|$)/i.test(p)),
  })
  .map((p) => {
    let out = "";
    if (p.branch !== undefined) out += `;branch=${p.branch}`;
    if (p.received !== undefined) out += `;received=${p.received}`;
    if (p.rport !== null) out += p.rport === undefined ? ";rport" : `;rport=${p.rport}`;
    if (p.ttl !== undefined) out += `;ttl=${p.ttl}`;
    if (p.maddr !== undefined) out += `;maddr=${p.maddr}`;
    return out + p.extra;
  });

export const via = fc.tuple(viaTransport, host, port, viaParams).map(([t, h, p, ps]) => `SIP/2.0/${t} ${h}${p === undefined ? "" : `:${p}`}${ps}`);
export const cseq = fc.tuple(fc.integer({ min: 0, max: 0x7fffffff }), method);
const callId = fc.tuple(fc.stringMatching(/^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]{1,20}$/), fc.option(hostname, { nil: undefined })).map(([w, h]) => (h === undefined ? w : `${w}@${h}`));

/** Digest credential fields, including ones that need quoting (quotes, backslashes, commas). */
export const digestField = fc.string({ unit: "grapheme", minLength: 1, maxLength: 16 }).filter((s) => !/[\x00-\x1f\x7f]/.test(s));
export const credentials = fc.record({
  username: digestField,
  realm: digestField,
  password: fc.string({ maxLength: 12 }),
  uri: sipUri({ requestUri: true }),
  cnonce: digestField,
  algorithm: fc.constantFrom("MD5", "SHA-256", "MD5-sess", "SHA-256-sess"),
  qop: fc.constantFrom<"auth" | undefined>("auth", undefined),
  nc: fc.integer({ min: 1, max: 0xffffffff }).map((n) => n.toString(16).padStart(8, "0")),
  method,
});

/** A whole request every element must accept: the headers each hop reads, drawn from the grammar. */
export const request = fc
  .record({
    method,
    ruri: fc.oneof(sipUri({ requestUri: true }), telUri),
    vias: fc.array(via, { minLength: 1, maxLength: 3 }),
    from: nameAddr,
    to: nameAddr,
    callId,
    seq: fc.integer({ min: 0, max: 0x7fffffff }),
    maxForwards: fc.option(fc.nat(255), { nil: undefined }),
    compact: fc.boolean(),
    body: fc.string({ unit: "grapheme", maxLength: 40 }),
    lf: fc.boolean(),
  })
  .map((r) => {
    const n = (full: string, short: string) => (r.compact ? short : full);
    const lines = [
      `${r.method} ${r.ruri} SIP/2.0`,
      ...r.vias.map((v) => `${n("Via", "v")}: ${v}`),
      `${n("From", "f")}: ${r.from}`,
      `${n("To", "t")}: ${r.to}`,
      `${n("Call-ID", "i")}: ${r.callId}`,
      `CSeq: ${r.seq} ${r.method}`,
      ...(r.maxForwards === undefined ? [] : [`Max-Forwards: ${r.maxForwards}`]),
      `${n("Content-Length", "l")}: ${new TextEncoder().encode(r.body).length}`,
      "",
      r.body,
    ];
    return lines.join(r.lf ? "\n" : "\r\n");
  });

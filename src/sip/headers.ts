/**
 * The header model: ordered header lines that remember their exact received text, so headers the
 * proxy never touches go back out byte for byte, and a name table that folds case and the compact
 * forms of RFC 3261 §7.3.3 (plus later RFCs) onto one lower-case key.
 */

/** RFC 3261 §7.3.3 and the registry of compact forms (RFC 3265, 3515, 3892, 3841, 4028, 4474). */
const COMPACT_FORMS: Readonly<Record<string, string>> = {
  a: "accept-contact",
  b: "referred-by",
  c: "content-type",
  d: "request-disposition",
  e: "content-encoding",
  f: "from",
  i: "call-id",
  j: "reject-contact",
  k: "supported",
  l: "content-length",
  m: "contact",
  n: "identity-info",
  o: "event",
  r: "refer-to",
  s: "subject",
  t: "to",
  u: "allow-events",
  v: "via",
  x: "session-expires",
  y: "identity",
};

/** How each known header is spelled when sipedge writes a new line for it. */
const DISPLAY_NAMES: ReadonlyMap<string, string> = new Map(
  [
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length", "Content-Type",
    "CSeq", "Date", "Error-Info", "Event", "Expires", "Flow-Timer", "From", "History-Info", "Identity",
    "Identity-Info", "In-Reply-To", "Max-Forwards", "Min-Expires", "Min-SE", "MIME-Version",
    "Organization", "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Priority", "Privacy",
    "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason", "Record-Route",
    "Refer-To", "Referred-By", "Reject-Contact", "Reply-To", "Request-Disposition", "Require",
    "Retry-After", "Route", "RSeq", "Security-Client", "Security-Server", "Security-Verify",
    "Server", "Service-Route", "Session-Expires", "SIP-ETag", "SIP-If-Match", "Subject",
    "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent", "Via",
    "Warning", "WWW-Authenticate",
  ].map((name) => [name.toLowerCase(), name]),
);

/**
 * Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1: "it MUST be possible to
 * combine the multiple header field rows into one ... separated by a comma"). Their values are
 * split at top-level commas. Authorization and the challenges are not lists: their commas separate
 * auth-params.
 */
const LIST_HEADERS: ReadonlySet<string> = new Set([
  "accept", "accept-contact", "accept-encoding", "accept-language", "alert-info", "allow",
  "allow-events", "call-info", "contact", "content-encoding", "content-language", "error-info",
  "history-info", "in-reply-to", "p-asserted-identity", "p-preferred-identity", "path",
  "proxy-require", "reason", "record-route", "reject-contact", "require", "route",
  "security-client", "security-server", "security-verify", "service-route", "supported",
  "unsupported", "via", "warning",
]);

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") (RFC 3261 §25.1) */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~") {
  TOKEN_CHARS[c.charCodeAt(0)] = 1;
}

export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}

/**
 * Names seen on the wire, as written, mapped to their key. Almost every message repeats the same
 * dozen spellings, so the lower-casing and compact-form lookup happen once per spelling, not once
 * per header line. Bounded, so a peer sending random names cannot grow it without limit.
 */
const keyCache = new Map<string, string>();
const KEY_CACHE_LIMIT = 4096;

function computeKey(name: string): string {
  const lower = name.toLowerCase();
  return (lower.length === 1 ? COMPACT_FORMS[lower] : undefined) ?? lower;
}

/**
 * The lookup key of a header name: lower case, compact form expanded ("v", "VIA" → "via").
 * Returns undefined when the name is not a token (so it cannot be a header name).
 */
export function headerKey(name: string): string | undefined {
  const cached = keyCache.get(name);
  if (cached !== undefined) return cached;
  if (!isToken(name)) return undefined;
  const key = computeKey(name);
  if (keyCache.size < KEY_CACHE_LIMIT) keyCache.set(name, key);
  return key;
}

/** A header name as commonly spelled on the wire, with its key. */
export interface KnownName {
  readonly name: string;
  readonly key: string;
}

/**
 * The usual spellings (as JsSIP, SIP.js, Kamailio and phones write them, and the compact
 * forms), indexed by length and first char, so the parser can recognise a name in place without
 * cutting it out of the message and hashing it.
 */
const KNOWN_NAMES = new Map<number, KnownName[]>();
for (const name of [...DISPLAY_NAMES.values(), "Call-Id", "CSEQ", "Cseq", ...Object.keys(COMPACT_FORMS)]) {
  const slot = name.length * 256 + name.charCodeAt(0);
  const list = KNOWN_NAMES.get(slot) ?? [];
  list.push({ name, key: computeKey(name) });
  KNOWN_NAMES.set(slot, list);
}

/** The known name written at text[start, end), if it is one (exact spelling), without allocating. */
export function knownName(text: string, start: number, end: number): KnownName | undefined {
  const length = end - start;
  const list = KNOWN_NAMES.get(length * 256 + text.charCodeAt(start));
  if (list === undefined) return undefined;
  for (const known of list) {
    if (known.name.length === length && sameChars(text, start, known.name)) return known;
  }
  return undefined;
}

/** text[start, start + name.length) === name, compared in place (no substring). */
function sameChars(text: string, start: number, name: string): boolean {
  for (let i = 1; i < name.length; i++) {
    if (text.charCodeAt(start + i) !== name.charCodeAt(i)) return false;
  }
  return true;
}

/** Key for an API argument: like headerKey, but never fails (callers name headers in code). */
function apiKey(name: string): string {
  return headerKey(name) ?? computeKey(name);
}

/** The conventional spelling of a header ("call-id" → "Call-ID"); unknown keys come back as given. */
export function displayName(key: string): string {
  return DISPLAY_NAMES.get(key) ?? key;
}

export function isListHeader(key: string): boolean {
  return LIST_HEADERS.has(key);
}

/**
 * Splits a list header value at commas that are outside quoted strings and outside <...>, trims
 * the elements and drops empty ones ("a, , b" is two elements). "Contact: *" stays one element.
 */
export function splitList(value: string): string[] {
  if (value.indexOf(",") === -1) {
    return value.length === 0 ? [] : [value];
  }
  const out: string[] = [];
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c) i++; // quoted-pair: the next char is literal
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) {
      inQuote = true;
    } else if (c === 0x3c) {
      inAngle = true;
    } else if (c === 0x3e) {
      inAngle = false;
    } else if (c === 0x2c && !inAngle) {
      pushTrimmed(out, value, start, i);
      start = i + 1;
    }
  }
  pushTrimmed(out, value, start, value.length);
  return out;
}

function pushTrimmed(out: string[], value: string, start: number, end: number): void {
  while (start < end && isWsp(value.charCodeAt(start))) start++;
  while (end > start && isWsp(value.charCodeAt(end - 1))) end--;
  if (end > start) out.push(value.slice(start, end));
}

export function isWsp(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * One header line. `raw` is the line exactly as received (folding included, line end excluded);
 * a line the proxy created or changed has no raw and is written as `name: value`.
 */
export class HeaderLine {
  /** The name as written on the wire ("v", "ViA") or, for new lines, the conventional spelling. */
  readonly name: string;
  /** Lower-case full name: the lookup key ("via" for "v"). */
  readonly key: string;
  /** The value with folding replaced by one SP and surrounding whitespace removed. */
  readonly value: string;
  readonly raw: string | undefined;
  private cachedElements: string[] | undefined;

  constructor(name: string, key: string, value: string, raw?: string) {
    this.name = name;
    this.key = key;
    this.value = value;
    this.raw = raw;
    this.cachedElements = undefined;
  }

  /** The value elements: split at top-level commas for list headers, else the one value. */
  elements(): readonly string[] {
    if (this.cachedElements === undefined) {
      this.cachedElements = LIST_HEADERS.has(this.key) ? splitList(this.value) : [this.value];
    }
    return this.cachedElements;
  }
}

/** Told which header changed, so the message can drop what it parsed from it. */
export interface HeaderOwner {
  headerChanged(key: string): void;
}

/**
 * The ordered header lines of one message. Every `name` argument accepts any case and the
 * compact forms. Changing lines never edits a HeaderLine in place: the changed line is replaced by
 * a new one without `raw`, which is how the serializer knows what to rewrite.
 */
export class HeaderList {
  private readonly list: HeaderLine[];
  /** @internal the message these headers belong to (set by the message constructor). */
  owner: HeaderOwner | undefined;

  constructor(lines: HeaderLine[] = []) {
    this.list = lines;
    this.owner = undefined;
  }

  lines(): readonly HeaderLine[] {
    return this.list;
  }

  /** The first value element (for list headers the first comma-separated element). */
  get(name: string): string | undefined {
    const key = apiKey(name);
    for (const line of this.list) {
      if (line.key !== key) continue;
      const first = line.elements()[0];
      if (first !== undefined) return first;
    }
    return undefined;
  }

  /** All value elements of that header, in order, across all its lines. */
  getAll(name: string): string[] {
    const key = apiKey(name);
    const out: string[] = [];
    for (const line of this.list) {
      if (line.key === key) out.push(...line.elements());
    }
    return out;
  }

  has(name: string): boolean {
    const key = apiKey(name);
    return this.list.some((line) => line.key === key);
  }

  /** Replaces all lines of that header by one line, at the place of the first (else at the end). */
  set(name: string, value: string): void {
    const key = apiKey(name);
    const line = new HeaderLine(this.nameFor(key, name), key, value);
    const first = this.indexOf(key);
    if (first === -1) {
      this.list.push(line);
    } else {
      this.list[first] = line;
      for (let i = this.list.length - 1; i > first; i--) {
        if (this.list[i]?.key === key) this.list.splice(i, 1);
      }
    }
    this.owner?.headerChanged(key);
  }

  /** Adds a line after all other lines. */
  append(name: string, value: string): void {
    const key = apiKey(name);
    this.list.push(new HeaderLine(this.nameFor(key, name), key, value));
    this.owner?.headerChanged(key);
  }

  /** Adds a line before the first line of that header (Via, Record-Route), else at the top. */
  prepend(name: string, value: string): void {
    const key = apiKey(name);
    const first = this.indexOf(key);
    this.list.splice(first === -1 ? 0 : first, 0, new HeaderLine(this.nameFor(key, name), key, value));
    this.owner?.headerChanged(key);
  }

  /** Removes every line of that header; returns how many lines went. */
  remove(name: string): number {
    const key = apiKey(name);
    let removed = 0;
    for (let i = this.list.length - 1; i >= 0; i--) {
      if (this.list[i]?.key === key) {
        this.list.splice(i, 1);
        removed++;
      }
    }
    if (removed > 0) this.owner?.headerChanged(key);
    return removed;
  }

  /**
   * Pops the first value element (the top Via on a response, the top Route on loose routing),
   * keeping the other elements of that line in place.
   */
  removeFirstValue(name: string): string | undefined {
    const key = apiKey(name);
    for (let i = 0; i < this.list.length; i++) {
      const line = this.list[i];
      if (line === undefined || line.key !== key) continue;
      const elements = line.elements();
      const first = elements[0];
      if (first === undefined) continue;
      if (elements.length === 1) {
        this.list.splice(i, 1);
      } else {
        this.list[i] = new HeaderLine(line.name, key, elements.slice(1).join(", "));
      }
      this.owner?.headerChanged(key);
      return first;
    }
    return undefined;
  }

  /**
   * Replaces the first value element (e.g. the top Via after stamping received/rport), keeping
   * the other elements of that line. Returns false when the header is absent.
   */
  replaceFirstValue(name: string, value: string): boolean {
    const key = apiKey(name);
    for (let i = 0; i < this.list.length; i++) {
      const line = this.list[i];
      if (line === undefined || line.key !== key) continue;
      const elements = line.elements();
      if (elements.length === 0) continue;
      const joined = elements.length === 1 ? value : [value, ...elements.slice(1)].join(", ");
      this.list[i] = new HeaderLine(line.name, key, joined);
      this.owner?.headerChanged(key);
      return true;
    }
    return false;
  }

  private indexOf(key: string): number {
    for (let i = 0; i < this.list.length; i++) {
      if (this.list[i]?.key === key) return i;
    }
    return -1;
  }

  /** New lines of a known header use its conventional spelling; unknown ones keep the caller's. */
  private nameFor(key: string, given: string): string {
    return DISPLAY_NAMES.get(key) ?? given;
  }
}

/**
 * callid = word [ "@" word ]; word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`"
 * / "'" / "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
 */
const WORD_CHARS = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~()<>:\\\"/[]?{}") {
  WORD_CHARS[c.charCodeAt(0)] = 1;
}

export function isCallId(text: string): boolean {
  let at = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x40 && at === -1) at = i;
    else if (c >= 128 || WORD_CHARS[c] === 0) return false;
  }
  return text.length > 0 && at !== 0 && at !== text.length - 1;
}

// A raw SIP-over-WebSocket user agent for end-to-end tests, on the real `ws` library. It writes
// requests by hand and reads messages with plain string handling (independent of the parser under
// test), answers digest challenges itself (RFC 2617 / RFC 7616 with qop=auth), and leaves every
// registrar-visible detail to the test: Contact params, Expires, Call-ID, CSeq, Supported.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createSecureContext, type SecureContext } from "node:tls";
import WebSocket from "ws";
import type { Binding } from "../../src/modules/registrar/index.ts";

/** A received message: lower-cased header names (compact forms expanded), one entry per line. */
export interface SipMessage {
  /** 0 for a request. */
  status: number;
  reason: string;
  /** The request's method, or a response's CSeq method. */
  method: string;
  ruri: string;
  headers: Map<string, string[]>;
  body: string;
  raw: string;
}

const COMPACT: Record<string, string> = {
  v: "via", f: "from", t: "to", i: "call-id", m: "contact", l: "content-length",
  k: "supported", c: "content-type", s: "subject", e: "content-encoding", o: "event",
};

export function parseMessage(raw: string): SipMessage {
  const split = raw.indexOf("\r\n\r\n");
  const head = split < 0 ? raw : raw.slice(0, split);
  const [start = "", ...lines] = head.split("\r\n");
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i < 0) continue;
    const lower = line.slice(0, i).trim().toLowerCase();
    const name = COMPACT[lower] ?? lower;
    headers.set(name, [...(headers.get(name) ?? []), line.slice(i + 1).trim()]);
  }
  const cseqMethod = (headers.get("cseq")?.[0] ?? "").split(/\s+/)[1] ?? "";
  const body = split < 0 ? "" : raw.slice(split + 4);
  const status = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(start);
  if (status) return { status: Number(status[1]), reason: status[2] ?? "", method: cseqMethod, ruri: "", headers, body, raw };
  const [method = "", ruri = ""] = start.split(" ");
  return { status: 0, reason: "", method, ruri, headers, body, raw };
}

/** A 200 to `request`, with the headers RFC 3261 §8.2.6.2 copies and a To tag. */
export function okTo(request: SipMessage): string {
  const keep = request.raw.split("\r\n").filter((l) => /^(via|v|from|f|to|t|call-id|i|cseq):/i.test(l));
  const lines = keep.map((l) => (/^(to|t):/i.test(l) && !/;tag=/i.test(l) ? `${l};tag=${randomBytes(4).toString("hex")}` : l));
  return ["SIP/2.0 200 OK", ...lines, "Content-Length: 0", "", ""].join("\r\n");
}

export function header(msg: SipMessage, name: string): string | undefined {
  return msg.headers.get(name.toLowerCase())?.[0];
}

/** Splits on `sep` outside double quotes and angle brackets. */
function splitOutside(value: string, sep: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let angle = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '"' && value[i - 1] !== "\\") quoted = !quoted;
    else if (!quoted && ch === "<") angle = true;
    else if (!quoted && ch === ">") angle = false;
    else if (!quoted && !angle && ch === sep) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out.filter((s) => s !== "");
}

export interface ContactValue {
  uri: string;
  /** Lower-cased names; quoted values unquoted; a flag parameter maps to "". */
  params: Map<string, string>;
}

/** Every Contact of a message (one or several per header line), in order. */
export function contactsOf(msg: SipMessage): ContactValue[] {
  const out: ContactValue[] = [];
  for (const line of msg.headers.get("contact") ?? []) {
    for (const value of splitOutside(line, ",")) {
      if (value === "*") continue;
      const [addr = "", ...rest] = splitOutside(value, ";");
      const m = /<([^>]*)>/.exec(addr);
      const params = new Map<string, string>();
      for (const p of rest) {
        const eq = p.indexOf("=");
        if (eq < 0) params.set(p.toLowerCase(), "");
        else params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
      }
      out.push({ uri: m?.[1] ?? addr, params });
    }
  }
  return out;
}

/** The parameters of a `Digest ...` challenge (RFC 7616 §3.3), names lower-cased. */
export function parseChallenge(value: string): Map<string, string> {
  const params = new Map<string, string>();
  const m = /^\s*Digest\s+/i.exec(value);
  if (!m) return params;
  for (const part of splitOutside(value.slice(m[0].length), ",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
  }
  return params;
}

export type DigestAlgorithm = "MD5" | "SHA-256";

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === "MD5" ? "md5" : "sha256").update(text).digest("hex");
}

/** RFC 2617 §3.2.2.1 / RFC 7616 §3.4.1 request-digest with qop=auth. */
export function digestResponse(p: {
  algorithm?: DigestAlgorithm;
  username: string;
  realm: string;
  password: string;
  method: string;
  uri: string;
  nonce: string;
  nc: string;
  cnonce: string;
}): string {
  const algorithm = p.algorithm ?? "MD5";
  const ha1 = hash(algorithm, `${p.username}:${p.realm}:${p.password}`);
  const ha2 = hash(algorithm, `${p.method}:${p.uri}`);
  return hash(algorithm, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`);
}

export interface ContactSpec {
  /** Default: this UA's own contact URI. */
  uri?: string;
  expires?: number;
  q?: number;
  /** Default: the UA's instance; null leaves it out. */
  instance?: string | null;
  /** Default: the UA's reg-id; null leaves it out. */
  regId?: number | null;
}

export interface RegisterOptions {
  /** Default: one Contact, this UA's. */
  contacts?: ContactSpec[] | "*";
  /** The Expires header; absent by default. */
  expires?: number;
  /** Default: the UA's registration Call-ID (RFC 3261 §10.2: the same for all its REGISTERs). */
  callId?: string;
  /** CSeq of the first request sent; a challenge makes the retry use the next one. */
  cseq?: number;
  /** `Supported: outbound`; default: when the UA has a reg-id. */
  outbound?: boolean;
  /** Answer with this password instead of the UA's. */
  password?: string;
}

export interface Outcome {
  /** The final response. */
  response: SipMessage;
  /** The 401/407 answered on the way, in order. */
  challenges: SipMessage[];
  /** CSeq of the request the final response answers. */
  cseq: number;
}

export interface RequestSpec {
  method: string;
  ruri: string;
  to: string;
  callId: string;
  cseq: number;
  fromTag?: string;
  extraHeaders?: string[];
  body?: string;
  password?: string;
}

export interface UaOptions {
  user: string;
  password: string;
  domain?: string;
  localAddress?: string;
  /** PEM CA certificate to trust for `wss://` (the test CA of a TLS edge). */
  ca?: string;
  /** RFC 5626 `+sip.instance`, e.g. `<urn:uuid:…>` (angle brackets added when missing). */
  instance?: string;
  regId?: number;
  /** Digest algorithm to answer with when the challenge offers it. */
  algorithm?: DigestAlgorithm;
  /**
   * Answer out-of-dialog OPTIONS (the edge's keep-alive pings) with 200 at once, as JsSIP and
   * SIP.js do, instead of delivering them; default true.
   */
  answerOptions?: boolean;
}

/** Which requests a kept nonce answers for. */
type NonceUse = "register" | "other";
const nonceUse = (method: string): NonceUse => (method === "REGISTER" ? "register" : "other");

interface Nonce {
  kind: "www" | "proxy";
  params: Map<string, string>;
  nc: number;
}

/**
 * One TLS context per trusted CA: building one parses the CA (~0.5-0.8 ms), and a storm's
 * thousands of clients reconnecting in the same instant spent seconds of this process's only
 * thread on it, during which their REGISTERs' timers ran and their answers waited unread.
 */
const secureContexts = new Map<string, SecureContext>();
function secureContextFor(ca: string): SecureContext {
  let context = secureContexts.get(ca);
  if (context === undefined) secureContexts.set(ca, (context = createSecureContext({ ca })));
  return context;
}

/** A SIP user agent on one WebSocket (one RFC 5626 flow). */
export class SipUa {
  readonly domain: string;
  readonly contactUri: string;
  readonly registerCallId = randomUUID();
  private nextCseq = 1;
  private readonly viaHost = `${randomBytes(6).toString("hex")}.invalid`;
  private readonly fromTag = randomBytes(5).toString("hex");
  /**
   * The kept nonces: the registrar's (401, answered with Authorization on REGISTERs) apart from
   * the proxy's (407, answered with Proxy-Authorization on everything else), as phones keep them,
   * so a REGISTER after an INVITE's challenge is not challenged again.
   */
  private readonly nonces = new Map<NonceUse, Nonce>();
  private readonly inbox: SipMessage[] = [];
  private readonly waiters: { match: (m: SipMessage) => boolean; resolve: (m: SipMessage) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Out-of-dialog OPTIONS answered 200 (UaOptions.answerOptions). */
  optionsAnswered = 0;

  private constructor(
    readonly ws: WebSocket,
    readonly options: UaOptions,
    /** Via transport: WSS over TLS (RFC 7118 §5.3). */
    readonly viaTransport: "WS" | "WSS" = "WS",
  ) {
    this.domain = options.domain ?? "localhost";
    this.contactUri = `sip:${options.user}-${randomBytes(3).toString("hex")}@${this.viaHost};transport=ws`;
    ws.on("message", (data, isBinary) => this.deliver(parseMessage(isBinary ? Buffer.from(data as Buffer).toString("latin1") : data.toString())));
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static connect(url: string, options: UaOptions): Promise<SipUa> {
    const tls = options.ca === undefined ? {} : { secureContext: secureContextFor(options.ca) };
    const ws = new WebSocket(url, ["sip"], { localAddress: options.localAddress, ...tls, perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new SipUa(ws, options, url.startsWith("wss:") ? "WSS" : "WS")));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  get aor(): string {
    return `${this.options.user}@${this.domain}`;
  }

  get instance(): string | undefined {
    const i = this.options.instance;
    return i === undefined ? undefined : i.startsWith("<") ? i : `<${i}>`;
  }

  /** REGISTER for this UA's AOR, answering a 401 once with digest credentials. */
  async register(options: RegisterOptions = {}): Promise<Outcome> {
    const extra: string[] = [];
    if (options.contacts === "*") extra.push("Contact: *");
    else for (const c of options.contacts ?? [{}]) extra.push(`Contact: ${this.contactValue(c)}`);
    if (options.expires !== undefined) extra.push(`Expires: ${options.expires}`);
    if (options.outbound ?? this.options.regId !== undefined) extra.push("Supported: outbound, path");
    return this.request({
      method: "REGISTER",
      ruri: `sip:${this.domain}`,
      to: `<sip:${this.aor}>`,
      callId: options.callId ?? this.registerCallId,
      cseq: options.cseq ?? this.nextCseq,
      extraHeaders: extra,
      password: options.password,
    });
  }

  /** An INVITE to `target` (a SIP URI) with a small SDP offer, answering 401/407 once. */
  invite(target: string): Promise<Outcome> {
    const sdp = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", "m=audio 9 RTP/AVP 0", "a=rtpmap:0 PCMU/8000", ""].join("\r\n");
    return this.request({
      method: "INVITE",
      ruri: target,
      to: `<${target}>`,
      callId: randomUUID(),
      cseq: 1,
      fromTag: randomBytes(5).toString("hex"),
      extraHeaders: [`Contact: <${this.contactUri};ob>`, "Content-Type: application/sdp"],
      body: sdp,
    });
  }

  /**
   * Sends a request and waits for its final response. A 401/407 is answered once with
   * credentials (CSeq + 1, new branch); the UA keeps the nonce and sends the next request of the
   * same use (REGISTER, or anything else) with it and a higher nonce-count (RFC 7616 §3.4).
   */
  async request(spec: RequestSpec): Promise<Outcome> {
    const challenges: SipMessage[] = [];
    let cseq = spec.cseq;
    for (;;) {
      const branch = `z9hG4bK${randomBytes(8).toString("hex")}`;
      const text = this.build(spec, cseq, branch);
      this.nextCseq = Math.max(this.nextCseq, cseq + 1);
      this.send(text);
      const response = await this.finalResponse(spec.callId, cseq, spec.method);
      if (spec.method === "INVITE") this.ackNon2xx(spec, cseq, branch, response);
      const challenged = response.status === 401 || response.status === 407;
      if (!challenged || challenges.length > 0) return { response, challenges, cseq };
      challenges.push(response);
      this.nonces.set(nonceUse(spec.method), this.pickChallenge(response));
      cseq++;
    }
  }

  /** The next request the server sends this UA (e.g. an INVITE to a registered contact). */
  nextRequest(method?: string, timeoutMs = 5000): Promise<SipMessage> {
    return this.waitFor((m) => m.status === 0 && (method === undefined || m.method === method), timeoutMs);
  }

  /** The next response in call `callId` (e.g. the 400 to a malformed request sent with `send`). */
  nextResponse(callId: string, timeoutMs = 5000): Promise<SipMessage> {
    return this.waitFor((m) => m.status > 0 && header(m, "call-id") === callId, timeoutMs);
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** A clean close (WebSocket close handshake). */
  async close(code = 1000): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code);
    return this.closed;
  }

  /** Drops the TCP connection without a close frame, as a vanished client or a NAT does. */
  async terminate(): Promise<void> {
    this.ws.terminate();
    await this.closed;
  }

  private contactValue(c: ContactSpec): string {
    let value = `<${c.uri ?? this.contactUri}>`;
    if (c.q !== undefined) value += `;q=${c.q}`;
    if (c.expires !== undefined) value += `;expires=${c.expires}`;
    const instance = c.instance === null ? undefined : (c.instance ?? this.instance);
    if (instance !== undefined) value += `;+sip.instance="${instance}"`;
    const regId = c.regId === null ? undefined : (c.regId ?? this.options.regId);
    if (regId !== undefined) value += `;reg-id=${regId}`;
    return value;
  }

  private build(spec: RequestSpec, cseq: number, branch: string, authorize = true): string {
    const body = spec.body ?? "";
    const lines = [
      `${spec.method} ${spec.ruri} SIP/2.0`,
      `Via: SIP/2.0/${this.viaTransport} ${this.viaHost};branch=${branch}`,
      "Max-Forwards: 70",
      `From: <sip:${this.aor}>;tag=${spec.fromTag ?? this.fromTag}`,
      `To: ${spec.to}`,
      `Call-ID: ${spec.callId}`,
      `CSeq: ${cseq} ${spec.method}`,
      ...(spec.extraHeaders ?? []),
    ];
    const credentials = authorize ? this.credentials(spec.method, spec.ruri, spec.password) : undefined;
    if (credentials) lines.push(credentials);
    lines.push("User-Agent: sipedge-test-ua", `Content-Length: ${Buffer.byteLength(body)}`, "", body);
    return lines.join("\r\n");
  }

  private credentials(method: string, uri: string, password = this.options.password): string | undefined {
    const n = this.nonces.get(nonceUse(method));
    if (!n) return undefined;
    n.nc++;
    const realm = n.params.get("realm") ?? this.domain;
    const nonce = n.params.get("nonce") ?? "";
    const algorithm: DigestAlgorithm = n.params.get("algorithm")?.toUpperCase() === "SHA-256" ? "SHA-256" : "MD5";
    const nc = n.nc.toString(16).padStart(8, "0");
    const cnonce = randomBytes(8).toString("hex");
    const response = digestResponse({ algorithm, username: this.options.user, realm, password, method, uri, nonce, nc, cnonce });
    const opaque = n.params.get("opaque");
    const name = n.kind === "www" ? "Authorization" : "Proxy-Authorization";
    return (
      `${name}: Digest username="${this.options.user}", realm="${realm}", nonce="${nonce}", uri="${uri}", ` +
      `response="${response}", algorithm=${algorithm}, cnonce="${cnonce}", qop=auth, nc=${nc}` +
      (opaque === undefined ? "" : `, opaque="${opaque}"`)
    );
  }

  /** The challenge with the UA's algorithm (MD5 unless configured), else the first. */
  private pickChallenge(response: SipMessage): Nonce {
    const kind = response.status === 401 ? "www" : "proxy";
    const values = response.headers.get(kind === "www" ? "www-authenticate" : "proxy-authenticate") ?? [];
    const wanted = this.options.algorithm ?? "MD5";
    const all = values.map(parseChallenge);
    const params = all.find((p) => (p.get("algorithm") ?? "MD5").toUpperCase() === wanted) ?? all[0] ?? new Map<string, string>();
    return { kind, params, nc: 0 };
  }

  /** RFC 3261 §17.1.1.3: the ACK for a non-2xx final response to an INVITE, same branch. */
  private ackNon2xx(spec: RequestSpec, cseq: number, branch: string, response: SipMessage): void {
    if (response.status < 300) return;
    const ack = { ...spec, method: "ACK", to: header(response, "to") ?? spec.to, extraHeaders: [], body: "" };
    this.send(this.build(ack, cseq, branch, false));
  }

  private finalResponse(callId: string, cseq: number, method: string): Promise<SipMessage> {
    return this.waitFor(
      (m) => m.status >= 200 && header(m, "call-id") === callId && header(m, "cseq")?.replace(/\s+/g, " ") === `${cseq} ${method}`,
      10_000,
    );
  }

  private deliver(msg: SipMessage): void {
    if (msg.status === 0 && msg.method === "OPTIONS" && this.options.answerOptions !== false && !/;tag=/i.test(header(msg, "to") ?? "")) {
      this.optionsAnswered++;
      this.send(okTo(msg));
      return;
    }
    const i = this.waiters.findIndex((w) => w.match(msg));
    const waiter = i < 0 ? undefined : this.waiters.splice(i, 1)[0];
    if (waiter) waiter.resolve(msg);
    else this.inbox.push(msg);
  }

  private waitFor(match: (m: SipMessage) => boolean, timeoutMs: number): Promise<SipMessage> {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as SipMessage);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: SipMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      // The timer gives up only after the next poll phase: when this thread was busy past the
      // deadline (thousands of clients in one process), an answer that reached the socket in time
      // is read first instead of counting as lost (libuv runs due timers before reading sockets).
      const timer = setTimeout(() => setImmediate(() => {
        const at = this.waiters.indexOf(waiter);
        if (at < 0) return;
        this.waiters.splice(at, 1);
        reject(new Error(`${this.options.user}: no matching message within ${timeoutMs} ms`));
      }), timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

/** A binding as the admin API shows it (`GET /admin/location/:aor`, `kamcmd ul.show`); times in ms. */
export type AdminBinding = Binding;

/** The live bindings of an AOR through the admin API. */
export async function adminBindings(baseUrl: string, token: string, aor: string): Promise<AdminBinding[]> {
  const res = await fetch(`${baseUrl}/admin/location/${aor}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`GET /admin/location/${aor}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { bindings: AdminBinding[] }).bindings;
}

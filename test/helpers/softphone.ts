// Real softphone libraries (JsSIP, SIP.js) driven from Node against the running stack. Only the
// media layer is faked — a fixed SDP offer/answer instead of WebRTC — so every SIP message on the
// wire is the libraries' own. Each phone records what it sent and received (a SipTrace), so tests
// can assert on the exchange (401 then 200) and print it when a flow fails.
import JsSIP from "jssip";
import NodeWebSocket from "ws";
import type { RTCSession } from "jssip/lib/RTCSession";
import type { IncomingMessageEvent, OutgoingMessageEvent, RTCSessionEvent } from "jssip/lib/UA";
import {
  Registerer,
  UserAgent,
  type Core,
  type Invitation,
  type Message,
  type Session,
  type SessionState,
  type SessionDescriptionHandler,
  type SessionDescriptionHandlerFactory,
} from "sip.js";

export const DOMAIN = "localhost";

// ---------------------------------------------------------------------------------------------
// Trace

export interface TraceEntry {
  dir: ">" | "<"; // ">" sent by the phone, "<" received by it
  method: string; // the request's method, or a response's CSeq method
  status: number | undefined; // responses only
  text: string;
}

/** What one phone sent and received, in order. */
export class SipTrace {
  readonly entries: TraceEntry[] = [];
  private listeners: ((e: TraceEntry) => void)[] = [];

  constructor(readonly name: string) {}

  record(dir: ">" | "<", data: unknown): void {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer);
    if (text.trim() === "") return; // CRLF keep-alives (RFC 5626 §4.4.1)
    const entry = { dir, ...startLineOf(text), text };
    this.entries.push(entry);
    for (const l of this.listeners) l(entry);
  }

  /** Statuses of the responses this phone received for `method`, in order. */
  responses(method: string): number[] {
    return this.entries.filter((e) => e.dir === "<" && e.method === method && e.status !== undefined).map((e) => e.status as number);
  }

  /** Requests of `method` the phone sent (">") or received ("<"). */
  requests(dir: ">" | "<", method: string): TraceEntry[] {
    return this.entries.filter((e) => e.dir === dir && e.method === method && e.status === undefined);
  }

  /** Resolves with the first entry (already recorded or future) that matches. */
  waitFor(match: (e: TraceEntry) => boolean, what: string, timeoutMs = 5000): Promise<TraceEntry> {
    const seen = this.entries.find(match);
    if (seen) return Promise.resolve(seen);
    let listener: (e: TraceEntry) => void = () => undefined;
    const found = new Promise<TraceEntry>((resolve) => this.listeners.push((listener = (e) => void (match(e) && resolve(e)))));
    return within(found, timeoutMs, `${what} at ${this.name}`, this).finally(() => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    });
  }

  /** One line per message: `> INVITE`, `< 407 INVITE`. */
  summary(): string[] {
    return this.entries.map((e) => `${e.dir} ${e.status === undefined ? e.method : `${e.status} ${e.method}`}`);
  }

  /** The exchange, in short and in full, for failure messages. */
  dump(): string {
    const full = this.entries.map((e) => `--- ${this.name} ${e.dir === ">" ? "sent" : "received"}:\n${e.text.trimEnd()}`);
    return [`=== ${this.name}: ${this.summary().join(", ")}`, ...full].join("\n");
  }
}

function startLineOf(text: string): { method: string; status: number | undefined } {
  const firstLine = text.slice(0, text.indexOf("\r\n"));
  const cseq = /^CSeq[ \t]*:[ \t]*\d+[ \t]+(\S+)/im.exec(text);
  if (firstLine.startsWith("SIP/2.0 ")) return { method: cseq?.[1] ?? "?", status: Number(firstLine.slice(8, 11)) };
  return { method: firstLine.slice(0, firstLine.indexOf(" ")), status: undefined };
}

/** A promise that rejects after `ms` with the traces of the phones involved. */
export function within<T>(promise: Promise<T>, ms: number, what: string, ...traces: SipTrace[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms\n${traces.map((t) => t.dump()).join("\n")}`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Media stubs

/** A fixed SDP body that names its author, so a test can check the proxy passed it untouched. */
export function fixedSdp(author: string, port: number): string {
  return [
    "v=0",
    `o=${author} 4711 1 IN IP4 127.0.0.1`,
    `s=${author}`,
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    `m=audio ${port} RTP/AVP 0`,
    "a=rtpmap:0 PCMU/8000",
    "a=sendrecv",
    "",
  ].join("\r\n");
}

export const JSSIP_OFFER = fixedSdp("jssip-offer", 40000);
export const JSSIP_ANSWER = fixedSdp("jssip-answer", 40002);
export const SIPJS_SDP = fixedSdp("sipjs", 41000);

/**
 * The part of RTCPeerConnection JsSIP's RTCSession uses, with a fixed SDP and ICE gathering
 * already complete (so JsSIP sends the offer at once). It keeps the remote SDP it was given.
 */
class FakePeerConnection extends EventTarget {
  localDescription: RTCSessionDescriptionInit | null = null;
  remoteDescription: RTCSessionDescriptionInit | null = null;
  signalingState: RTCSignalingState = "stable";
  iceGatheringState: RTCIceGatheringState = "complete";
  iceConnectionState: RTCIceConnectionState = "new";
  connectionState: RTCPeerConnectionState = "new";

  createOffer = async (): Promise<RTCSessionDescriptionInit> => ({ type: "offer", sdp: JSSIP_OFFER });
  createAnswer = async (): Promise<RTCSessionDescriptionInit> => ({ type: "answer", sdp: JSSIP_ANSWER });
  addTrack = (): object => ({});
  getSenders = (): never[] => [];
  getReceivers = (): never[] => [];
  async setLocalDescription(d: RTCSessionDescriptionInit): Promise<void> {
    this.localDescription = d;
    this.signalingState = d.type === "offer" ? "have-local-offer" : "stable";
  }
  async setRemoteDescription(d: RTCSessionDescriptionInit): Promise<void> {
    this.remoteDescription = d;
    this.signalingState = d.type === "offer" ? "have-remote-offer" : "stable";
  }
  close(): void {
    this.signalingState = "closed";
  }
}

class FakeSessionDescription {
  readonly type: RTCSdpType;
  readonly sdp: string;
  constructor(init: RTCSessionDescriptionInit) {
    this.type = init.type;
    this.sdp = init.sdp ?? "";
  }
}

/** JsSIP checks `window.RTCPeerConnection` and uses the two globals; Node has neither. */
export function installFakeWebRtc(): void {
  const g = globalThis as Record<string, unknown>;
  g.RTCPeerConnection = FakePeerConnection;
  g.RTCSessionDescription = FakeSessionDescription;
  g.window ??= { RTCPeerConnection: FakePeerConnection };
}

/** SIP.js's pluggable media layer: a fixed SDP, and the remote SDPs it was given. */
export function fixedSdpHandlerFactory(sdp: string, received: string[]): SessionDescriptionHandlerFactory {
  return (): SessionDescriptionHandler => ({
    close: () => undefined,
    getDescription: async () => ({ body: sdp, contentType: "application/sdp" }),
    hasDescription: (contentType) => contentType === "application/sdp",
    setDescription: async (remote) => void received.push(remote),
    sendDtmf: () => false,
  });
}

// ---------------------------------------------------------------------------------------------
// Phones

export interface PhoneOptions {
  wsUrl: string;
  username: string;
  password: string;
  /** The SIP domain of the phone's AOR (default `localhost`, the default configuration's). */
  domain?: string;
  /** The client's own address (a deployment's clients are not on the proxy's address). */
  localAddress?: string;
  /** PEM CA certificate to trust for `wss://` (the test CA of a TLS edge). */
  ca?: string;
}

/**
 * JsSIP's own WebSocketInterface, recording every frame into a trace. With a local address or a
 * CA it opens the socket with the `ws` library (the global WebSocket can do neither); JsSIP sees
 * the same browser-style interface either way.
 */
class TracedJssipSocket extends JsSIP.WebSocketInterface {
  readonly trace: SipTrace;
  private readonly socketOptions: { localAddress?: string; ca?: string };

  constructor(url: string, trace: SipTrace, socketOptions: { localAddress?: string; ca?: string } = {}) {
    super(url);
    this.trace = trace;
    this.socketOptions = socketOptions;
  }

  override send(message: string | ArrayBufferLike | Blob | ArrayBufferView): boolean {
    this.trace.record(">", message);
    return super.send(message);
  }

  // JsSIP's Transport binds `ondata` right before each connect().
  override connect(): void {
    const deliver = this.ondata;
    this.ondata = <T>(data: T) => {
      this.trace.record("<", data);
      deliver.call(this, data);
    };
    const { localAddress, ca } = this.socketOptions;
    if (localAddress === undefined && ca === undefined) return super.connect();
    const self = this as unknown as { _ws: unknown; _url: string; _onOpen(): void; _onClose(e: unknown): void; _onMessage(e: unknown): void; _onError(e: unknown): void };
    if (this.isConnected() || this.isConnecting()) return;
    if (self._ws) this.disconnect();
    const ws = new NodeWebSocket(self._url, "sip", { localAddress, ca, perMessageDeflate: false });
    ws.binaryType = "arraybuffer";
    ws.onopen = () => self._onOpen();
    ws.onclose = (e) => self._onClose(e);
    ws.onmessage = (e) => self._onMessage(e);
    ws.onerror = (e) => self._onError(e);
    self._ws = ws;
  }
}

export class JssipPhone {
  readonly trace: SipTrace;
  readonly ua: JsSIP.UA;
  readonly aor: string;
  /** Bodies of the MESSAGEs this phone received (JsSIP answers them 200 by itself). */
  readonly messages: string[] = [];
  private stopped = false;
  private readonly incoming: RTCSession[] = [];
  private sessionWaiters: ((s: RTCSession) => void)[] = [];

  private constructor(options: PhoneOptions) {
    this.aor = `${options.username}@${options.domain ?? DOMAIN}`;
    this.trace = new SipTrace(`JsSIP ${options.username}`);
    const socketOptions = { localAddress: options.localAddress, ca: options.ca };
    this.ua = new JsSIP.UA({
      sockets: [new TracedJssipSocket(options.wsUrl, this.trace, socketOptions)],
      uri: `sip:${this.aor}`,
      password: options.password,
      register: false,
      register_expires: 600,
      session_timers: false,
      user_agent: "JsSIP (sipedge e2e)",
      // No reconnect attempts while a test is shutting the stack down.
      connection_recovery_min_interval: 30,
    });
    // JsSIP answers INVITE and MESSAGE with 405 unless someone listens; it sends 180 itself.
    this.ua.on("newRTCSession", (e: RTCSessionEvent) => {
      if (e.originator !== "remote") return;
      const waiter = this.sessionWaiters.shift();
      if (waiter) waiter(e.session);
      else this.incoming.push(e.session);
    });
    this.ua.on("newMessage", (e: IncomingMessageEvent | OutgoingMessageEvent) => {
      if (e.originator === "remote") this.messages.push(String(e.request.body));
    });
  }

  /** Starts the UA and waits for its WebSocket (it does not register by itself). */
  static async start(options: PhoneOptions): Promise<JssipPhone> {
    const phone = new JssipPhone(options);
    const connected = new Promise<void>((resolve) => phone.ua.once("connected", () => resolve()));
    phone.ua.start();
    await within(connected, 5000, "WebSocket connection", phone.trace);
    return phone;
  }

  register(): Promise<void> {
    const outcome = new Promise<void>((resolve, reject) => {
      const ok = () => (this.ua.off("registrationFailed", failed), resolve());
      const failed = (e: { cause?: string }) => (this.ua.off("registered", ok), reject(new Error(`${this.trace.name}: registration failed: ${e.cause}\n${this.trace.dump()}`)));
      this.ua.once("registered", ok);
      this.ua.once("registrationFailed", failed);
    });
    this.ua.register();
    return within(outcome, 5000, "registration outcome", this.trace);
  }

  /** Sends REGISTER with Expires 0 for its contact; resolves on the 200. */
  unregister(): Promise<void> {
    // JsSIP emits "unregistered" for a failed un-REGISTER too, with a cause.
    const done = new Promise<void>((resolve, reject) =>
      this.ua.once("unregistered", (e: { cause?: string }) => (e.cause ? reject(new Error(`${this.trace.name}: un-REGISTER failed: ${e.cause}`)) : resolve())),
    );
    this.ua.unregister();
    return within(done, 5000, "un-REGISTER outcome", this.trace);
  }

  /** Calls `target` (a SIP URI) without media; the session's events drive the test. */
  call(target: string): RTCSession {
    return this.ua.call(target, { mediaConstraints: { audio: false, video: false } });
  }

  /** Waits for the next incoming call (already answered 180 by JsSIP). */
  nextSession(timeoutMs = 5000): Promise<RTCSession> {
    const queued = this.incoming.shift();
    if (queued) return Promise.resolve(queued);
    const arrival = new Promise<RTCSession>((resolve) => this.sessionWaiters.push(resolve));
    return within(arrival, timeoutMs, "incoming INVITE", this.trace);
  }

  /** Unregisters and disconnects; bounded so a stuck transaction cannot hang the suite. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const gone = new Promise<void>((resolve) => this.ua.once("disconnected", () => resolve()));
    this.ua.stop();
    await within(gone, 3000, "disconnect", this.trace).catch(() => undefined);
  }
}

export class SipjsPhone {
  readonly trace: SipTrace;
  readonly ua: UserAgent;
  readonly registerer: Registerer;
  readonly aor: string;
  /** Incoming INVITEs not yet taken by `nextInvitation`. */
  private readonly invitations: Invitation[] = [];
  private invitationWaiters: ((i: Invitation) => void)[] = [];
  /** Incoming MESSAGEs (accepted with 200). */
  readonly messages: Message[] = [];
  /** Remote SDP bodies the media stub was given. */
  readonly remoteSdp: string[] = [];

  private constructor(options: PhoneOptions) {
    this.aor = `${options.username}@${options.domain ?? DOMAIN}`;
    this.trace = new SipTrace(`SIP.js ${options.username}`);
    const uri = UserAgent.makeURI(`sip:${this.aor}`);
    if (!uri) throw new Error(`bad URI sip:${this.aor}`);
    this.ua = new UserAgent({
      uri,
      authorizationUsername: options.username,
      authorizationPassword: options.password,
      transportOptions: { server: options.wsUrl },
      sessionDescriptionHandlerFactory: fixedSdpHandlerFactory(SIPJS_SDP, this.remoteSdp),
      logBuiltinEnabled: false,
      logLevel: "error",
      userAgentString: "SIP.js (sipedge e2e)",
      delegate: {
        onInvite: (invitation) => {
          const waiter = this.invitationWaiters.shift();
          if (waiter) waiter(invitation);
          else this.invitations.push(invitation);
        },
        onMessage: (message) => {
          this.messages.push(message);
          void message.accept();
        },
      },
    });
    // The UserAgent wires its callbacks into the transport in its constructor: wrap them.
    const transport = this.ua.transport;
    const send = transport.send.bind(transport);
    transport.send = (message: string) => (this.trace.record(">", message), send(message));
    const deliver = transport.onMessage;
    transport.onMessage = (message: string) => (this.trace.record("<", message), deliver?.(message));
    this.registerer = new Registerer(this.ua, { expires: 600 });
  }

  /** Starts the UA and waits for its WebSocket (it does not register by itself). */
  static async start(options: PhoneOptions): Promise<SipjsPhone> {
    const phone = new SipjsPhone(options);
    await within(phone.ua.start(), 5000, "WebSocket connection", phone.trace);
    return phone;
  }

  /** Resolves on a 2xx to REGISTER; rejects with the final status otherwise. */
  register(): Promise<void> {
    return this.registration("registration", (requestDelegate) => this.registerer.register({ requestDelegate }));
  }

  /** Sends REGISTER with Expires 0 for its contact; resolves on the 2xx. */
  unregister(): Promise<void> {
    return this.registration("un-REGISTER", (requestDelegate) => this.registerer.unregister({ requestDelegate }));
  }

  private registration(what: string, send: (delegate: Core.OutgoingRequestDelegate) => Promise<unknown>): Promise<void> {
    const outcome = new Promise<void>((resolve, reject) => {
      const onReject = (r: Core.IncomingResponse) => reject(new Error(`${this.trace.name}: ${what} failed: ${r.message.statusCode}\n${this.trace.dump()}`));
      send({ onAccept: () => resolve(), onReject }).catch(reject);
    });
    return within(outcome, 5000, `${what} outcome`, this.trace);
  }

  /** Waits for the next INVITE this phone receives. */
  nextInvitation(timeoutMs = 5000): Promise<Invitation> {
    const queued = this.invitations.shift();
    if (queued) return Promise.resolve(queued);
    const arrival = new Promise<Invitation>((resolve) => this.invitationWaiters.push(resolve));
    return within(arrival, timeoutMs, "incoming INVITE", this.trace);
  }

  async stop(): Promise<void> {
    await within(this.ua.stop(), 3000, "stop", this.trace).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Waiting for library events

/**
 * Resolves with JsSIP session event `event`; a `failed` first rejects with its cause and the
 * traces (unless `failed` is what is awaited).
 */
export function sessionEvent<T = unknown>(session: RTCSession, event: string, ms: number, ...traces: SipTrace[]): Promise<T> {
  const emitter = session as unknown as { once(e: string, f: (d: T) => void): void; off(e: string, f: (d: never) => void): void };
  const outcome = new Promise<T>((resolve, reject) => {
    const failed = (e: { cause?: string; message?: { status_code?: number } | null }) => {
      const why = `${e.cause}, ${e.message?.status_code ?? "no response"}`;
      reject(new Error(`JsSIP session failed (${why}) before "${event}"\n${traces.map((t) => t.dump()).join("\n")}`));
    };
    emitter.once(event, (d: T) => {
      emitter.off("failed", failed);
      resolve(d);
    });
    if (event !== "failed") emitter.once("failed", failed as (d: unknown) => void);
  });
  return within(outcome, ms, `JsSIP "${event}"`, ...traces);
}

/** Resolves when a SIP.js session reaches `state`. */
export function sessionState(session: Session, state: SessionState, ms: number, ...traces: SipTrace[]): Promise<void> {
  if (session.state === state) return Promise.resolve();
  const reached = new Promise<void>((resolve) => {
    const listener = (s: SessionState) => {
      if (s !== state) return;
      session.stateChange.removeListener(listener);
      resolve();
    };
    session.stateChange.addListener(listener);
  });
  return within(reached, ms, `SIP.js session state ${state}`, ...traces);
}

// ---------------------------------------------------------------------------------------------
// Admin API

export interface AdminBinding {
  aor: string;
  contact: string;
  expires: number;
  instance?: string;
  regId?: number;
  flowToken?: string;
  userAgent?: string;
}

/** `GET /admin/location/:aor`: the AOR's live bindings. */
export async function adminBindings(url: string, token: string, aor: string): Promise<AdminBinding[]> {
  const res = await fetch(`${url}/admin/location/${encodeURIComponent(aor)}`, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET /admin/location/${aor}: ${res.status} ${await res.text()}`);
  const dump = (await res.json()) as { bindings: AdminBinding[] };
  return dump.bindings;
}

/**
 * The browser phone served at /phone: JsSIP over the edge's WebSocket, bundled at build time into
 * the page itself (scripts/build-phone.mjs), no CDN. Register, call a user or a number, answer, hang up, RFC 4733
 * DTMF, mute, a call log, and a live line of media statistics so a newcomer hears and sees audio
 * flow. ICE servers come from the edge (GET /phone/config; TURN credentials from POST /phone/turn).
 */
import JsSIP from "jssip";
import type { RTCSession } from "jssip/lib/RTCSession";
import type { RTCSessionEvent } from "jssip/lib/UA";
import { CallLog, type CallRecord } from "./call-log.ts";
import { mediaStats, type MediaStats } from "./stats.ts";

interface PhoneConfig {
  domain: string;
  iceServers: RTCIceServer[];
  /** TURN is configured: POST /phone/turn with the SIP credentials returns time-limited ones. */
  turn: boolean;
}

type Codecs = "any" | "opus" | "g711";

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`phone.html lacks #${id}`);
  return el as T;
};

class Phone {
  config: PhoneConfig = { domain: location.hostname, iceServers: [], turn: false };
  ua: JsSIP.UA | undefined;
  session: RTCSession | undefined;
  registered = false;
  lastStats: MediaStats | undefined;
  readonly log = new CallLog(localStorage);
  private current: CallRecord | undefined;
  private iceServers: RTCIceServer[] = [];
  private statsTimer: ReturnType<typeof setInterval> | undefined;

  async start(): Promise<void> {
    const response = await fetch("/phone/config");
    if (response.ok) this.config = (await response.json()) as PhoneConfig;
    $<HTMLInputElement>("domain").value ||= this.config.domain;
    $<HTMLInputElement>("server").value ||= `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
    for (const field of ["user", "domain", "server", "display"]) {
      const saved = localStorage.getItem(`sipedge.${field}`);
      if (saved !== null && saved !== "") $<HTMLInputElement>(field).value = saved;
    }
    const codecs = new URLSearchParams(location.search).get("codecs");
    if (codecs === "opus" || codecs === "g711") $<HTMLSelectElement>("codecs").value = codecs;
    $("register").onclick = () => void this.register();
    $("unregister").onclick = () => this.unregister();
    $("call").onclick = () => void this.call($<HTMLInputElement>("target").value.trim());
    $("answer").onclick = () => void this.answer();
    $("hangup").onclick = () => this.hangup();
    $("mute").onclick = () => this.toggleMute();
    $("hold").onclick = () => this.toggleHold();
    for (const key of document.querySelectorAll<HTMLButtonElement>("#keypad button")) {
      key.onclick = () => this.dtmf(key.textContent ?? "");
    }
    this.renderLog();
    this.setStatus("not registered");
  }

  /** REGISTER with the form's credentials; TURN credentials are fetched with the same ones. */
  async register(): Promise<void> {
    const user = $<HTMLInputElement>("user").value.trim();
    const domain = $<HTMLInputElement>("domain").value.trim();
    const password = $<HTMLInputElement>("password").value;
    const server = $<HTMLInputElement>("server").value.trim();
    for (const field of ["user", "domain", "server", "display"]) localStorage.setItem(`sipedge.${field}`, $<HTMLInputElement>(field).value);
    this.iceServers = [...this.config.iceServers, ...(await this.turnServers(user, password))];
    this.ua?.stop();
    const ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(server)],
      uri: `sip:${user}@${domain}`,
      password,
      display_name: $<HTMLInputElement>("display").value.trim() || undefined,
      register: true,
      session_timers: false,
    });
    ua.on("registered", () => this.onRegistration(true, "registered"));
    ua.on("unregistered", () => this.onRegistration(false, "not registered"));
    ua.on("registrationFailed", (e) => this.onRegistration(false, `registration failed: ${e.cause ?? "unknown"}`));
    ua.on("disconnected", () => this.setStatus(this.registered ? "reconnecting…" : "disconnected"));
    ua.on("newRTCSession", (e: RTCSessionEvent) => this.onSession(e));
    this.ua = ua;
    this.setStatus("registering…");
    ua.start();
  }

  unregister(): void {
    this.ua?.unregister();
  }

  /** Calls a user (`bob`), a number (`15551234567`) or a full SIP URI. */
  async call(target: string): Promise<void> {
    if (this.ua === undefined || target === "") return;
    const uri = target.includes("@") ? (target.startsWith("sip:") ? target : `sip:${target}`) : `sip:${target}@${$<HTMLInputElement>("domain").value.trim()}`;
    this.ua.call(uri, {
      mediaConstraints: { audio: true, video: false },
      pcConfig: this.pcConfig(),
      // Before JsSIP adds the microphone: the offer lists only the codecs chosen in the form.
      eventHandlers: { peerconnection: (e: { peerconnection: RTCPeerConnection }) => this.preferCodecs(e.peerconnection) },
    });
  }

  async answer(): Promise<void> {
    this.session?.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: this.pcConfig() });
  }

  hangup(): void {
    this.session?.terminate();
  }

  toggleMute(): void {
    const s = this.session;
    if (s === undefined) return;
    if (s.isMuted().audio) s.unmute({ audio: true });
    else s.mute({ audio: true });
    $("mute").textContent = s.isMuted().audio ? "Unmute" : "Mute";
  }

  /**
   * Hold (a re-INVITE with a=sendonly) and resume. The button waits for the re-INVITE's answer:
   * JsSIP refuses a re-offer while another is in flight, so a second click before then would be
   * lost with the button already showing "Resume". A failed re-INVITE ends the call (onEnded).
   */
  toggleHold(): void {
    const s = this.session;
    if (s === undefined) return;
    const button = $<HTMLButtonElement>("hold");
    const answered = (): void => {
      button.disabled = false;
    };
    const sent = s.isOnHold().local ? s.unhold({}, answered) : s.hold({}, answered);
    if (sent) button.disabled = true;
  }

  /** RFC 4733 telephone-events in the RTP stream (RTCDTMFSender), not SIP INFO. */
  dtmf(tone: string): void {
    this.session?.sendDTMF(tone, { transportType: JsSIP.C.DTMF_TRANSPORT.RFC2833, duration: 160, interToneGap: 80 });
    if (this.current) this.current.dtmf += tone;
  }

  private pcConfig(): RTCConfiguration {
    // No max-bundle: rtpengine answers without a BUNDLE group, which max-bundle refuses.
    return { iceServers: this.iceServers, rtcpMuxPolicy: "require" };
  }

  private async turnServers(user: string, password: string): Promise<RTCIceServer[]> {
    if (!this.config.turn) return [];
    const response = await fetch("/phone/turn", { method: "POST", headers: { Authorization: "Basic " + btoa(`${user}:${password}`) } });
    if (!response.ok) return [];
    return ((await response.json()) as { iceServers: RTCIceServer[] }).iceServers;
  }

  private onRegistration(registered: boolean, text: string): void {
    this.registered = registered;
    this.setStatus(text);
  }

  private onSession(e: RTCSessionEvent): void {
    const session = e.session;
    if (this.session !== undefined) {
      session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      return;
    }
    this.session = session;
    const peer = session.remote_identity.uri.toString();
    this.current = { direction: session.direction, peer, start: Date.now(), answered: undefined, end: undefined, cause: "", dtmf: "" };
    session.on("confirmed", () => this.onConfirmed(session));
    session.on("hold", () => ($("hold").textContent = "Resume"));
    session.on("unhold", () => ($("hold").textContent = "Hold"));
    session.on("ended", (ev) => this.onEnded(String(ev.cause)));
    // A failure names the SIP answer too: "Unavailable (503 Media Relay Unavailable)".
    session.on("failed", (ev) => {
      const reply = ev.message as { status_code?: number; reason_phrase?: string } | undefined;
      this.onEnded(reply?.status_code ? `${String(ev.cause)} (${reply.status_code} ${reply.reason_phrase ?? ""})` : String(ev.cause));
    });
    this.setCall(session.direction === "incoming" ? `incoming call from ${peer}` : `calling ${peer}…`);
    $("answer").hidden = session.direction !== "incoming";
  }

  /**
   * The form's codec choice (`?codecs=opus`): an audio transceiver made before JsSIP adds the
   * microphone (addTrack then reuses it) with its codec preferences set, so the offer lists only
   * those codecs (RFC 4733 telephone-event kept).
   */
  private preferCodecs(pc: RTCPeerConnection): void {
    const choice = ($<HTMLSelectElement>("codecs").value || "any") as Codecs;
    if (choice === "any") return;
    const wanted = choice === "opus" ? ["audio/opus"] : ["audio/pcmu", "audio/pcma"];
    const codecs = RTCRtpReceiver.getCapabilities("audio")?.codecs ?? [];
    const keep = codecs.filter((c) => wanted.includes(c.mimeType.toLowerCase()) || c.mimeType.toLowerCase() === "audio/telephone-event");
    pc.addTransceiver("audio", { direction: "sendrecv" }).setCodecPreferences(keep);
  }

  private onConfirmed(session: RTCSession): void {
    if (this.current) this.current.answered = Date.now();
    this.setCall(`in call with ${session.remote_identity.uri.toString()}`);
    $("answer").hidden = true;
    const audio = $<HTMLAudioElement>("remote");
    const receivers = session.connection.getReceivers().map((r) => r.track);
    audio.srcObject = new MediaStream(receivers);
    this.statsTimer = setInterval(() => void this.updateStats(), 1000);
  }

  private onEnded(cause: string): void {
    if (this.current) {
      this.current.end = Date.now();
      this.current.cause = cause;
      this.log.add(this.current);
      this.renderLog();
    }
    if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
    this.session = undefined;
    this.current = undefined;
    $("answer").hidden = true;
    $("mute").textContent = "Mute";
    $("hold").textContent = "Hold";
    $<HTMLButtonElement>("hold").disabled = false;
    this.setCall(`call ended: ${cause}`);
  }

  /** The current call's media statistics (getStats), or undefined without a call. */
  async stats(): Promise<MediaStats | undefined> {
    const pc = this.session?.connection;
    return pc === undefined ? undefined : mediaStats(pc);
  }

  private async updateStats(): Promise<void> {
    const s = await this.stats();
    if (s === undefined) return;
    this.lastStats = s;
    $("stats").textContent =
      `audio ${s.codec ?? "?"}: received ${s.packetsReceived} packets, sent ${s.packetsSent}; ` +
      `${s.dtls === "connected" ? "DTLS-SRTP" : `DTLS ${s.dtls ?? "?"}`}, ICE ${s.ice ?? "?"}`;
  }

  private setStatus(text: string): void {
    $("status").textContent = text;
  }

  private setCall(text: string): void {
    $("callstate").textContent = text;
  }

  private renderLog(): void {
    const list = $("log");
    list.replaceChildren(
      ...this.log.records().map((r) => {
        const li = document.createElement("li");
        li.textContent = CallLog.describe(r);
        return li;
      }),
    );
  }
}

const phone = new Phone();
// The page's state, for the curious in the console (and for the end-to-end tests).
(globalThis as unknown as { phone: Phone }).phone = phone;
void phone.start();

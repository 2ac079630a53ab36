/**
 * The edge's half of media anchoring: ng commands travel to a bridge as `rtpengine` control
 * frames (bridge/README.md, "Link protocol"), the bridge runs them on its rtpengine and answers
 * with the same `id`. Each request waits at most `timeoutMs`, longer than the bridge's own tries
 * take, so a silent bridge or rtpengine ends as a clear error, never as a hang.
 */
import type { NgDict } from "./flags.ts";

export type RtpengineError =
  /** No bridge link is up on this shard. */
  | "no-bridge"
  /** No answer from the bridge in time. */
  | "timeout"
  /** The bridge has no rtpengine up (or none configured). */
  | "unavailable"
  /** rtpengine answered with an error (`error-reason` in `detail`). */
  | "refused"
  /** The bridge could not send to rtpengine, or refused the request as malformed. */
  | "send"
  | "invalid";

export type NgOutcome =
  | { ok: true; ng: NgDict; instance: string; bridge: string }
  | { ok: false; error: RtpengineError; detail: string; bridge?: string };

/** How the client reaches the bridges. */
export interface ControlLink {
  /** Sends one control frame (to `bridge` when its link is up, else the link in use); the bridge id used, or undefined. */
  sendControl(frame: string, bridge?: string): string | undefined;
  /** Whether that bridge (or the link in use) said in its hello that it has rtpengine. */
  hasRtpengine(bridge?: string): boolean;
}

interface Pending {
  readonly bridge: string;
  readonly timer: ReturnType<typeof setTimeout>;
  readonly done: (outcome: NgOutcome) => void;
}

const ERRORS = new Set<string>(["unavailable", "timeout", "send", "refused", "invalid"]);

export interface RtpengineClientOptions {
  /** Longest wait for the bridge's answer (ms). */
  timeoutMs: number;
}

export class RtpengineClient {
  readonly stats = { requests: 0, ok: 0, failed: 0 };
  private readonly pending = new Map<string, Pending>();
  private readonly prefix = (crypto.getRandomValues(new Uint32Array(1))[0] ?? 0).toString(36);
  private counter = 0;

  constructor(
    private readonly link: ControlLink,
    private readonly options: RtpengineClientOptions,
  ) {}

  /** Requests waiting for their answer. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Whether media can be anchored through that bridge (or the link in use): it was started with rtpengine. */
  available(bridge?: string): boolean {
    return this.link.hasRtpengine(bridge);
  }

  /** One ng command through a bridge (`bridge`: that one, when its link is up; else any). Never rejects. */
  request(ng: NgDict, set: number, bridge?: string): Promise<NgOutcome> {
    this.stats.requests++;
    const id = this.prefix + "." + (this.counter++).toString(36);
    const used = this.link.sendControl(JSON.stringify({ type: "rtpengine", id, set, ng }), bridge);
    if (used === undefined) {
      this.stats.failed++;
      return Promise.resolve({ ok: false, error: "no-bridge", detail: bridge === undefined ? "no bridge link is up" : `no link from bridge ${bridge}` });
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, { ok: false, error: "timeout", detail: `no answer from bridge ${used} in ${this.options.timeoutMs} ms`, bridge: used }), this.options.timeoutMs);
      this.pending.set(id, { bridge: used, timer, done: resolve });
    });
  }

  /** An `rtpengine` control frame from a bridge; false when it answers nothing waiting (late or forged). */
  reply(body: Record<string, unknown>): boolean {
    const id = typeof body.id === "string" ? body.id : "";
    const waiting = this.pending.get(id);
    if (waiting === undefined) return false;
    if (body.ok === true && typeof body.ng === "object" && body.ng !== null) {
      this.settle(id, { ok: true, ng: body.ng as NgDict, instance: String(body.instance ?? ""), bridge: waiting.bridge });
    } else {
      const error = typeof body.error === "string" && ERRORS.has(body.error) ? (body.error as RtpengineError) : "invalid";
      this.settle(id, { ok: false, error, detail: String(body.detail ?? "no detail"), bridge: waiting.bridge });
    }
    return true;
  }

  private settle(id: string, outcome: NgOutcome): void {
    const waiting = this.pending.get(id);
    if (waiting === undefined) return;
    clearTimeout(waiting.timer);
    this.pending.delete(id);
    if (outcome.ok) this.stats.ok++;
    else this.stats.failed++;
    waiting.done(outcome);
  }
}

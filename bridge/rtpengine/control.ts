/**
 * The `rtpengine` control frames of the link protocol (bridge/README.md): the edge asks, the
 * bridge runs the ng command on its rtpengine and answers on the same link with the same `id`.
 * Only the commands a proxy needs pass; rtpengine itself is never reachable from the edge or the
 * internet, only through this allow-list.
 */
import type { Logger } from "../../src/log.ts";
import type { BValue } from "./bencode.ts";
import type { NgDict } from "./ng.ts";
import type { PoolResult, RtpenginePool } from "./pool.ts";

export const COMMANDS = new Set(["ping", "offer", "answer", "delete", "query"]);

/** What the bridge answers: the edge matches it to its request by `id`. */
export type RtpengineReply =
  | { type: "rtpengine"; id: string; ok: true; ng: NgDict; instance: string; ms: number }
  | { type: "rtpengine"; id: string; ok: false; error: "unavailable" | "timeout" | "send" | "refused" | "invalid"; detail: string; instance?: string };

export class RtpengineControl {
  readonly stats = { requests: 0, ok: 0, failed: 0 };
  /** Undefined when the bridge runs without `--rtpengine`: every request is answered "unavailable". */
  private readonly pool: RtpenginePool | undefined;
  private readonly log: Logger;

  constructor(pool: RtpenginePool | undefined, log: Logger) {
    this.pool = pool;
    this.log = log;
  }

  /** One control frame of type `rtpengine`; `reply` sends the answer back on its link. */
  async handle(frame: Record<string, unknown>, reply: (answer: RtpengineReply) => void): Promise<void> {
    const id = typeof frame.id === "string" && frame.id.length > 0 && frame.id.length <= 64 ? frame.id : undefined;
    if (id === undefined) {
      this.log.warn("rtpengine request without a valid id dropped", {});
      return;
    }
    this.stats.requests++;
    const ng = toNg(frame.ng);
    const set = frame.set === undefined ? 0 : frame.set;
    let result: PoolResult | { ok: false; error: "invalid"; detail: string };
    if (ng === undefined || typeof ng.command !== "string" || !COMMANDS.has(ng.command)) {
      result = { ok: false, error: "invalid", detail: `ng must be a dictionary whose command is one of ${[...COMMANDS].join(", ")}` };
    } else if (typeof set !== "number" || !Number.isInteger(set) || set < 0) {
      result = { ok: false, error: "invalid", detail: "set must be a whole number" };
    } else if (this.pool === undefined) {
      result = { ok: false, error: "unavailable", detail: "this bridge runs without rtpengine (--rtpengine)" };
    } else {
      result = await this.pool.command(set, ng);
    }
    if (result.ok) {
      this.stats.ok++;
      reply({ type: "rtpengine", id, ok: true, ng: result.reply, instance: result.instance, ms: Math.round(result.ms * 1000) / 1000 });
      return;
    }
    this.stats.failed++;
    this.log.warn("rtpengine command failed", {
      command: ng?.command, callId: ng?.["call-id"], error: result.error, detail: result.detail,
      ...("instance" in result && result.instance !== undefined ? { instance: result.instance } : {}),
    });
    const answer: RtpengineReply = { type: "rtpengine", id, ok: false, error: result.error, detail: result.detail };
    if ("instance" in result && result.instance !== undefined) answer.instance = result.instance;
    reply(answer);
  }
}

/** A JSON value as bencode can carry it (strings, whole numbers, lists, dictionaries), else undefined. */
function toNg(value: unknown): NgDict | undefined {
  const converted = toBValue(value, 0);
  return converted !== undefined && typeof converted === "object" && !Array.isArray(converted) ? converted : undefined;
}

function toBValue(value: unknown, depth: number): BValue | undefined {
  if (depth > 8) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : undefined;
  if (Array.isArray(value)) {
    const out: BValue[] = [];
    for (const item of value) {
      const v = toBValue(item, depth + 1);
      if (v === undefined) return undefined;
      out.push(v);
    }
    return out;
  }
  if (typeof value === "object" && value !== null) {
    const out: NgDict = {};
    for (const [k, item] of Object.entries(value)) {
      const v = toBValue(item, depth + 1);
      if (v === undefined) return undefined;
      out[k] = v;
    }
    return out;
  }
  return undefined;
}

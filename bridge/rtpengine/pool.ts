/**
 * The rtpengine instances a bridge talks to, grouped in sets the way Kamailio's `rtpengine_sock`
 * groups them (`"udp:127.0.0.1:2223=2 udp:127.0.0.1:2224=1"`, `"1 == udp:10.0.0.5:2223"`). A new
 * call goes to an instance of its set chosen by weight from a hash of its Call-ID; every later
 * command of that call goes to the same instance (the call's media state lives there). An
 * instance that does not answer is disabled, pinged every `disableMs` and enabled again when it
 * answers (Kamailio `rtpengine_disable_tout`), so a dead instance costs one timeout, not one per call.
 */
import { isIP } from "node:net";
import type { Logger } from "../../src/log.ts";
import { fail, ok, type Parsed } from "../../src/sip/result.ts";
import { fnv1a } from "../../src/util/hash.ts";
import { formatAddress, parsePort, type Address } from "../frame.ts";
import type { NgDict, NgSocket } from "./ng.ts";

export interface InstanceConfig {
  /** As configured: `udp:host:port`. */
  url: string;
  address: Address;
  weight: number;
}

export interface SetConfig {
  id: number;
  instances: InstanceConfig[];
}

export type PoolResult =
  | { ok: true; reply: NgDict; instance: string; ms: number }
  | {
      ok: false;
      /** unavailable: no instance up in the set; timeout/send: the instance did not answer; refused: it answered with an error. */
      error: "unavailable" | "timeout" | "send" | "refused";
      detail: string;
      instance?: string;
    };

interface Instance extends InstanceConfig {
  readonly set: number;
  up: boolean;
  recheck: ReturnType<typeof setInterval> | undefined;
}

export interface PoolOptions {
  sets: SetConfig[];
  socket: NgSocket;
  log: Logger;
  /** While an instance is disabled, it is pinged this often (ms). */
  disableMs: number;
  /** Calls remembered for stickiness; the oldest is forgotten beyond this (it then hashes back to the same instance while the set is unchanged). */
  maxCalls?: number;
}

/**
 * Parses Kamailio's `rtpengine_sock` syntax: sets separated by `;`, each `[ID ==] URL[=WEIGHT] ...`
 * with `udp:IP:PORT` URLs (the ng listener is loopback or a private address, never a name to resolve).
 */
export function parseRtpengineSock(text: string): Parsed<SetConfig[]> {
  const sets: SetConfig[] = [];
  for (const part of text.split(";").map((p) => p.trim()).filter((p) => p !== "")) {
    const m = /^(?:(\d{1,4})\s*==\s*)?(.+)$/.exec(part);
    const id = Number(m?.[1] ?? 0);
    if (sets.some((s) => s.id === id)) return fail(`set ${id} given twice`);
    const instances: InstanceConfig[] = [];
    for (const url of (m?.[2] ?? "").split(/\s+/)) {
      const parsed = parseInstance(url);
      if (!parsed.ok) return parsed;
      instances.push(parsed.value);
    }
    sets.push({ id, instances });
  }
  return sets.length === 0 ? fail("no rtpengine given") : ok(sets);
}

function parseInstance(text: string): Parsed<InstanceConfig> {
  const m = /^udp:(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d{1,5})(?:=(\d{1,3}))?$/.exec(text);
  if (!m) return fail(`expected udp:IP:PORT[=WEIGHT], got ${JSON.stringify(text)}`);
  const host = (m[1] as string).replace(/^\[|\]$/g, "");
  const port = parsePort(m[2] as string);
  const weight = m[3] === undefined ? 1 : Number(m[3]);
  if (isIP(host) === 0) return fail(`not an IP address: ${JSON.stringify(host)}`);
  if (port === undefined || port === 0) return fail(`invalid port in ${JSON.stringify(text)}`);
  if (weight < 1) return fail(`weight must be 1 or more in ${JSON.stringify(text)}`);
  return ok({ url: text.replace(/=\d+$/, ""), address: { address: host, port }, weight });
}

export class RtpenginePool {
  private readonly sets = new Map<number, Instance[]>();
  private readonly socket: NgSocket;
  private readonly log: Logger;
  private readonly disableMs: number;
  private readonly maxCalls: number;
  /** Call-ID → the instance holding its media (insertion order = least recently used first). */
  private readonly calls = new Map<string, Instance>();

  constructor(options: PoolOptions) {
    this.socket = options.socket;
    this.log = options.log;
    this.disableMs = options.disableMs;
    this.maxCalls = options.maxCalls ?? 100_000;
    for (const s of options.sets) {
      this.sets.set(s.id, s.instances.map((i) => ({ ...i, set: s.id, up: true, recheck: undefined })));
    }
  }

  /** Calls currently pinned to an instance. */
  get size(): number {
    return this.calls.size;
  }

  /** Pings every instance once (the start-up report); resolves with who answered. */
  async probe(): Promise<{ instance: string; up: boolean }[]> {
    const all = [...this.sets.values()].flat();
    return Promise.all(
      all.map(async (i) => {
        const r = await this.socket.request(i.address, { command: "ping" });
        const up = r.ok && r.reply.result === "pong";
        if (up) this.log.info("rtpengine up", { instance: i.url, set: i.set });
        else this.disable(i, r.ok ? String(r.reply.result) : r.detail);
        return { instance: i.url, up };
      }),
    );
  }

  /** Runs one ng command for the call it names, on the call's instance (or a new one for a new call). */
  async command(setId: number, ng: NgDict): Promise<PoolResult> {
    const set = this.sets.get(setId);
    if (set === undefined) return { ok: false, error: "unavailable", detail: `no rtpengine set ${setId}` };
    const callId = typeof ng["call-id"] === "string" ? ng["call-id"] : "";
    const pinned = this.calls.get(callId);
    if (pinned !== undefined) {
      if (!pinned.up) return { ok: false, error: "unavailable", detail: `${pinned.url} is down`, instance: pinned.url };
      return this.send(pinned, ng, callId);
    }
    // A new call: the weighted choice, then the others in order if it does not answer.
    const tried = new Set<Instance>();
    let last: PoolResult = { ok: false, error: "unavailable", detail: `no rtpengine of set ${setId} is up` };
    for (let n = 0; n < set.length; n++) {
      const instance = pick(set, callId, tried);
      if (instance === undefined) break;
      tried.add(instance);
      last = await this.send(instance, ng, callId);
      if (last.ok || last.error === "refused" || ng.command !== "offer") return last;
    }
    return last;
  }

  stop(): void {
    for (const i of [...this.sets.values()].flat()) if (i.recheck !== undefined) clearInterval(i.recheck);
  }

  private async send(instance: Instance, ng: NgDict, callId: string): Promise<PoolResult> {
    const r = await this.socket.request(instance.address, ng);
    if (!r.ok) {
      this.disable(instance, r.detail);
      return { ok: false, error: r.error, detail: r.detail, instance: instance.url };
    }
    const result = r.reply.result;
    const whole = ng.command === "delete" && ng["to-tag"] === undefined && ng["via-branch"] === undefined;
    if (result === "ok" || result === "pong") {
      if (callId !== "" && !whole) this.pin(callId, instance);
      if (whole) this.calls.delete(callId);
      return { ok: true, reply: r.reply, instance: instance.url, ms: r.ms };
    }
    if (whole) this.calls.delete(callId);
    const reason = typeof r.reply["error-reason"] === "string" ? r.reply["error-reason"] : String(result);
    return { ok: false, error: "refused", detail: reason, instance: instance.url };
  }

  private pin(callId: string, instance: Instance): void {
    this.calls.delete(callId);
    this.calls.set(callId, instance);
    if (this.calls.size > this.maxCalls) {
      const oldest = this.calls.keys().next().value;
      if (oldest !== undefined) this.calls.delete(oldest);
    }
  }

  private disable(instance: Instance, why: string): void {
    if (!instance.up) return;
    instance.up = false;
    this.log.warn("rtpengine down", { instance: instance.url, set: instance.set, reason: why, recheckMs: this.disableMs });
    instance.recheck = setInterval(() => {
      void this.socket.request(instance.address, { command: "ping" }).then((r) => {
        if (!r.ok || r.reply.result !== "pong" || instance.up) return;
        instance.up = true;
        clearInterval(instance.recheck);
        instance.recheck = undefined;
        this.log.info("rtpengine up", { instance: instance.url, set: instance.set, address: formatAddress(instance.address) });
      });
    }, this.disableMs);
    instance.recheck.unref?.();
  }
}

/**
 * Kamailio's weighted choice: a hash of the Call-ID picks a point on the summed weights of the
 * instances that are up; the same Call-ID picks the same instance while the set is unchanged.
 */
function pick(set: readonly Instance[], callId: string, skip: ReadonlySet<Instance>): Instance | undefined {
  const live = set.filter((i) => i.up && !skip.has(i));
  let total = 0;
  for (const i of live) total += i.weight;
  if (total === 0) return undefined;
  let point = fnv1a(callId) % total;
  for (const i of live) {
    if (point < i.weight) return i;
    point -= i.weight;
  }
  return live[live.length - 1];
}

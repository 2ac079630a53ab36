import { DurableObject } from "cloudflare:workers";
import { configFor, type Config } from "../src/config.ts";
import type { Env } from "../src/env.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { answerChallenge } from "../src/modules/uac/digest-client.ts";
import {
  grantedExpires, kamailioFlags, minExpires, newStatus, refreshDelay, registerRequest, retryDelay,
  type RegStatus, type UacOutcome, type UacRequest,
} from "../src/modules/uac/reg.ts";
import { credentialsOf, UAC_REG_DISABLED, type UacRegRow } from "../src/modules/uac/uacreg.ts";
import { loadUacRegRow } from "../src/provisioning/uac-tables.ts";
import type { SipResponse } from "../src/sip/message.ts";
import { parseMessage } from "../src/sip/parser.ts";
import { fnv1a } from "../src/util/hash.ts";
import { shardOf } from "./shards.ts";

/** A shard that can send a registration's request through its bridge link (SipConnection.uacSend). */
interface UacShard {
  uacSend(request: UacRequest, timeoutMs: number): Promise<UacOutcome>;
}

/** What `uac.reg_dump` shows of one registration. */
export interface RegInfo extends RegStatus {
  /** Kamailio uac.reg_info flags (1 disabled, 2 in progress, 4 succeeded, 8 auth, 16 initialized). */
  flags: number;
}

const STATUS_KEY = "s";
/** Challenge rounds per attempt: the challenge, a stale nonce, a 423 with Min-Expires. */
const MAX_ROUNDS = 4;

/**
 * UacRegistration: one object per `uacreg` row (by `l_uuid`), keeping that account registered at
 * its carrier (Kamailio uac_reg). Its alarm is the refresh timer: before the registration expires
 * it registers again (same Call-ID, next CSeq, RFC 3261 §10.2.4); a failed attempt is retried
 * with a doubling backoff. The row is read from D1 at every attempt, so a changed password or a
 * removed row takes effect at the next one; the password never leaves D1 and this object's memory.
 * The REGISTER goes out through a shard's bridge link (durable-objects/uac-link.ts).
 */
export class UacRegistration extends DurableObject<Env> {
  private readonly config: Config;
  private readonly log: Logger;
  private status: RegStatus | undefined;
  private running: Promise<void> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = configFor(env);
    this.log = createLogger(this.config.logLevel);
    void ctx.blockConcurrencyWhile(async () => {
      this.status = await ctx.storage.get<RegStatus>(STATUS_KEY);
    });
  }

  /**
   * Makes sure the registration runs: a new one starts after its `reg_delay`; `now` (a reload,
   * Kamailio `uac.reg_refresh`) registers at once, whatever is scheduled.
   */
  async ensure(lUuid: string, now = false): Promise<RegInfo> {
    const status = (this.status ??= newStatus(lUuid));
    if (now) {
      await this.ctx.storage.setAlarm(Date.now());
    } else if ((await this.ctx.storage.getAlarm()) === null && status.state !== "disabled") {
      const row = status.state === "init" ? await loadUacRegRow(this.env.DB, lUuid) : undefined;
      await this.ctx.storage.setAlarm(Date.now() + (row?.reg_delay ?? 0) * 1000);
    }
    await this.save();
    return this.info();
  }

  /** `uac.reg_dump` / `uac.reg_info` for this registration. */
  async info(): Promise<RegInfo> {
    const status = this.status ?? newStatus(this.ctx.id.name ?? "");
    return { ...status, flags: kamailioFlags(status) };
  }

  /** Kamailio `uac.reg_unregister`: REGISTER with Expires 0, then nothing more until a reload. */
  async unregister(): Promise<RegInfo> {
    await this.ctx.storage.deleteAlarm();
    const row = await this.row();
    if (row !== undefined && this.status?.state === "registered") await this.attempt(row, 0);
    if (this.status !== undefined) this.status = { ...this.status, state: "disabled", nextAttemptAt: undefined, expiresAt: undefined, lastReason: "unregistered" };
    await this.save();
    return this.info();
  }

  override async alarm(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    await this.running;
  }

  private async run(): Promise<void> {
    const row = await this.row();
    if (row === undefined) {
      this.log.info("uac registration removed: no uacreg row", { l_uuid: this.ctx.id.name });
      await this.ctx.storage.deleteAll();
      this.status = undefined;
      return;
    }
    const status = (this.status ??= newStatus(row.l_uuid));
    if ((row.flags & UAC_REG_DISABLED) !== 0 || row.expires <= 0) {
      this.status = { ...status, state: "disabled", nextAttemptAt: undefined, lastReason: row.expires <= 0 ? "expires 0: credentials only" : "disabled (flags)" };
      await this.save();
      return;
    }
    await this.attempt(row, row.expires);
  }

  private async row(): Promise<UacRegRow | undefined> {
    const lUuid = this.ctx.id.name ?? this.status?.l_uuid;
    return lUuid === undefined ? undefined : loadUacRegRow(this.env.DB, lUuid);
  }

  /**
   * One registration attempt: REGISTER, answering a 401/407 with the row's credentials (again
   * only for a stale nonce) and a 423 with the registrar's Min-Expires.
   */
  private async attempt(row: UacRegRow, asked: number): Promise<void> {
    const status = this.status as RegStatus;
    status.state = "registering";
    await this.save();
    let expires = asked;
    let credentials: [string, string] | undefined;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      status.cseq++;
      const request = registerRequest(row, status, expires, credentials);
      if (request === undefined) return this.failed(0, "no next hop (r_domain / auth_proxy)", asked);
      const outcome = await this.send(request);
      if (outcome.kind !== "reply") return this.failed(outcome.kind === "timeout" ? 408 : 503, outcome.kind === "unreachable" ? `unreachable: ${outcome.reason}` : outcome.kind, asked);
      const reply = parseReply(outcome.text);
      if (reply === undefined) return this.failed(0, "unparseable reply", asked);
      if (reply.status >= 200 && reply.status < 300) return this.registered(reply, row, expires);
      if (reply.status === 401 || reply.status === 407) {
        const answer = answerChallenge(reply, { method: "REGISTER", uri: request.ruri }, credentialsOf(row));
        if (!answer.ok) return this.failed(reply.status, answer.reason, asked);
        if (credentials !== undefined && !answer.answer.stale) return this.failed(reply.status, "credentials refused", asked);
        credentials = [answer.answer.header, answer.answer.value];
        continue;
      }
      const min = reply.status === 423 ? minExpires(reply, expires) : undefined;
      if (min === undefined) return this.failed(reply.status, reply.reason, asked);
      expires = min;
    }
    return this.failed(0, "too many challenge rounds", asked);
  }

  /** Through the shards' bridge links, starting with one chosen by the row (spreads the accounts). */
  private async send(request: UacRequest): Promise<UacOutcome> {
    const n = this.config.connectionShards;
    const first = fnv1a(request.contactUser) % n;
    const timeout = Math.min(this.config.tm.frTimer, 32_000);
    for (let i = 0; i < n; i++) {
      const shard = shardOf(this.env.SIP_CONNECTION, (first + i) % n) as unknown as UacShard;
      const outcome = await shard.uacSend(request, timeout);
      if (outcome.kind !== "no-link") return outcome;
    }
    return { kind: "no-link" };
  }

  private async registered(reply: SipResponse, row: UacRegRow, asked: number): Promise<void> {
    const status = this.status as RegStatus;
    const now = Date.now();
    if (asked === 0) {
      Object.assign(status, { state: "disabled", lastStatus: reply.status, lastReason: "unregistered" });
      this.log.info("uac unregistered", { l_uuid: row.l_uuid });
      return this.save();
    }
    const granted = grantedExpires(reply, row.l_uuid, asked);
    if (granted <= 0) return this.failed(reply.status, "the registrar granted no time", asked);
    Object.assign(status, {
      state: "registered", failures: 0, registeredAt: now, expires: granted, expiresAt: now + granted * 1000,
      nextAttemptAt: now + refreshDelay(granted), lastStatus: reply.status, lastReason: reply.reason, contact: contactOf(reply, row.l_uuid),
    });
    this.log.info("uac registered", { l_uuid: row.l_uuid, registrar: row.auth_proxy || row.r_domain, expires: granted });
    await this.ctx.storage.setAlarm(status.nextAttemptAt as number);
    await this.save();
  }

  private async failed(code: number, reason: string, asked: number): Promise<void> {
    const status = this.status as RegStatus;
    if (asked === 0) return this.save();
    status.failures++;
    const delay = retryDelay(status.failures, this.config.uac.regRetryInterval, this.config.uac.regRetryMax);
    Object.assign(status, { state: "failed", nextAttemptAt: Date.now() + delay, lastStatus: code, lastReason: reason });
    this.log.warn("uac registration failed", { l_uuid: status.l_uuid, status: code, reason, failures: status.failures, retryInMs: delay });
    await this.ctx.storage.setAlarm(status.nextAttemptAt as number);
    await this.save();
  }

  private async save(): Promise<void> {
    if (this.status !== undefined) await this.ctx.storage.put(STATUS_KEY, this.status);
  }
}

function parseReply(text: string): SipResponse | undefined {
  const parsed = parseMessage(text);
  return parsed.ok && parsed.message.kind === "response" ? parsed.message : undefined;
}

/** The registered binding as the registrar listed it (RFC 3261 §10.3 item 8), for the dump. */
function contactOf(reply: SipResponse, lUuid: string): string | undefined {
  for (const line of reply.headers.lines()) {
    if (line.key !== "contact") continue;
    const mine = line.elements().find((v) => v.includes(`sip:${lUuid}@`));
    if (mine !== undefined) return mine.trim();
  }
  return undefined;
}

/** The registration object of a `uacreg` row. */
export function uacRegistrationOf(ns: DurableObjectNamespace<UacRegistration>, lUuid: string): DurableObjectStub<UacRegistration> {
  return ns.get(ns.idFromName(lUuid));
}

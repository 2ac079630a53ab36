/**
 * What a transaction keeps of its request route once the route has ended: the socket it answers
 * on and the route's view for its failure and onreply routes. Each is made apart from the request
 * context (src/routing/context.ts), which must not live on for the 32 s a transaction waits after
 * its final response (RFC 6026 Timers L and M, RFC 3261 Timer H) with its module scripts, its
 * request and its routes' closures.
 */
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { FailureBase } from "../modules/tm/index.ts";
import type { RtpengineScript } from "../modules/rtpengine/script.ts";
import type { SipMessage, SipRequest, SipResponse } from "../sip/message.ts";
import type { Uri } from "../sip/uri.ts";
import { isMyself } from "./context.ts";
import type { Services, Source, Transport } from "./services.ts";

/** Tells the request's final-response listeners (sl and tm replies alike). */
export function notifyFinals(finals: readonly ((response: SipResponse) => void)[], message: SipMessage | string): void {
  if (finals.length === 0 || typeof message === "string" || message.kind !== "response" || message.status < 200) return;
  for (const fn of finals) fn(message);
}

/**
 * Where a request's transaction answers: the transport, telling the final-response listeners.
 * Made outside the context on purpose: the transaction keeps it for the 32 s of RFC 6026's
 * Timers L and M after the call was answered, and a closure made in a method of the context
 * would keep the whole context (its module scripts, the request, the logger) that long. A class,
 * not an object with an arrow: the bundle (keep_names) gives each named closure a property array.
 */
export class Upstream implements Transport {
  private readonly transport: Transport;
  private readonly finals: readonly ((response: SipResponse) => void)[];

  constructor(transport: Transport, finals: readonly ((response: SipResponse) => void)[]) {
    this.transport = transport;
    this.finals = finals;
  }

  send(message: SipMessage | string): void {
    notifyFinals(this.finals, message);
    this.transport.send(message);
  }
}

/**
 * The request route's view tm keeps for the failure and onreply routes (`FailureBase`), made apart
 * from the request context, which a transaction must not keep through its 32 s with its module
 * scripts and its routes' closures.
 */
export class RouteView implements FailureBase {
  readonly config: Config;
  readonly log: Logger;
  readonly source: Source;
  private readonly isBridgeAddress: Services["isBridgeAddress"];

  constructor(config: Config, log: Logger, source: Source, isBridgeAddress: Services["isBridgeAddress"]) {
    this.config = config;
    this.log = log;
    this.source = source;
    this.isBridgeAddress = isBridgeAddress;
  }

  isMyself(target: string | Uri): boolean {
    return isMyself(this.config, target, this.isBridgeAddress);
  }
}

/** rtpengine over a call's messages (`fromSource`: the message came from the request's source). */
export type RtpengineOfCall = (msg: SipMessage, request?: SipRequest, fromSource?: boolean) => RtpengineScript;

/** A Tm wired to fake timers, a fake downstream (branches) and a fake upstream (the caller's socket). */
import { parseConfig } from "../../../src/config.ts";
import { createLogger } from "../../../src/log.ts";
import { isMyself } from "../../../src/routing/context.ts";
import type { SipRequest, SipResponse } from "../../../src/sip/message.ts";
import { createResponse, type ResponseOptions } from "../../../src/sip/response.ts";
import { Tm } from "../../../src/modules/tm/index.ts";
import type { FailureBase, Target, TmOptions } from "../../../src/modules/tm/index.ts";
import { FakeTimers, Wire, reparse } from "../transactions/helpers.ts";

export const config = parseConfig({ SIP_DOMAIN: "localhost", SIP_ALIASES: "127.0.0.1" });
export const logLines: string[] = [];
export const base: FailureBase = {
  config,
  log: createLogger("error", (line) => logLines.push(line)),
  source: { transport: "wss", ip: "127.0.0.2", flow: "flow-alice" },
  isMyself: (t) => isMyself(config, t),
};

export interface Sent {
  request: SipRequest;
  target: Target;
}

export function harness(options: Partial<TmOptions> = {}) {
  const timers = new FakeTimers();
  const upstream = new Wire();
  const down: Sent[] = [];
  let failDown = false;
  const tm = new Tm({
    ownerId: "shard-1",
    sentBy: { transport: "WSS", host: "edge.localhost" },
    timers,
    clock: timers,
    sendRequest: (request, target) => {
      if (failDown) return false;
      down.push({ request: reparse(request), target });
      return true;
    },
    ...options,
  });
  return {
    tm,
    timers,
    upstream,
    down,
    failDownstream(on: boolean) {
      failDown = on;
    },
    /** Requests sent downstream with that method. */
    sent(method: string): SipRequest[] {
      return down.filter((d) => d.request.method === method).map((d) => d.request);
    },
    /** The UAS behind a branch answers: the response comes back over the wire into tm. */
    answer(branch: SipRequest, status: number, reason: string, opts: ResponseOptions = {}): SipResponse {
      const r = reparse(createResponse(branch, status, reason, opts));
      tm.receiveResponse(r);
      return r;
    },
  };
}

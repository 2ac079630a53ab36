/**
 * Where the counters are taken: a few wrappers the owning object puts around what it already
 * injects (its transports, its guard service, tm's events), so that the route script and the
 * modules carry no metrics code.
 */
import type { Transport } from "../routing/context.ts";
import type { GuardService } from "../modules/pike/script.ts";
import type { SipMessage } from "../sip/message.ts";
import type { ParseResult } from "../sip/parser.ts";
import { classLabel, methodLabel, type Metrics } from "./counters.ts";

/** The pipeline's hook: one call per message read (`processMessage`). */
export interface MessageCounter {
  message(parsed: ParseResult): void;
}

export function messageCounter(metrics: Metrics): MessageCounter {
  return {
    message(parsed) {
      if (!parsed.ok) metrics.inc("malformed");
      else if (parsed.message.kind === "request") metrics.inc("requests", methodLabel(parsed.message.method));
      else metrics.inc("repliesReceived", classLabel(parsed.message.status));
    },
  };
}

/** A transport that counts the replies sent on it (locally generated and relayed alike). */
export function countingTransport<T extends Transport>(transport: T, metrics: Metrics): Transport {
  return {
    send(message: SipMessage | string): void {
      countSent(message, metrics);
      transport.send(message);
    },
  };
}

function countSent(message: SipMessage | string, metrics: Metrics): void {
  if (typeof message === "string") {
    // Only replies built from a failed parse travel as text: "SIP/2.0 400 ...".
    if (message.startsWith("SIP/2.0 ")) metrics.inc("repliesSent", classLabel(Number(message.slice(8, 11))));
    return;
  }
  if (message.kind !== "response") return;
  const status = message.status;
  metrics.inc("repliesSent", classLabel(status));
  if (status >= 200 && message.cseq.method === "REGISTER") {
    metrics.inc("registrations", status < 300 ? "accepted" : status === 401 ? "challenged" : "rejected");
  }
}

/** The guard service with its verdicts counted (pike drops, bans, auth failures and blocks). */
export function instrumentGuard(guard: GuardService, metrics: Metrics): GuardService {
  return {
    checkReq: async (source, now) => {
      const verdict = await guard.checkReq(source, now);
      if (verdict.verdict === "flood") metrics.inc("pikeDrops");
      return verdict;
    },
    isBanned: (ip, now) => {
      const banned = guard.isBanned(ip, now);
      if (banned) metrics.inc("bannedDrops");
      return banned;
    },
    ban: (source) => {
      metrics.inc("bans");
      return guard.ban(source);
    },
    authWatched: (ip) => guard.authWatched(ip),
    authBlockCheck: async (request) => {
      const verdict = await guard.authBlockCheck(request);
      if (verdict.verdict === "block") metrics.inc("authBlocked");
      return verdict;
    },
    authFailure: (user, ip) => {
      metrics.inc("authFailures");
      return guard.authFailure(user, ip);
    },
  };
}

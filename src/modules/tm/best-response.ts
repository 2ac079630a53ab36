/**
 * Choosing the response a proxy sends upstream when every branch ended without a 2xx
 * (RFC 3261 §16.7 item 6), and the 401/407 challenge aggregation of item 7.
 */
import type { SipResponse } from "../../sip/message.ts";
import type { Branch } from "./branch.ts";
import type { Winner } from "./failure.ts";

/**
 * §16.7 item 6: "The proxy SHOULD give preference to responses that provide information affecting
 * resubmission of this request, such as 401, 407, 415, 420, and 484 if the 4xx class is chosen."
 */
const PREFERRED_4XX: ReadonlySet<number> = new Set([401, 407, 415, 420, 484]);

/**
 * A rank; lower is better. §16.7 item 6: "The proxy MUST choose from amongst the responses ... If
 * a 6xx class response is among them, it MUST be chosen; otherwise the lowest response class
 * SHOULD be chosen." Within a class the preferred 4xx come first, a 503 last ("A proxy which
 * receives a 503 (Service Unavailable) response SHOULD NOT forward it upstream unless it can
 * determine that any subsequent requests it might proxy will also generate a 503"), and
 * otherwise the lowest code, as Kamailio picks.
 */
function rank(status: number): number {
  const cls = Math.floor(status / 100);
  const classRank = cls === 6 ? 0 : cls;
  let within = status;
  if (cls === 4 && PREFERRED_4XX.has(status)) within = status - 100;
  if (status === 503) within = 600;
  return classRank * 1000 + within;
}

/** The index of the best status, or -1 for none. Ties keep the first received. */
export function pickBest(statuses: readonly number[]): number {
  let best = -1;
  let bestRank = Infinity;
  for (let i = 0; i < statuses.length; i++) {
    const status = statuses[i];
    if (status === undefined || status < 300) continue;
    const r = rank(status);
    if (r < bestRank) {
      bestRank = r;
      best = i;
    }
  }
  return best;
}

/**
 * §16.7 item 7: "If the selected response is a 401 (Unauthorized) or 407 (Proxy Authentication
 * Required), the proxy MUST collect any WWW-Authenticate and Proxy-Authenticate header field
 * values from all other 401 (Unauthorized) and 407 (Proxy Authentication Required) responses
 * received so far in this response context and add them to this response without modification
 * before forwarding."
 */
export function aggregateChallenges(chosen: SipResponse, others: readonly SipResponse[]): void {
  for (const other of others) {
    if (other === chosen || (other.status !== 401 && other.status !== 407)) continue;
    for (const line of other.headers.lines()) {
      if (line.key === "www-authenticate" || line.key === "proxy-authenticate") chosen.headers.append(line.name, line.value);
    }
  }
}

/** The branch whose reply won, as the failure route's tests (t_check_status ...) see it. */
export function winnerOf(round: readonly Branch[]): Winner {
  const best = round[pickBest(round.map((b) => b.status))];
  if (best === undefined) return { status: 408, response: undefined, timedOut: true, replied: false };
  return {
    status: best.status,
    response: best.local ? undefined : best.response,
    timedOut: best.timedOut,
    replied: best.replied,
    branch: { request: best.request, target: best.target },
  };
}

/**
 * The response to send upstream when every branch of the round ended without a 2xx. A received
 * one loses the proxy's Via; `local` builds the proxy's own (408, 487, 500).
 */
export function bestResponse(
  round: readonly Branch[],
  canceled: boolean,
  local: (status: number, reason: string) => SipResponse,
): SipResponse {
  let chosen = round[pickBest(round.map((b) => b.status))];
  if (canceled && chosen?.status !== 487) {
    // The caller cancelled: it expects the 487 of §9.2, whatever the branches said meanwhile.
    chosen = round.find((b) => b.status === 487 && !b.local);
  }
  if (chosen === undefined || chosen.response === undefined) {
    return canceled ? local(487, "Request Terminated") : local(408, "Request Timeout");
  }
  // §16.7 item 6: "If the only response that was received is a 503, the proxy SHOULD generate a
  // 500 response and forward that upstream."
  if (chosen.status === 503) return local(500, "Server Internal Error");
  const response = chosen.response;
  if (chosen.local) return response;
  response.headers.removeFirstValue("via");
  if (response.status === 401 || response.status === 407) {
    aggregateChallenges(response, round.flatMap((b) => (b.local || b.response === undefined ? [] : [b.response])));
  }
  return response;
}

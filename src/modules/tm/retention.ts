/**
 * What a finished response context keeps (src/modules/tm/README.md, "After the final response").
 * Every branch is final and the final response went upstream, but the server and client
 * transactions stay 32 s (RFC 6026 Timers L and M, RFC 3261 Timer H) to absorb retransmissions,
 * and the context with them: at hundreds of calls per second those 32 s are most of an isolate's
 * heap. So the context drops what only a running transaction uses.
 */
import { matchingCopy } from "../../sip/transactions/requests.ts";
import type { ResponseContext } from "./response-context.ts";

/**
 * Drops the routes' closures and the responses, keeps the final response for Timer H in strings of
 * its own, and swaps the requests for copies with what matching reads. What a retransmitted 2xx
 * still passes through stays: the onreply route (with the request route's view it is given and
 * what it reads of the branch's request), and the answered route while a branch that ended locally
 * (a timeout) may still be answered late.
 */
export function releaseFinished(ctx: ResponseContext): void {
  ctx.pending = [];
  ctx.failureRoute = undefined;
  ctx.branchRoute = undefined;
  for (const branch of ctx.branches) branch.response = undefined;
  // A branch whose client transaction ended (the next hop unreachable, or its own timeout) can
  // no longer be answered: only one still waiting (Timer B after a CANCEL) may bring a late 2xx.
  const lateAnswer = ctx.branches.some((branch) => branch.local && branch.tx.state !== "Terminated");
  if (!lateAnswer) ctx.answeredRoute = undefined;
  ctx.server.keepOwnResponse();
  const replyRoute = ctx.replyRoute !== undefined;
  if (!replyRoute) ctx.base = undefined;
  // The failure and branch routes are gone, so nothing else reads the requests' bodies or other headers.
  if (ctx.isInvite && !lateAnswer) keepMatchingCopies(ctx, replyRoute);
}

/**
 * The received INVITE and each branch's copy give way to copies with what matching, an ACK and
 * a response's upstream form read (`matchingCopy`), and with an onreply route what it reads of a
 * branch's request: the messages themselves, with their parsed headers, are freed while the
 * transactions wait.
 */
function keepMatchingCopies(ctx: ResponseContext, forReplyRoute: boolean): void {
  const received = matchingCopy(ctx.request);
  if (ctx.server.request === ctx.request) ctx.server.keepRequest(received);
  ctx.request = received;
  for (const branch of ctx.branches) {
    const copy = matchingCopy(branch.request, forReplyRoute);
    if (branch.tx.request === branch.request) branch.tx.keepRequest(copy);
    branch.request = copy;
  }
}

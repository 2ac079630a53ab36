/**
 * The stateful proxy core of one owning object (Kamailio `tm`): its transaction table, its live
 * response contexts, and the entry points a Durable Object calls for each message.
 */
import type { SipRequest, SipResponse } from "../../sip/message.ts";
import { createResponse } from "../../sip/response.ts";
import { requestUriFor } from "../../sip/uri.ts";
import { TIMER_C, systemClock, timersFor } from "../../sip/timers.ts";
import type { Send } from "../../sip/transactions/base.ts";
import { InviteServerTransaction, NonInviteServerTransaction, type AnyServerTransaction, type ServerTransactionUser } from "../../sip/transactions/server.ts";
import { TransactionTable } from "../../sip/transactions/table.ts";
import { matchingCopy } from "../../sip/transactions/requests.ts";
import { encodeOwner, isLooped, loopHash, makeBranch } from "./branch-id.ts";
import type { ContextDeps } from "./deps.ts";
import { refuseTargets } from "./branch.ts";
import { ResponseContext } from "./response-context.ts";
import { restoreContext, snapshotContext, type ResponseContextSnapshot, type RestoreEnv } from "./snapshot.ts";
import type { CheckTransResult, RelayOptions, RelayResult, ReplyOptions, Target, TmOptions, Upstream } from "./types.ts";
import { fnv1a } from "../../util/hash.ts";
import { applyBranchChanges } from "./branch-request.ts";

export class Tm {
  readonly table = new TransactionTable();
  private readonly contexts = new Map<string, ResponseContext>();
  private readonly byServer = new WeakMap<AnyServerTransaction, ResponseContext>();
  private readonly deps: ContextDeps;
  private readonly options: TmOptions;
  private readonly frTimer: number;
  private readonly frInvTimer: number;
  private idPrefix: string | undefined;
  private counter = 0;

  constructor(options: TmOptions) {
    this.options = options;
    this.frTimer = options.frTimer ?? 30_000;
    this.frInvTimer = options.frInvTimer ?? TIMER_C;
    const values = timersFor(options.reliable ?? true);
    const timers = options.timers;
    const clock = options.clock ?? systemClock;
    this.deps = {
      owner: encodeOwner(options.ownerId),
      viaFor: (target) => target.via ?? options.viaFor?.(target) ?? options.sentBy,
      signer: options.signer,
      sendRequest: options.sendRequest,
      table: this.table,
      timers,
      clock,
      values,
      maxBranches: options.maxBranches ?? 12,
      serverHeader: options.serverHeader ?? "sipedge",
      events: options.events,
      txOptions: (send: Send) => ({ send, timers, clock, values }),
      forget: (ctx) => {
        this.contexts.delete(ctx.id);
        // Finished: a retransmission, an ACK or a CANCEL is the server transaction's alone now,
        // so a failed call's context goes while the transaction waits for the ACK (Timer H).
        this.byServer.delete(ctx.server);
        options.onForget?.(ctx.id);
      },
    };
  }

  /** Live response contexts (each a transaction with branches still running or unanswered). */
  get size(): number {
    return this.contexts.size;
  }

  context(id: string): ResponseContext | undefined {
    return this.contexts.get(id);
  }

  /** The live contexts, e.g. to persist the INVITEs that still ring when the object may sleep. */
  liveContexts(): IterableIterator<ResponseContext> {
    return this.contexts.values();
  }

  /**
   * Kamailio `t_check_trans`: a request that belongs to an existing transaction is handled here
   * (retransmission answered again, ACK of a non-2xx absorbed, CANCEL answered and propagated).
   */
  checkTrans(request: SipRequest, upstream: Upstream): CheckTransResult {
    const tx = this.table.matchServer(request);
    if (tx !== undefined) {
      const verdict = tx.receiveRequest(request);
      if (request.method !== "ACK") return { found: true, action: "retransmission" };
      return { found: true, action: verdict === "pass" ? "ack-forward" : "ack-absorbed" };
    }
    if (request.method === "CANCEL" && this.cancel(request, upstream)) return { found: true, action: "canceled" };
    return { found: false };
  }

  /**
   * Kamailio `t_relay`: forward statefully to `targets` (default: the Request-URI). ACK and a
   * CANCEL without transaction are forwarded statelessly (RFC 3261 §16.10, §16.11); a CANCEL with
   * one is answered and propagated. Errors come back with the status the script should answer.
   */
  relay(request: SipRequest, upstream: Upstream, targets?: Target[], options: RelayOptions = {}): RelayResult {
    if (request.method === "ACK") return this.forwardStateless(request, targets);
    if (request.method === "CANCEL") {
      const again = this.table.matchServer(request);
      if (again !== undefined) {
        again.receiveRequest(request);
        return { ok: true, kind: "absorbed" };
      }
      // §16.10: "If a response context is not found, the element ... MUST statelessly forward the CANCEL".
      return this.cancel(request, upstream) ? { ok: true, kind: "canceled" } : this.forwardStateless(request, targets);
    }
    const existing = this.table.matchServer(request);
    if (existing !== undefined && (existing.request !== request || answered(existing) || this.byServer.has(existing))) {
      existing.receiveRequest(request);
      return { ok: true, kind: "absorbed" };
    }
    // Refusals come before anything is created, so the script can still answer statelessly.
    // §16.3 item 4: loop detection.
    if (isLooped(request, request.uri)) return { ok: false, error: "loop", status: 482, reason: "Loop Detected" };
    const list = targets ?? [{ uri: request.uri }];
    const refused = refuseTargets(list, 0, this.deps.maxBranches);
    if (refused !== undefined) return refused;
    const server = existing ?? this.newServer(request, upstream);
    const ctx = new ResponseContext(
      {
        id: this.nextId(),
        request,
        loop: loopHash(request, request.uri),
        server,
        upstream,
        base: options.base,
        upstreamKey: options.upstreamKey,
        onFailure: options.onFailure,
        onBranch: options.onBranch,
        onAnswered: options.onAnswered,
        onReply: options.onReply,
        frTimer: options.frTimer ?? this.frTimer,
        frInvTimer: options.frInvTimer ?? this.frInvTimer,
        ...(options.edits === undefined ? {} : { edits: options.edits }),
      },
      this.deps,
    );
    this.contexts.set(ctx.id, ctx);
    this.byServer.set(server, ctx);
    // §17.2.1: the server transaction "MUST generate a 100 (Trying) response unless it knows that
    // the TU will generate a provisional or final response within 200 ms" (Kamailio auto_inv_100).
    if (request.method === "INVITE" && (this.options.auto100 ?? true) && server.lastResponse === undefined) {
      server.respond(createResponse(request, 100, "Trying"));
    }
    return ctx.relay(list);
  }

  /** Kamailio `t_reply`: a stateful reply (a retransmitted request gets it again). */
  reply(request: SipRequest, upstream: Upstream, status: number, reason: string, options: ReplyOptions = {}): boolean {
    if (request.method === "ACK") return false;
    const existing = this.table.matchServer(request);
    const ctx = existing === undefined ? undefined : this.byServer.get(existing);
    if (ctx !== undefined) return ctx.reply(status, reason, options);
    if (existing !== undefined && (existing.request !== request || answered(existing))) return false;
    const server = existing ?? this.newServer(request, upstream);
    const headers: [string, string][] = [["Server", this.deps.serverHeader], ...(options.headers ?? [])];
    const sent = server.respond(createResponse(request, status, reason, { headers, body: options.body, contentType: options.contentType }));
    if (status >= 200) keepAnswered(server, request);
    return sent;
  }

  /** A response from downstream (§17.1.3 matching); "no-transaction" means it is not ours. */
  receiveResponse(response: SipResponse): "handled" | "no-transaction" {
    const tx = this.table.matchClient(response);
    if (tx === undefined) return "no-transaction";
    tx.receiveResponse(response);
    return "handled";
  }

  /**
   * The next hop of a branch reported it cannot deliver (the bridge's `timeout` / `unreachable`
   * control frames): the branch ends at once (408 as a timeout, 503 as a transport error), so a
   * failure route can fail over without waiting for fr_timer. False: no such pending branch.
   */
  branchFailed(branch: string, method: string, kind: "timeout" | "transport"): boolean {
    const tx = this.table.client(branch, method);
    if (tx === undefined) return false;
    tx.fail(kind);
    return true;
  }

  snapshot(id: string): ResponseContextSnapshot | undefined {
    const ctx = this.contexts.get(id);
    return ctx === undefined ? undefined : snapshotContext(ctx);
  }

  /** Brings a snapshotted transaction back (after the owning object was evicted and woke up). */
  restore(snapshot: ResponseContextSnapshot, env: RestoreEnv): ResponseContext | undefined {
    const ctx = restoreContext(snapshot, this.deps, env);
    if (ctx === undefined) return undefined;
    this.contexts.set(ctx.id, ctx);
    this.byServer.set(ctx.server, ctx);
    return ctx;
  }

  /**
   * §16.10: "If a matching response context is found, the element MUST immediately return a 200
   * (OK) response to the CANCEL request" and "MUST generate CANCEL requests for all pending
   * client transactions in the context". The INVITE then ends with 487 (see sendBest).
   */
  private cancel(request: SipRequest, upstream: Upstream): boolean {
    const invite = this.table.matchCancelled(request);
    if (invite === undefined) return false;
    const tx = new NonInviteServerTransaction(request, {}, this.deps.txOptions((m) => upstream.send(m)));
    this.table.addServer(tx);
    tx.respond(createResponse(request, 200, "OK", { headers: [["Server", this.deps.serverHeader]] }));
    const ctx = this.byServer.get(invite);
    if (ctx !== undefined) ctx.cancel();
    else if (invite.state === "Proceeding") invite.respond(createResponse(invite.request, 487, "Request Terminated"));
    return true;
  }

  private newServer(request: SipRequest, upstream: Upstream): AnyServerTransaction {
    const options = this.deps.txOptions((message) => upstream.send(message));
    const user = new CallerGone(this.byServer);
    const tx: AnyServerTransaction =
      request.method === "INVITE"
        ? new InviteServerTransaction(request, user, options)
        : new NonInviteServerTransaction(request, user, options);
    user.tx = tx;
    this.table.addServer(tx);
    return tx;
  }

  /**
   * §16.11: stateless forwarding. The branch must be the same for a retransmission, so it is
   * derived from the received top Via branch (an ACK for a 2xx is retransmitted by the UAC with
   * the same branch, §13.2.2.4).
   */
  private forwardStateless(request: SipRequest, targets: Target[] | undefined): RelayResult {
    const target = targets?.[0] ?? { uri: request.uri };
    const copy = request.clone();
    copy.uri = requestUriFor(target.uri);
    const path = target.path ?? [];
    for (let i = path.length - 1; i >= 0; i--) copy.headers.prepend("Route", path[i] as string);
    const sentBy = this.deps.viaFor(target);
    const host = sentBy.port === undefined ? sentBy.host : `${sentBy.host}:${sentBy.port}`;
    const seed = (request.topVia().branch ?? request.headers.get("via") ?? "") + "\n" + target.uri;
    const branch = makeBranch(this.deps.owner, loopHash(request, request.uri), "s" + fnv1a(seed).toString(36), 0, this.deps.signer);
    copy.headers.prepend("Via", `SIP/2.0/${sentBy.transport} ${host};branch=${branch}`);
    applyBranchChanges(copy, undefined, target);
    if (this.deps.sendRequest(copy, target) === false) return { ok: false, error: "send-failed", status: 503, reason: "Service Unavailable" };
    return { ok: true, kind: "stateless" };
  }

  /** Unique across restarts: a random prefix per instance, then a counter. */
  private nextId(): string {
    this.idPrefix ??= (crypto.getRandomValues(new Uint32Array(1))[0] ?? 0).toString(36);
    return this.idPrefix + (this.counter++).toString(36);
  }
}

/**
 * The user of a server transaction: the caller's socket is gone, nobody is left to answer, so the
 * branches stop ringing. An object, not a closure: the transaction keeps it for its 32 s after the
 * final response, and the bundle (keep_names) gives every named closure a property array.
 */
class CallerGone implements ServerTransactionUser {
  tx: AnyServerTransaction | undefined = undefined;
  private readonly contexts: WeakMap<AnyServerTransaction, ResponseContext>;

  constructor(contexts: WeakMap<AnyServerTransaction, ResponseContext>) {
    this.contexts = contexts;
  }

  onTransportError(): void {
    if (this.tx !== undefined) this.contexts.get(this.tx)?.cancel();
  }
}

/**
 * A server transaction the script answered itself (`t_reply`, no branches) waits for the ACK, up
 * to Timer H's 32 s, or Timer L's after a 2xx: meanwhile it keeps a matching copy of the request
 * and its own copy of the final response, not the received message (src/modules/tm/retention.ts).
 */
function keepAnswered(server: AnyServerTransaction, request: SipRequest): void {
  if (server.state !== "Completed" && server.state !== "Accepted") return; // Terminated (Timer J of 0): nothing kept
  if (server.request === request) server.keepRequest(matchingCopy(request));
  server.keepOwnResponse();
}

/** The server transaction sent its final response: a request of it can no longer be relayed or answered. */
function answered(server: AnyServerTransaction): boolean {
  return server.state !== "Proceeding" && server.state !== "Trying";
}

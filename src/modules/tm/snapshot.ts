/**
 * A transaction as plain JSON, so a long-lived INVITE (ringing for minutes under Timer C)
 * survives the eviction of the Durable Object that owns it. Messages are stored serialized,
 * timers as absolute deadlines; the failure and branch routes by function name (routes are code,
 * registered again by the restoring object). The owner decides when to persist.
 */
import { InviteServerTransaction, NonInviteServerTransaction, type AnyServerTransaction, type ServerTransactionSnapshot } from "../../sip/transactions/server.ts";
import type { TransactionSnapshot } from "../../sip/transactions/base.ts";
import type { ContextDeps } from "./deps.ts";
import { newBranch } from "./branch.ts";
import { ResponseContext } from "./response-context.ts";
import type { ContextInit } from "./deps.ts";
import { loadRequest, loadResponse, store, type StoredMessage } from "./stored.ts";
import type { BranchEdits, BranchRoute, FailureBase, FailureRoute, Target, TmReplyContext, TmReplyRoute, Upstream } from "./types.ts";

export interface BranchSnapshot {
  target: Target;
  request: StoredMessage;
  tx: TransactionSnapshot;
  status: number;
  response?: StoredMessage;
  local: boolean;
  provisional: boolean;
  replied: boolean;
  timedOut: boolean;
  cancelWanted: boolean;
  canceled: boolean;
  final: boolean;
  /** The branch's fr/Timer C (or post-CANCEL) deadline, ms since the epoch. */
  timer?: { kind: "fr" | "cancel"; at: number };
}

export interface ResponseContextSnapshot {
  v: 1;
  id: string;
  request: StoredMessage;
  loop: string;
  server: ServerTransactionSnapshot;
  branches: BranchSnapshot[];
  pending: Target[][];
  roundStart: number;
  canceled: boolean;
  got6xx: boolean;
  finalSent: boolean;
  sent2xx: boolean;
  failureRoute?: string;
  branchRoute?: string;
  replyRoute?: string;
  upstreamKey?: string;
  frTimer: number;
  frInvTimer: number;
  /** The script's branch edits, for the q-groups not tried yet. */
  edits?: BranchEdits;
}

/**
 * Stands in for an onreply route that was armed but cannot be restored (its code is not among
 * `replyRoutes`). Replies must not pass unprocessed (an SDP that route would have rewritten, say),
 * so it fails closed as a route that throws does: each reply is discarded with 500.
 */
async function LOST_REPLY_ROUTE(ctx: TmReplyContext): Promise<void> {
  ctx.log.error("onreply route lost with the transaction's eviction: reply discarded", { status: ctx.msg.status });
  ctx.discard(500, "Server Internal Error");
}

/** What the restoring owner supplies: the live socket and the script's routes. */
export interface RestoreEnv {
  upstream: Upstream;
  base?: FailureBase;
  failureRoutes?: readonly FailureRoute[];
  branchRoutes?: readonly BranchRoute[];
  replyRoutes?: readonly TmReplyRoute[];
}

export function snapshotContext(ctx: ResponseContext): ResponseContextSnapshot {
  const snap: ResponseContextSnapshot = {
    v: 1,
    id: ctx.id,
    request: store(ctx.request),
    loop: ctx.loop,
    server: ctx.server.snapshot(),
    branches: ctx.branches.map((b) => {
      const branch: BranchSnapshot = {
        target: b.target, request: store(b.request), tx: b.tx.snapshot(), status: b.status, local: b.local,
        provisional: b.provisional, replied: b.replied, timedOut: b.timedOut, cancelWanted: b.cancelWanted,
        canceled: b.canceled, final: b.final,
      };
      if (b.response !== undefined) branch.response = store(b.response);
      if (b.timer !== undefined) branch.timer = { kind: b.timerKind, at: b.deadline };
      return branch;
    }),
    pending: ctx.pending,
    roundStart: ctx.roundStart,
    canceled: ctx.canceled,
    got6xx: ctx.got6xx,
    finalSent: ctx.finalSent,
    sent2xx: ctx.sent2xx,
    frTimer: ctx.frTimer,
    frInvTimer: ctx.frInvTimer,
  };
  if (ctx.failureRoute?.name) snap.failureRoute = ctx.failureRoute.name;
  if (ctx.branchRoute?.name) snap.branchRoute = ctx.branchRoute.name;
  if (ctx.replyRoute?.name) snap.replyRoute = ctx.replyRoute.name;
  if (ctx.upstreamKey !== undefined) snap.upstreamKey = ctx.upstreamKey;
  if (ctx.edits !== undefined) snap.edits = ctx.edits;
  return snap;
}

/** Rebuilds a context and its transactions; undefined when the snapshot cannot be read. */
export function restoreContext(snap: ResponseContextSnapshot, deps: ContextDeps, env: RestoreEnv): ResponseContext | undefined {
  if (snap.v !== 1) return undefined;
  const request = loadRequest(snap.request);
  if (request === undefined) return undefined;
  const options = deps.txOptions((message) => env.upstream.send(message));
  const server: AnyServerTransaction =
    request.method === "INVITE"
      ? new InviteServerTransaction(request, {}, options, snap.server)
      : new NonInviteServerTransaction(request, {}, options, snap.server);
  if (server.state !== "Terminated") deps.table.addServer(server);
  const init: ContextInit = { id: snap.id, request, loop: snap.loop, server, upstream: env.upstream, frTimer: snap.frTimer, frInvTimer: snap.frInvTimer };
  if (env.base !== undefined) init.base = env.base;
  if (snap.upstreamKey !== undefined) init.upstreamKey = snap.upstreamKey;
  if (snap.edits !== undefined) init.edits = snap.edits;
  const failureRoute = env.failureRoutes?.find((r) => r.name === snap.failureRoute);
  if (failureRoute !== undefined) init.onFailure = failureRoute;
  const branchRoute = env.branchRoutes?.find((r) => r.name === snap.branchRoute);
  if (branchRoute !== undefined) init.onBranch = branchRoute;
  if (snap.replyRoute !== undefined) init.onReply = env.replyRoutes?.find((r) => r.name === snap.replyRoute) ?? LOST_REPLY_ROUTE;
  const ctx = new ResponseContext(init, deps);
  ctx.pending = snap.pending;
  ctx.roundStart = snap.roundStart;
  ctx.canceled = snap.canceled;
  ctx.got6xx = snap.got6xx;
  ctx.finalSent = snap.finalSent;
  ctx.sent2xx = snap.sent2xx;
  for (const b of snap.branches) {
    const branchRequest = loadRequest(b.request);
    if (branchRequest === undefined) return undefined;
    const branch = newBranch(ctx.branches.length, b.target, branchRequest);
    Object.assign(branch, {
      status: b.status, local: b.local, provisional: b.provisional, replied: b.replied, timedOut: b.timedOut,
      cancelWanted: b.cancelWanted, canceled: b.canceled, final: b.final,
    });
    if (b.response !== undefined) branch.response = loadResponse(b.response);
    branch.tx = ctx.clientTransaction(branchRequest, b.target, branch, b.tx);
    if (branch.tx.state !== "Terminated") deps.table.addClient(branch.tx);
    ctx.branches.push(branch);
    // A deadline that passed while the object slept fires as soon as the object runs again.
    if (b.timer !== undefined) ctx.armBranchTimer(branch, Math.max(1, b.timer.at - deps.clock.now()), b.timer.kind);
  }
  return ctx;
}

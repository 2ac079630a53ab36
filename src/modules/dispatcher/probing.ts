/**
 * Keepalive (OPTIONS) probing and ds_mark_dst as pure state transitions. The Dispatcher object
 * sends the pings and calls these with the outcome; the thresholds and modes are Kamailio's.
 */
import type { Parsed } from "../../sip/result.ts";
import { fail, ok } from "../../sip/result.ts";
import type { Destination, DestinationSet, DestinationState } from "./types.ts";

/** ds_probing_mode, as the Kamailio docs define the values. */
export type ProbingMode = 0 | 1 | 2 | 3;

export interface ReplyCodes {
  readonly classes: ReadonlySet<number>;
  readonly codes: ReadonlySet<number>;
}

export interface ProbingOptions {
  /** ds_probing_threshold: failures before "active" becomes "inactive" (default 1) */
  readonly probingThreshold?: number;
  /** ds_inactive_threshold: successes before "inactive" becomes "active" (default 1) */
  readonly inactiveThreshold?: number;
  readonly mode?: ProbingMode;
  readonly replyCodes?: ReplyCodes;
}

export type DispatcherEvent = "dispatcher:dst-down" | "dispatcher:dst-up";

export interface Transition {
  readonly from: DestinationState;
  readonly to: DestinationState;
  readonly changed: boolean;
  /** the event route Kamailio runs for this change, if any */
  readonly event?: DispatcherEvent;
}

const NO_EXTRA_CODES: ReplyCodes = { classes: new Set(), codes: new Set() };

/**
 * ds_ping_reply_codes: "class=2;code=403;code=488;class=3". The docs call it a list
 * "separated by colons" while their example uses semicolons: both are accepted.
 */
export function parseReplyCodes(spec: string): Parsed<ReplyCodes> {
  const classes = new Set<number>();
  const codes = new Set<number>();
  for (const part of spec.split(/[;:]/)) {
    const item = part.trim();
    if (item === "") continue;
    const m = /^(class|code)\s*=\s*(\d+)$/i.exec(item);
    if (!m) return fail(`bad ds_ping_reply_codes item "${item}"`);
    const n = Number(m[2]);
    if (m[1]?.toLowerCase() === "class") {
      if (n < 1 || n > 6) return fail(`bad reply class ${n}`);
      classes.add(n);
    } else {
      if (n < 100 || n > 699) return fail(`bad reply code ${n}`);
      codes.add(n);
    }
  }
  return ok({ classes, codes });
}

/**
 * 200 is always accepted ("Default value is '' (only 200 OK is accepted)"). A ping with no reply
 * counts as a local 408, so accepting 408 or class 4 keeps a dead gateway up, as Kamailio warns.
 */
export function isAcceptedReply(status: number, codes: ReplyCodes = NO_EXTRA_CODES): boolean {
  return status === 200 || codes.codes.has(status) || codes.classes.has(Math.floor(status / 100));
}

export const TIMEOUT_STATUS = 408;

function isDown(state: DestinationState): boolean {
  return state === "inactive" || state === "probing";
}

/** Whether a destination gets a keepalive this round under ds_probing_mode. */
export function shouldProbe(dst: Destination, mode: ProbingMode = 0): boolean {
  if (dst.state === "disabled") return false;
  switch (mode) {
    case 1:
      return true;
    case 2:
      return dst.probe && isDown(dst.state);
    default:
      return dst.probe;
  }
}

function downState(dst: Destination): DestinationState {
  return dst.probe ? "probing" : "inactive";
}

function settle(dst: Destination, from: DestinationState, set?: DestinationSet): Transition {
  const to = dst.state;
  const changed = from !== to;
  if (changed && set) set.version += 1;
  const wasUp = from === "active" || from === "trying";
  const isUp = to === "active" || to === "trying";
  if (wasUp && !isUp && to !== "disabled") return { from, to, changed, event: "dispatcher:dst-down" };
  if (!wasUp && isUp) return { from, to, changed, event: "dispatcher:dst-up" };
  return { from, to, changed };
}

/**
 * One keepalive outcome (`status` 408 for no reply). Failures take an active destination to
 * "trying" and, at ds_probing_threshold, to inactive; successes take an inactive one back to
 * active at ds_inactive_threshold. Mode 0 clears the probing bit once the destination answers
 * ("After a gateway is probed, the PROBING state is cleared in this mode"); mode 3 never does.
 * Pass the destination's set so algorithm 11 rebuilds its table on a change.
 */
export function onProbeReply(dst: Destination, status: number, opts: ProbingOptions = {}, set?: DestinationSet): Transition {
  const from = dst.state;
  if (from === "disabled") return { from, to: from, changed: false };
  if (isAcceptedReply(status, opts.replyCodes)) {
    dst.failures = 0;
    if (isDown(from)) {
      dst.successes += 1;
      if (dst.successes >= (opts.inactiveThreshold ?? 1)) {
        dst.successes = 0;
        dst.state = "active";
      }
    } else {
      dst.state = "active";
    }
    if ((opts.mode ?? 0) === 0 && dst.state === "active") dst.probe = false;
    return settle(dst, from, set);
  }
  dst.successes = 0;
  if (!isDown(from)) {
    dst.failures += 1;
    dst.state = dst.failures >= (opts.probingThreshold ?? 1) ? downState(dst) : "trying";
  }
  return settle(dst, from, set);
}

/**
 * ds_mark_dst([state]): "a" active (failure counter reset), "i" inactive, "t" trying (failure
 * counter incremented, inactive at the threshold), "d" disabled; "p" added to a/i/t keeps the
 * destination probed. No argument means "i". Returns a reason string for a bad argument.
 */
export function markDst(dst: Destination, spec = "i", opts: ProbingOptions = {}, set?: DestinationSet): Transition | string {
  const letters = spec.toLowerCase();
  const probe = letters.includes("p");
  const base = letters.replace("p", "");
  if (base.length !== 1 || !"aitd".includes(base) || (probe && base === "d")) return `bad state "${spec}"`;
  const from = dst.state;
  dst.probe = probe;
  switch (base) {
    case "a":
      dst.failures = 0;
      dst.successes = 0;
      dst.state = "active";
      break;
    case "i":
      dst.state = downState(dst);
      break;
    case "t":
      dst.failures += 1;
      dst.state = dst.failures >= (opts.probingThreshold ?? 1) ? downState(dst) : "trying";
      break;
    default:
      dst.state = "disabled";
  }
  return settle(dst, from, set);
}

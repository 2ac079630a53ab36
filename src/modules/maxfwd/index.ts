import { parseMaxForwards, type SipRequest } from "../../sip/message.ts";

/**
 * Result of `process`, mirroring Kamailio's return codes: 2 = inserted, 1 = decremented,
 * -1 = arrived at 0, -2 = unusable header.
 */
export type MaxfwdResult =
  | { ok: true; action: "inserted" | "decremented"; value: number }
  | { ok: false; reason: "too-many-hops" | "malformed" };

export interface MaxfwdOptions {
  /** Kamailio `max_limit`: an incoming value above it is lowered to it. */
  maxLimit?: number;
}


export class Maxfwd {
  constructor(
    private readonly msg: SipRequest,
    private readonly options: MaxfwdOptions = {},
  ) {}

  /**
   * Kamailio `mf_process_maxfwd_header(max_value)`: insert the header with `maxValue` when it is
   * missing, otherwise decrement it; a request that arrives with 0 is refused (the script answers
   * 483, RFC 3261 §16.3 item 3).
   */
  process(maxValue: number): MaxfwdResult {
    const raw = this.msg.headers.get("Max-Forwards");
    if (raw === undefined) {
      this.msg.headers.append("Max-Forwards", String(maxValue));
      return { ok: true, action: "inserted", value: maxValue };
    }
    // RFC 3261 §20.22: 1*DIGIT, leading zeros allowed (RFC 4475 wsinv sends 0068).
    const current = parseMaxForwards(raw.trim());
    if (current === undefined) return { ok: false, reason: "malformed" };
    if (current === 0) return { ok: false, reason: "too-many-hops" };
    const limit = this.options.maxLimit ?? 70;
    const value = Math.min(current - 1, limit);
    this.msg.headers.set("Max-Forwards", String(value));
    return { ok: true, action: "decremented", value };
  }

  /** Kamailio `is_maxfwd_lt(max_value)`: the header is present and below `maxValue`. */
  isLessThan(maxValue: number): boolean {
    const raw = this.msg.headers.get("Max-Forwards");
    const value = raw === undefined ? undefined : parseMaxForwards(raw.trim());
    return value !== undefined && value < maxValue;
  }
}

import type { Logger } from "../src/log.ts";
import type { SipResponse } from "../src/sip/message.ts";
import { serialize } from "../src/sip/serializer.ts";
import { renderRequest, type UacOutcome, type UacRequest } from "../src/modules/uac/reg.ts";
import type { BridgeLinks } from "./bridge-links.ts";

/** Branch prefix of the requests the edge sends as a user agent (uac_reg), so their replies are recognised before routing. */
const UAC_PREFIX = "z9hG4bKuac";

/**
 * A shard's side of uac_reg: the registration objects hold no socket, so a shard sends their
 * REGISTERs through its bridge link and hands back the final reply. The bridge retransmits over
 * UDP and returns the reply on the link the request left through (bridge/README.md), so it
 * arrives here, where it is matched by branch before any routing; a `timeout` or `unreachable`
 * report from the bridge ends the wait at once.
 */
export class UacLinks {
  private readonly pending = new Map<string, (outcome: UacOutcome) => void>();
  private started = false;

  constructor(
    private readonly bridges: BridgeLinks,
    private readonly shard: string,
    private readonly startRegistrations: () => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  /**
   * A bridge link came up. Every bridge links to shard 0, so its first link (after a deploy too)
   * starts the registrations of every `uacreg` row that is not already scheduled.
   */
  linkUp(ctx: DurableObjectState): void {
    if (this.shard !== "0" || this.started) return;
    this.started = true;
    ctx.waitUntil(this.startRegistrations().catch((err: unknown) => this.log.warn("starting uac registrations failed", { error: String(err) })));
  }

  /** Sends `request` through a link of this shard; resolves with the final reply, or why there is none. */
  send(request: UacRequest, timeoutMs: number): Promise<UacOutcome> {
    const link = this.bridges.link();
    if (link === undefined) return Promise.resolve({ kind: "no-link" });
    const branch = `${UAC_PREFIX}${this.shard}x${crypto.randomUUID().replaceAll("-", "")}`;
    return new Promise<UacOutcome>((resolve) => {
      const timer = setTimeout(() => finish({ kind: "timeout" }), timeoutMs);
      const finish = (outcome: UacOutcome): void => {
        clearTimeout(timer);
        this.pending.delete(branch);
        resolve(outcome);
      };
      this.pending.set(branch, finish);
      if (!this.bridges.send(request.dst, renderRequest(request, link.advertise, branch), link.bridge)) finish({ kind: "no-link" });
    });
  }

  /** A reply to one of these requests: consumed here (true), else the caller routes it. Provisional replies are absorbed. */
  reply(response: SipResponse): boolean {
    const branch = response.topVia().branch ?? "";
    if (!branch.startsWith(UAC_PREFIX)) return false;
    if (response.status >= 200) this.pending.get(branch)?.({ kind: "reply", text: serialize(response) });
    return true;
  }

  /** The bridge's `timeout` / `unreachable` report for a branch; true when it was one of these. */
  failed(branch: string, type: string, reason: string): boolean {
    const done = this.pending.get(branch);
    if (done === undefined) return false;
    done(type === "timeout" ? { kind: "timeout" } : { kind: "unreachable", reason });
    return true;
  }
}

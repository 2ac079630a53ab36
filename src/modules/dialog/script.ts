import type { RequestContext } from "../../routing/context.ts";
import { isSipUri } from "../../sip/uri.ts";
import { formatHostPort } from "../../transport/bridge.ts";
import { aorOf } from "../registrar/index.ts";
import { dialogOf, type GatewayDialog, type WebSocketSide } from "./index.ts";

/** Where the shard keeps gateway calls (durable-objects/dialogs.ts). */
export interface DialogService {
  /** A call between a WebSocket client and a gateway was answered. */
  answered(dialog: GatewayDialog): void;
  /** A call's BYE passed; `owner` is the shard that keeps its record (the `shard` of its route set). */
  ended(callId: string, owner: string): void;
  /**
   * Kamailio dialog `track_cseq_updates`: how much higher the gateway side of a dialog counts CSeq
   * than the WebSocket side sends, from challenges answered inside the dialog (uac_auth on a
   * re-INVITE). Kept by the shard of the WebSocket side's socket, where its next requests arrive.
   */
  cseqShift(callId: string): number;
  shiftCseq(callId: string, by: number): void;
}

/**
 * The `ctx.dialog` namespace (Kamailio dialog): `manage()` is `dlg_manage()` for a call between a
 * WebSocket client and a gateway, in either direction; `ended()` tells the record's keeper that
 * the call's BYE went by.
 */
export class DialogScript {
  constructor(
    private readonly ctx: RequestContext,
    private readonly service: DialogService,
  ) {}

  /** Kamailio `dlg_manage()`: the INVITE's answer starts tracking the call (call it before t_relay). */
  manage(): void {
    const { ctx } = this;
    if (ctx.msg.method !== "INVITE") return;
    const { source } = ctx;
    let ws: WebSocketSide | undefined;
    let gateway: { dst: string; bridge?: string } | undefined;
    if (source.transport === "udp") {
      if (source.port === undefined) return;
      gateway = { dst: formatHostPort({ host: source.ip, port: source.port }) };
      if (source.bridge !== undefined) gateway.bridge = source.bridge;
    } else {
      if (source.flow === undefined) return;
      ws = { flow: source.flow };
      if (source.instance !== undefined) ws.instance = source.instance;
      const from = ctx.msg.from().uri;
      if (isSipUri(from) && from.user && ctx.isMyself(from.host)) ws.aor = aorOf(from.user, ctx.config.domain);
    }
    ctx.tm.onAnswered((request, response, target) => {
      const dialog = dialogOf(request, response, target, { ws, gateway }, Date.now());
      if (dialog !== undefined) this.service.answered(dialog);
    });
  }

  /** The BYE of a call this edge tracks went by: its keeper (`owner`) forgets it. */
  ended(owner: string): void {
    this.service.ended(this.ctx.msg.callId, owner);
  }

  /** The CSeq shift of this request's dialog beyond its route set's (`track_cseq_updates`). */
  cseqShift(): number {
    return this.service.cseqShift(this.ctx.msg.callId);
  }

  /** A request of this dialog toward the gateway was resent with a CSeq `by` higher: its later ones follow. */
  shiftCseq(by: number): void {
    this.service.shiftCseq(this.ctx.msg.callId, by);
  }
}

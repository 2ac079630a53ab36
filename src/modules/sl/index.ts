import type { RequestContext } from "../../routing/context.ts";
import { createResponse } from "../../sip/response.ts";
import { fnv1a } from "../../util/hash.ts";

export interface ReplyOptions {
  headers?: [string, string][];
  body?: string;
  contentType?: string;
}

/**
 * Stateless replies (Kamailio `sl`). The To-tag is derived from the request, so a retransmitted
 * request gets the same tag and the client sees one response, as Kamailio's sl does.
 */
export class Sl {
  constructor(private readonly ctx: RequestContext) {}

  /** Kamailio `sl_send_reply(code, reason)`. Returns false for an ACK, which is never answered. */
  sendReply(status: number, reason: string, options: ReplyOptions = {}): boolean {
    const msg = this.ctx.msg;
    // RFC 3261 §17.2.1 and §8.2.6: an ACK is never answered; it is absorbed.
    if (msg.method === "ACK") {
      this.ctx.drop();
      return false;
    }
    const headers: [string, string][] = [["Server", this.ctx.config.serverHeader], ...(options.headers ?? [])];
    const toTag = status > 100 ? statelessTag(msg.callId, msg.topVia().branch ?? "", msg.cseq.seq) : undefined;
    const response = createResponse(msg, status, reason, {
      toTag,
      headers,
      body: options.body,
      contentType: options.contentType,
    });
    this.ctx.reply(response);
    return true;
  }
}

/** FNV-1a over the transaction key: stable for retransmissions, different across transactions. */
export function statelessTag(callId: string, branch: string, seq: number): string {
  return `se${fnv1a(`${callId}\n${branch}\n${seq}`).toString(16).padStart(8, "0")}`;
}

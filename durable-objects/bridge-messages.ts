import type { Config } from "../src/config.ts";
import type { Logger } from "../src/log.ts";
import { parseInbound, processMessage, type Inbound, type Script } from "../src/routing/pipeline.ts";
import { BridgeTransport, parseBridgeFrames, type BridgeFrame } from "../src/transport/bridge.ts";
import type { KeyedSerial } from "../src/util/serial.ts";
import type { BridgeAttachment, BridgeLinks } from "./bridge-links.ts";
import type { ShardOps } from "./shard-ops.ts";
import type { ShardServices } from "./shard-services.ts";
import type { TransactionStore } from "./transaction-store.ts";
import type { UacLinks } from "./uac-link.ts";

export interface BridgeMessageDeps {
  ctx: DurableObjectState;
  script: Script;
  config: Config;
  log: Logger;
  services: ShardServices;
  bridges: BridgeLinks;
  ops: ShardOps;
  /** The shard's per-call order (shared with the clients' per-flow order). */
  serial: KeyedSerial;
  uacLinks: UacLinks;
  transactions: TransactionStore;
}

/**
 * A bridge link's messages: gateways' datagrams through the route script, in arrival order per
 * call, and the bridge's own control frames (hello, delivery failures, rtpengine's answers).
 */
export class BridgeMessages {
  constructor(private readonly d: BridgeMessageDeps) {}

  /**
   * One message from a bridge: a frame, or on a v2 link a batch of them. Each starts in order (so
   * the requests of a call queue in order); they run concurrently as separate messages would.
   */
  async handle(ws: WebSocket, attachment: BridgeAttachment, data: string | ArrayBuffer): Promise<void> {
    await Promise.all(parseBridgeFrames(data).map((frame) => this.record(ws, attachment, frame)));
  }

  /** One frame from a bridge: a datagram from a gateway (through the route script), or control. */
  private async record(ws: WebSocket, attachment: BridgeAttachment, frame: BridgeFrame): Promise<void> {
    const d = this.d;
    switch (frame.kind) {
      case "hello":
        d.bridges.hello(ws, attachment, frame.advertise, frame);
        d.log.debug("bridge hello", { bridge: frame.bridge, advertise: frame.advertise, rtpengine: frame.rtpengine, pong: frame.pong });
        d.uacLinks.linkUp(d.ctx);
        return;
      case "control":
        if (frame.type === "rtpengine" && d.services.rtpengine.reply(frame.body)) return; // media answers
        if (frame.type === "pong") return d.bridges.probes.pong(frame.body);
        this.control(attachment.bridge, frame.type, frame.body);
        return;
      case "invalid":
        d.log.warn("bridge frame refused", { bridge: attachment.bridge, reason: frame.reason });
        return;
      case "datagram": {
        const parsed = parseInbound(frame.message, d.config.maxMessageSize);
        const input: Inbound = {
          data: frame.message,
          parsed,
          source: { transport: "udp", ip: frame.ip, port: frame.port, bridge: attachment.bridge },
          transport: d.ops.transport(new BridgeTransport(d.bridges.sender(ws, attachment), frame.address)),
          config: d.config,
          log: d.log,
          services: d.services,
          metrics: d.ops.counter,
        };
        // The requests of one call in arrival order (a CANCEL waits for its INVITE); responses need no order.
        // An inline arrow, not a named one: the bundle wraps each named closure in `__name` per frame.
        if (parsed.ok && parsed.message.kind === "request") await d.serial.run("call:" + parsed.message.callId, () => processMessage(d.script, input));
        else await processMessage(d.script, input);
        if (d.services.tm.size > 0) d.transactions.watch();
      }
    }
  }

  /**
   * The bridge could not deliver a request (`unreachable`) or got no final response to it
   * (`timeout`, its Timer B/F): the branch ends at once, 503 or 408, so failover need not wait
   * for fr_timer. The frame's fields are logged under `frame`, never over the log line's own.
   */
  private control(bridge: string, type: string, body: Record<string, unknown>): void {
    const d = this.d;
    const { branch, method } = body;
    if ((type === "timeout" || type === "unreachable") && typeof branch === "string" && typeof method === "string") {
      if (d.uacLinks.failed(branch, type, String(body["reason"] ?? ""))) return;
      const ended = d.services.tm.branchFailed(branch, method, type === "timeout" ? "timeout" : "transport");
      d.log.info("bridge could not deliver", { bridge, type, ended, frame: body });
      return;
    }
    d.log.info("bridge control frame", { bridge, type, frame: body });
  }
}

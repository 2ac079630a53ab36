import type { Config } from "../src/config.ts";
import type { Logger } from "../src/log.ts";
import type { MessageCounter } from "../src/metrics/instrument.ts";
import type { Services } from "../src/routing/context.ts";
import { parseInbound, processMessage, type Script } from "../src/routing/pipeline.ts";
import type { KeyedSerial } from "../src/util/serial.ts";
import type { Connection, Connections } from "./connections.ts";
import { RegisterGate } from "./register-gate.ts";

export interface ClientMessageDeps {
  script: Script;
  config: Config;
  log: Logger;
  services: Services;
  connections: Connections;
  /** The shard's per-flow order (shared with the bridge's per-call order). */
  serial: KeyedSerial;
  metrics: MessageCounter;
  /** A REGISTER was dropped unrun (sipedge_register_dropped_total). */
  dropped: () => void;
}

/**
 * A client socket's SIP messages through the route script: in arrival order per flow, and
 * REGISTERs through the shard's RegisterGate so that a reconnect storm queues in order instead of
 * sharing the thread among all of its REGISTERs at once.
 */
export class ClientMessages {
  readonly registers = new RegisterGate();

  constructor(private readonly d: ClientMessageDeps) {}

  async handle(ws: WebSocket, conn: Connection, message: string | Uint8Array): Promise<void> {
    const d = this.d;
    const parsed = parseInbound(message, d.config.maxMessageSize);
    const register = parsed.ok && parsed.message.kind === "request" && parsed.message.method === "REGISTER" ? parsed.message : undefined;
    // The tasks are arrows passed as arguments, never bound to a name: the bundler (keep_names)
    // wraps every named closure in an Object.defineProperty each time it is created.
    await d.serial.run(conn.attachment.flow, async () => {
      if (register === undefined) return this.process(ws, conn, message, parsed);
      const answersChallenge = register.headers.get("Authorization") !== undefined;
      if (!(await this.registers.run(answersChallenge, () => conn.closed !== true, () => this.process(ws, conn, message, parsed)))) {
        d.dropped();
        d.log.debug("register dropped: its socket closed while it waited", { flow: conn.attachment.flow });
      }
    });
  }

  private process(ws: WebSocket, conn: Connection, message: string | Uint8Array, parsed: ReturnType<typeof parseInbound>): Promise<void> {
    const d = this.d;
    return processMessage(d.script, {
      data: message,
      parsed,
      source: conn.source,
      transport: conn.transport,
      config: d.config,
      log: d.log,
      // Once per socket, not per message: the copy and its closures were a per-message allocation.
      services: (conn.services ??= {
        ...d.services,
        flowRegistered: (aor, instance) => d.connections.registered(ws, aor, instance),
        flowOpen: () => conn.closed !== true,
      }),
      metrics: d.metrics,
    });
  }
}

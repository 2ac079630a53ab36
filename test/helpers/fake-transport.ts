import type { Transport } from "../../src/routing/context.ts";
import type { SipMessage } from "../../src/sip/message.ts";
import { serialize } from "../../src/sip/serializer.ts";

/** Records what the pipeline sends, as wire text. */
export class FakeTransport implements Transport {
  readonly sent: string[] = [];
  send(message: SipMessage | string): void {
    this.sent.push(typeof message === "string" ? message : serialize(message));
  }
}

/**
 * Server transactions (RFC 3261 §17.2): the INVITE server transaction (§17.2.1, with RFC 6026's
 * Accepted state) and the non-INVITE server transaction (§17.2.2). They absorb retransmitted
 * requests by resending the last response, and the ACK of a non-2xx final response.
 */
import { HeaderLine, HeaderList } from "../headers.ts";
import { SipResponse, type SipRequest } from "../message.ts";
import { parseMessage } from "../parser.ts";
import { serialize } from "../serializer.ts";
import { Transaction, backoff, type TransactionOptions, type TransactionSnapshot } from "./base.ts";

export interface ServerTransactionUser {
  /** INVITE only: Timer H fired, the ACK for a non-2xx final response never came. */
  onTimeout?(): void;
  onTransportError?(): void;
}

/** What a server transaction did with a request that matched it. */
export type RequestVerdict =
  /** A retransmission: the last response (if any) was sent again. */
  | "retransmission"
  /** The ACK of a non-2xx final response: it ends at this hop (§17.1.1.3). */
  | "ack-absorbed"
  /** An ACK in the Accepted state (RFC 6026 Figure 7: "ACK / to TU"): the core forwards it. */
  | "pass";

/** A server transaction's snapshot also holds the last response, serialized. */
export interface ServerTransactionSnapshot extends TransactionSnapshot {
  response?: string;
  /** Accepted: the To tag of the 2xx sent (the response itself is not kept, see `acceptedToTag`). */
  toTag?: string;
}

abstract class ServerTransaction extends Transaction {
  protected readonly user: ServerTransactionUser;
  /** The last response sent: what a retransmitted request gets again (none kept in Accepted). */
  lastResponse: SipResponse | undefined;
  /**
   * Accepted (RFC 6026): the To tag of the 2xx sent, for RFC 2543 ACK matching. The 2xx itself is
   * not kept: in Accepted a retransmitted INVITE is absorbed, never answered again (§7.1), and
   * the 32 s of Timer L must not hold a response with its body per call.
   */
  acceptedToTag: string | undefined;

  constructor(request: SipRequest, initial: "Proceeding" | "Trying", user: ServerTransactionUser, options: TransactionOptions) {
    super(request, initial, options);
    this.user = user;
    this.lastResponse = undefined;
    this.acceptedToTag = undefined;
  }

  override snapshot(): ServerTransactionSnapshot {
    const snap: ServerTransactionSnapshot = super.snapshot();
    if (this.lastResponse !== undefined) snap.response = serialize(this.lastResponse);
    if (this.acceptedToTag !== undefined) snap.toTag = this.acceptedToTag;
    return snap;
  }

  protected restore(snapshot: ServerTransactionSnapshot): void {
    if (snapshot.response !== undefined) {
      const parsed = parseMessage(snapshot.response);
      if (parsed.ok && parsed.message.kind === "response") this.lastResponse = parsed.message;
    }
    this.acceptedToTag = snapshot.toTag;
    this.resume(snapshot);
  }

  /**
   * Completed: the final response a retransmitted request gets again (Timer H, or J on an
   * unreliable transport) gives way to a byte-identical copy in strings of its own. The response's
   * values are views of the message they were cut from (the next hop's datagram, or the received
   * request a local response was built from), which the copy lets go.
   */
  keepOwnResponse(): void {
    if (this.state === "Completed" && this.lastResponse !== undefined) this.lastResponse = ownResponseCopy(this.lastResponse);
  }

  abstract receiveRequest(request: SipRequest): RequestVerdict;
  /** Sends a response from the TU; false when the state does not allow it (it is dropped). */
  abstract respond(response: SipResponse): boolean;

  protected send(response: SipResponse): boolean {
    this.lastResponse = response;
    return this.transmit(response);
  }

  protected resendLast(): void {
    if (this.lastResponse !== undefined) this.transmit(this.lastResponse);
  }

  protected override transportError(): void {
    if (this.state === "Terminated") return;
    this.terminate();
    this.user.onTransportError?.();
  }
}

export class InviteServerTransaction extends ServerTransaction {
  readonly kind = "invite-server";

  constructor(request: SipRequest, user: ServerTransactionUser, options: TransactionOptions, resume?: ServerTransactionSnapshot) {
    super(request, "Proceeding", user, options);
    if (resume !== undefined) this.restore(resume);
  }

  /** RFC 3261 Figure 7 with RFC 6026 Figure 5, for requests that matched this transaction. */
  receiveRequest(request: SipRequest): RequestVerdict {
    if (request.method === "ACK") {
      switch (this.state) {
        case "Completed":
          // §17.2.1: "If an ACK is received while the server transaction is in the "Completed"
          // state, the server transaction MUST transition to the "Confirmed" state. As Timer G
          // is ignored in this state, any retransmissions of the response will cease."
          this.stopTimer("G");
          this.stopTimer("H");
          this.state = "Confirmed";
          this.startTimer("I", this.values.TIMER_I);
          return "ack-absorbed";
        case "Accepted":
          return "pass";
        default:
          return "ack-absorbed";
      }
    }
    // §17.2.1: "If a request retransmission is received while in the "Proceeding" state, the most
    // recent provisional response that was received from the TU MUST be passed to the transport
    // layer for retransmission"; in Completed the final response is sent again. RFC 6026 §7.1:
    // in Accepted a retransmitted INVITE is absorbed (the TU retransmits its own 2xx).
    if (this.state === "Proceeding" || this.state === "Completed") this.resendLast();
    return "retransmission";
  }

  respond(response: SipResponse): boolean {
    const status = response.status;
    switch (this.state) {
      case "Proceeding":
        if (status < 200) return this.send(response);
        if (status < 300) {
          // RFC 6026 §7.1: "If, while in the "Proceeding" state, the TU passes a 2xx response
          // to the server transaction, the server transaction MUST pass this response to the
          // transport layer for transmission ... The server transaction MUST then transition to
          // the "Accepted" state" and start Timer L.
          this.state = "Accepted";
          this.lastResponse = undefined;
          this.acceptedToTag = ownCopy(response.to().params.get("tag") ?? "");
          if (!this.transmit(response)) return false;
          this.startTimer("L", this.values.TIMER_L);
          return true;
        }
        // §17.2.1: "the server transaction MUST transition to the "Completed" state"; "For
        // unreliable transports, timer G is set to fire in T1 seconds"; "timer H MUST be set to
        // fire in 64*T1 seconds for all transports".
        this.state = "Completed";
        if (!this.send(response)) return false;
        if (!this.reliable) this.startTimer("G", this.values.TIMER_G);
        this.startTimer("H", this.values.TIMER_H);
        return true;
      case "Accepted":
        // RFC 6026 §7.1: "While in the "Accepted" state, any retransmissions of the 2xx response
        // passed from the TU to the server transaction MUST be passed to the transport layer"
        // (a proxy also sends the 2xx of further forks this way, §16.7 item 5).
        return status >= 200 && status < 300 ? this.transmit(response) : false;
      default:
        return false;
    }
  }

  protected fire(name: string, interval: number): void {
    switch (name) {
      case "G":
        if (this.state !== "Completed") return;
        // §17.2.1: Timer G is reset "with a value of MIN(2*T1, T2)", doubling each time.
        this.resendLast();
        if (this.state === "Completed") this.startTimer("G", backoff(interval, this.values));
        return;
      case "H":
        if (this.state !== "Completed") return;
        // §17.2.1: "If timer H fires while in the "Completed" state, it implies that the ACK
        // was never received. In this case, the server transaction MUST transition to the
        // "Terminated" state, and MUST indicate to the TU that a transaction failure has occurred."
        this.terminate();
        this.user.onTimeout?.();
        return;
      default: // I, L
        this.terminate();
    }
  }
}

export class NonInviteServerTransaction extends ServerTransaction {
  readonly kind = "non-invite-server";

  constructor(request: SipRequest, user: ServerTransactionUser, options: TransactionOptions, resume?: ServerTransactionSnapshot) {
    super(request, "Trying", user, options);
    if (resume !== undefined) this.restore(resume);
  }

  /**
   * RFC 3261 Figure 8. §17.2.2: in Trying "Any further request retransmissions received while in
   * this state MUST be discarded"; in Proceeding and Completed the last response is sent again.
   */
  receiveRequest(_request: SipRequest): RequestVerdict {
    if (this.state === "Proceeding" || this.state === "Completed") this.resendLast();
    return "retransmission";
  }

  respond(response: SipResponse): boolean {
    if (this.state !== "Trying" && this.state !== "Proceeding") {
      // §17.2.2: "Any other final responses passed by the TU to the server transaction MUST be
      // discarded while in the "Completed" state."
      return false;
    }
    if (response.status < 200) {
      this.state = "Proceeding";
      return this.send(response);
    }
    this.state = "Completed";
    if (!this.send(response)) return false;
    this.startTimer("J", this.values.TIMER_J);
    return true;
  }

  protected fire(_name: string, _interval: number): void {
    this.terminate(); // J
  }
}

export type AnyServerTransaction = InviteServerTransaction | NonInviteServerTransaction;

/**
 * `text` in memory of its own: a substring of a received message is a view that keeps the whole
 * message, and this one stays for the 32 s of Timer L.
 */
function ownCopy(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/** `response` with every header line, its start line and body, all in strings of their own. */
function ownResponseCopy(response: SipResponse): SipResponse {
  const lines = response.headers.lines();
  const texts = [response.startLine(), response.body, ...lines.flatMap((line) => [line.value, line.raw ?? null])];
  const [startLine = "", body = "", ...rest] = JSON.parse(JSON.stringify(texts)) as (string | null)[];
  const copied = lines.map((line, i) => new HeaderLine(line.name, line.key, rest[2 * i] ?? line.value, rest[2 * i + 1] ?? undefined));
  const status = response.status;
  return new SipResponse({ headers: new HeaderList(copied), body: body ?? "", encoding: response.encoding, status, reason: ownCopy(response.reason), startLine: startLine ?? undefined });
}

/**
 * Client transactions (RFC 3261 §17.1): the INVITE client transaction (§17.1.1, with RFC 6026's
 * Accepted state) and the non-INVITE client transaction (§17.1.2). The transaction user (the
 * proxy core, tm) gets each response that is not a retransmission, a timeout, or a transport error.
 */
import type { SipRequest, SipResponse } from "../message.ts";
import { Transaction, backoff, type TransactionOptions, type TransactionSnapshot } from "./base.ts";
import { createAck } from "./requests.ts";

export interface ClientTransactionUser {
  /** A response passed up; retransmissions of a final response are absorbed. */
  receiveResponse(response: SipResponse): void;
  /** Timer B or F fired: "the client transaction SHOULD inform the TU that a timeout has occurred". */
  onTimeout(): void;
  /** RFC 3261 §17.1.4: "the client transaction SHOULD inform the TU that a transport failure has occurred". */
  onTransportError(): void;
}

abstract class ClientTransaction extends Transaction {
  protected readonly user: ClientTransactionUser;

  constructor(request: SipRequest, initial: "Calling" | "Trying", user: ClientTransactionUser, options: TransactionOptions) {
    super(request, initial, options);
    this.user = user;
  }

  /** The branch of the Via this transaction put on its request: its identity (§17.1.3). */
  get branch(): string {
    return this.request.topVia().branch ?? "";
  }

  /**
   * Stop waiting after `ms`, whatever arrives meanwhile is still handled: the proxy calls this
   * after it gave up on a branch (Timer C, CANCEL) so a peer that never answers cannot keep the
   * transaction alive.
   */
  giveUp(ms: number): void {
    if (this.state !== "Terminated") this.startTimer("giveUp", ms);
  }

  abstract start(): void;
  abstract receiveResponse(response: SipResponse): void;

  /**
   * The next hop reported that the request cannot get through: `timeout` when nothing answered
   * it (the bridge's own Timer B/F on the UDP leg, §17.1.1.2 "the client transaction SHOULD
   * inform the TU that a timeout has occurred"), `transport` when it could not be sent (§17.1.4).
   * Ignored once a final response arrived.
   */
  fail(kind: "timeout" | "transport"): void {
    if (this.state !== "Calling" && this.state !== "Trying" && this.state !== "Proceeding") return;
    if (kind === "transport") {
      this.transportError();
      return;
    }
    this.terminate();
    this.user.onTimeout();
  }

  protected override transportError(): void {
    if (this.state === "Terminated") return;
    this.terminate();
    this.user.onTransportError();
  }
}

export class InviteClientTransaction extends ClientTransaction {
  readonly kind = "invite-client";

  constructor(request: SipRequest, user: ClientTransactionUser, options: TransactionOptions, resume?: TransactionSnapshot) {
    super(request, "Calling", user, options);
    if (resume !== undefined) this.resume(resume);
  }

  /**
   * §17.1.1.2: "the client transaction MUST pass the request to the transport layer for
   * transmission ... If an unreliable transport is being used, the client transaction MUST start
   * timer A with a value of T1 ... For any transport, the client transaction MUST start timer B
   * with a value of 64*T1 seconds".
   */
  start(): void {
    if (!this.transmit(this.request)) return;
    if (!this.reliable) this.startTimer("A", this.values.TIMER_A);
    this.startTimer("B", this.values.TIMER_B);
  }

  /** The documented state-machine switch of Figure 5 (RFC 3261) with RFC 6026 Figure 3. */
  receiveResponse(response: SipResponse): void {
    const status = response.status;
    switch (this.state) {
      case "Calling":
      case "Proceeding":
        if (status < 200) {
          // §17.1.1.2: "In the "Proceeding" state, the client transaction SHOULD NOT retransmit
          // the request any longer"; Timer B only guards the Calling state.
          this.stopTimer("A");
          this.stopTimer("B");
          this.state = "Proceeding";
          this.user.receiveResponse(response);
        } else if (status < 300) {
          // RFC 6026 §8.4: "the client transaction MUST transition to the "Accepted" state, and
          // Timer M MUST be started with a value of 64*T1."
          this.stopTimer("A");
          this.stopTimer("B");
          this.state = "Accepted";
          this.startTimer("M", this.values.TIMER_M);
          this.user.receiveResponse(response);
        } else {
          // §17.1.1.2: "When in either the "Calling" or "Proceeding" states, reception of a
          // response with status code from 300-699 MUST cause the client transaction to
          // transition to "Completed". The client transaction MUST pass the received response
          // up to the TU, and the client transaction MUST generate an ACK request".
          this.stopTimer("A");
          this.stopTimer("B");
          this.state = "Completed";
          // A lost ACK only makes the server retransmit its response: no transport error here.
          this.sendFn(createAck(this.request, response));
          this.user.receiveResponse(response);
          this.startTimer("D", this.values.TIMER_D);
        }
        return;
      case "Completed":
        // "Any retransmissions of the final response that are received while in the "Completed"
        // state MUST cause the ACK to be re-passed to the transport layer for retransmission, but
        // the newly received response MUST NOT be passed up to the TU."
        if (status >= 300) this.sendFn(createAck(this.request, response));
        return;
      case "Accepted":
        // RFC 6026 §8.4: "Any 2xx responses that match this client transaction and that are
        // received while in the "Accepted" state MUST be passed up to the TU."
        if (status >= 200 && status < 300) this.user.receiveResponse(response);
        return;
      default:
        return;
    }
  }

  protected fire(name: string, interval: number): void {
    switch (name) {
      case "A":
        if (this.state !== "Calling") return;
        // §17.1.1.2: "When timer A fires, the client transaction MUST retransmit the request ...
        // and reset the timer with a value of 2*T1" (doubling, no cap for INVITE).
        if (this.transmit(this.request)) this.startTimer("A", interval * 2);
        return;
      case "B":
        if (this.state !== "Calling") return;
        this.terminate();
        this.user.onTimeout();
        return;
      default: // D, M, giveUp
        this.terminate();
    }
  }
}

export class NonInviteClientTransaction extends ClientTransaction {
  readonly kind = "non-invite-client";

  constructor(request: SipRequest, user: ClientTransactionUser, options: TransactionOptions, resume?: TransactionSnapshot) {
    super(request, "Trying", user, options);
    if (resume !== undefined) this.resume(resume);
  }

  /** §17.1.2.2: send; Timer E (unreliable only) and Timer F (64*T1) start. */
  start(): void {
    if (!this.transmit(this.request)) return;
    if (!this.reliable) this.startTimer("E", this.values.TIMER_E);
    this.startTimer("F", this.values.TIMER_F);
  }

  /** RFC 3261 Figure 6. */
  receiveResponse(response: SipResponse): void {
    if (this.state !== "Trying" && this.state !== "Proceeding") return; // Completed absorbs
    if (response.status < 200) {
      this.state = "Proceeding";
      this.user.receiveResponse(response);
      return;
    }
    // §17.1.2.2: "If a final response (status codes 200-699) is received while in the "Trying"
    // [or "Proceeding"] state, the response MUST be passed to the TU, and the client transaction
    // MUST transition to the "Completed" state" and start Timer K.
    this.stopTimer("E");
    this.stopTimer("F");
    this.state = "Completed";
    this.user.receiveResponse(response);
    this.startTimer("K", this.values.TIMER_K);
  }

  protected fire(name: string, interval: number): void {
    switch (name) {
      case "E":
        if (this.state !== "Trying" && this.state !== "Proceeding") return;
        // §17.1.2.2: in Trying the interval doubles up to T2; "If Timer E fires while in the
        // "Proceeding" state, the request MUST be passed to the transport layer for
        // retransmission, and Timer E MUST be reset with a value of T2 seconds."
        if (this.transmit(this.request)) {
          this.startTimer("E", this.state === "Trying" ? backoff(interval, this.values) : this.values.T2);
        }
        return;
      case "F":
        if (this.state !== "Trying" && this.state !== "Proceeding") return;
        this.terminate();
        this.user.onTimeout();
        return;
      default: // K, giveUp
        this.terminate();
    }
  }
}

export type AnyClientTransaction = InviteClientTransaction | NonInviteClientTransaction;

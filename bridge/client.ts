/**
 * Client transactions for requests the edge sends to gateways (RFC 3261 §17.1, RFC 6026 §8.4),
 * reduced to what the UDP leg needs: the edge is the transaction user and reaches the bridge over
 * a reliable link, so the bridge retransmits requests, absorbs duplicate responses, and owns the
 * hop-by-hop ACK for a non-2xx final response to an INVITE.
 */
import { isRfc3261Branch } from "../src/sip/via.ts";
import type { Address } from "./frame.ts";
import type { BridgeRequest, BridgeResponse } from "./scan.ts";
import { TransactionTable, type Entry } from "./table.ts";
import { MAX_INVITE_LIFETIME, T2, TIMERS, nextTimerA, nextTimerE } from "./timers.ts";

/** RFC 3261 states, plus Accepted from RFC 6026 §8.4 for INVITE. */
export type ClientState = "Calling" | "Trying" | "Proceeding" | "Completed" | "Accepted";

export interface ClientTransaction extends Entry {
  readonly invite: boolean;
  readonly branch: string;
  readonly method: string;
  readonly callId: string;
  state: ClientState;
  /** The request as sent, for retransmissions; let go once a final response ends them. */
  data: Uint8Array;
  readonly to: Address;
  /** The edge link (shard) the request came on: its responses go back there. */
  readonly link: number;
  /** Current retransmission interval (Timer A or E) and time spent so far, against `limit` (B or F). */
  interval: number;
  elapsed: number;
  /** "|key|key|": provisional responses already passed to the edge. */
  provisional: string;
  /** INVITE only: the request, to build the ACK for a non-2xx final; let go with `data`. */
  request: BridgeRequest | undefined;
  ack: Uint8Array | undefined;
}

export interface ClientIo {
  /** Sends a datagram to the UDP side; `tx` is given for the first copy (to report errors). */
  send(to: Address, data: Uint8Array, tx?: ClientTransaction): void;
  /** Timer B or F fired: no final response came (the edge may treat it as a branch timeout). */
  timedOut(tx: ClientTransaction): void;
}

/** What to do with a response from a gateway: pass it to the edge (on `link`, when known), or not. */
export type ResponseVerdict = { forward: true; link: number | undefined } | { forward: false };

const ABSORB: ResponseVerdict = { forward: false };
const FORWARD_ANY: ResponseVerdict = { forward: true, link: undefined };
const encoder = new TextEncoder();
const SENT = new Uint8Array(0);

/** Responses match on the branch and the CSeq method (RFC 3261 §17.1.3); the edge's branch is unique. */
function clientKey(branch: string, method: string): string {
  return method + " " + branch;
}

export class ClientTransactions {
  readonly table: TransactionTable<ClientTransaction>;
  /** Requests sent again by Timer A or E (metrics). */
  retransmissions = 0;
  private readonly io: ClientIo;

  constructor(io: ClientIo, maxEntries: number) {
    this.io = io;
    this.table = new TransactionTable(maxEntries);
  }

  /** A request from the edge for `to`: sent now, and retransmitted until answered. */
  request(req: BridgeRequest, data: Uint8Array, to: Address, link: number): void {
    const branch = req.vias()[0]?.branch;
    // Without an RFC 3261 branch there is no transaction to key on: send once, statelessly.
    if (!isRfc3261Branch(branch) || branch === undefined) return this.io.send(to, data);
    if (req.method === "ACK") {
      // The ACK to a non-2xx final shares the INVITE's branch; the bridge already sent its own.
      const invite = this.table.get(clientKey(branch, "INVITE"));
      if (invite?.state === "Completed") return;
      return this.io.send(to, data);
    }
    const existing = this.table.get(clientKey(branch, req.method));
    if (existing !== undefined) return this.io.send(to, data); // the edge resent it: no new state
    const invite = req.method === "INVITE";
    const tx: ClientTransaction = {
      key: clientKey(branch, req.method),
      timer: undefined,
      invite,
      branch,
      method: req.method,
      callId: req.callId,
      state: invite ? "Calling" : "Trying",
      data,
      to,
      link,
      interval: invite ? TIMERS.A : TIMERS.E,
      elapsed: 0,
      provisional: "|",
      request: invite ? req : undefined,
      ack: undefined,
    };
    this.table.add(tx);
    this.io.send(to, data, tx);
    this.retransmitLater(tx);
  }

  /** A response from a gateway: decides whether the edge sees it. */
  response(res: BridgeResponse): ResponseVerdict {
    const branch = res.vias()[0]?.branch;
    if (branch === undefined) return FORWARD_ANY;
    const tx = this.table.get(clientKey(branch, res.cseq.method));
    if (tx === undefined) return FORWARD_ANY;
    return tx.invite ? this.inviteResponse(tx, res) : this.nonInviteResponse(tx, res);
  }

  clear(): void {
    this.table.clear();
  }

  private inviteResponse(tx: ClientTransaction, res: BridgeResponse): ResponseVerdict {
    const status = res.status;
    if (status >= 200 && status < 300) {
      // RFC 6026 §8.4: in Accepted "any 2xx responses ... MUST be passed up to the TU": each
      // retransmission or fork of the 2xx reaches the UAC, which ACKs it end to end (a proxy
      // forwards every 2xx, RFC 3261 §16.7 step 5, even after another fork's non-2xx).
      if (tx.state === "Calling" || tx.state === "Proceeding") {
        tx.state = "Accepted";
        release(tx);
        this.table.arm(tx, TIMERS.M, this.onEnd);
      }
      return { forward: true, link: tx.link };
    }
    if (status < 200) {
      if (tx.state === "Calling") {
        // RFC 3261 §17.1.1.2: a provisional response stops retransmissions; Timer B does not run
        // in Proceeding, only the lifetime cap does.
        tx.state = "Proceeding";
        this.table.arm(tx, Math.max(0, MAX_INVITE_LIFETIME - tx.elapsed), this.onEnd);
      }
      return tx.state === "Proceeding" ? this.firstProvisional(tx, res) : ABSORB;
    }
    if (tx.state === "Calling" || tx.state === "Proceeding") {
      tx.state = "Completed";
      tx.ack = encoder.encode(buildAck(tx.request as BridgeRequest, res));
      release(tx);
      this.io.send(tx.to, tx.ack);
      this.table.arm(tx, TIMERS.D, this.onEnd);
      return { forward: true, link: tx.link };
    }
    // §17.1.1.2: "Any retransmissions of the final response that are received while in the
    // Completed state MUST cause the ACK to be re-passed to the transport layer ... but the newly
    // received response MUST NOT be passed up to the TU."
    if (tx.state === "Completed" && tx.ack !== undefined) this.io.send(tx.to, tx.ack);
    return ABSORB;
  }

  private nonInviteResponse(tx: ClientTransaction, res: BridgeResponse): ResponseVerdict {
    if (tx.state === "Completed") return ABSORB; // §17.1.2.2: Timer K absorbs retransmitted finals
    if (res.status < 200) {
      // §17.1.2.2: retransmissions go on, at T2 from the next firing of Timer E.
      tx.state = "Proceeding";
      return this.firstProvisional(tx, res);
    }
    tx.state = "Completed";
    release(tx);
    this.table.arm(tx, TIMERS.K, this.onEnd);
    return { forward: true, link: tx.link };
  }

  /**
   * A provisional response passes once. A gateway resends its last provisional for each
   * retransmitted request (§17.2.1), and reliable provisionals (RFC 3262) repeat until PRACKed;
   * those copies carry the same status, To tag and RSeq. A different provisional (183 after 180,
   * another fork's tag) is new and passes.
   */
  private firstProvisional(tx: ClientTransaction, res: BridgeResponse): ResponseVerdict {
    const key = res.status + "/" + (res.to().params.get("tag") ?? "") + "/" + (res.headers.get("rseq") ?? "") + "|";
    if (tx.provisional.includes("|" + key)) return ABSORB;
    tx.provisional += key;
    return { forward: true, link: tx.link };
  }

  private retransmitLater(tx: ClientTransaction): void {
    const remaining = TIMERS.B - tx.elapsed; // B and F are both 64*T1
    if (tx.interval < remaining) this.table.arm(tx, tx.interval, this.onRetransmit);
    else this.table.arm(tx, remaining, this.onTimeout);
  }

  private readonly onRetransmit = (tx: ClientTransaction): void => {
    this.retransmissions++;
    tx.elapsed += tx.interval;
    this.io.send(tx.to, tx.data);
    // §17.1.2.2: "If Timer E fires while in the Proceeding state, the request MUST be passed to
    // the transport layer for retransmission, and Timer E MUST be reset with a value of T2."
    if (tx.invite) tx.interval = nextTimerA(tx.interval);
    else tx.interval = tx.state === "Proceeding" ? T2 : nextTimerE(tx.interval);
    this.retransmitLater(tx);
  };

  /** Timer B (Calling) or F (Trying, Proceeding): no final response. */
  private readonly onTimeout = (tx: ClientTransaction): void => {
    this.table.delete(tx);
    this.io.timedOut(tx);
  };

  private readonly onEnd = (tx: ClientTransaction): void => {
    this.table.delete(tx);
  };
}

/**
 * A final response ended the request's retransmissions: what is left of the transaction (Timer M,
 * D or K: up to 32 s) needs its key, state, link and ACK, not the request. Keeping the request's
 * bytes and its scan (which holds the link message they came in) for that long made the
 * bridge's heap grow with the call rate, and its garbage collector's work with it.
 */
function release(tx: ClientTransaction): void {
  tx.data = SENT;
  tx.request = undefined;
}

/**
 * RFC 3261 §17.1.1.3: the ACK carries the original request's Request-URI, Call-ID, From and CSeq
 * number, "a single Via header field ... equal to the top Via header field of the original
 * request", the To of the response (with its tag), and the request's Route header fields.
 */
export function buildAck(req: BridgeRequest, res: BridgeResponse): string {
  let out = "ACK " + req.uri + " SIP/2.0\r\nVia: " + (req.headers.get("via") ?? "") + "\r\n";
  for (const route of req.headers.getAll("route")) out += "Route: " + route + "\r\n";
  return (
    out +
    "Max-Forwards: 70\r\nFrom: " + (req.headers.get("from") ?? "") +
    "\r\nTo: " + (res.headers.get("to") ?? "") +
    "\r\nCall-ID: " + req.callId +
    "\r\nCSeq: " + req.cseq.seq + " ACK\r\nContent-Length: 0\r\n\r\n"
  );
}

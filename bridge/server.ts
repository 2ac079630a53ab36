/**
 * Server transactions for requests gateways send to the edge (RFC 3261 §17.2, RFC 6026 §8.5-8.7),
 * reduced to what the UDP leg needs: pass the first copy of each request to the edge, answer
 * retransmissions with the last response the edge sent, retransmit a non-2xx final to an INVITE
 * until its ACK, and keep that hop-by-hop ACK in the bridge.
 */
import { isRfc3261Branch } from "../src/sip/via.ts";
import type { Address } from "./frame.ts";
import type { BridgeRequest, BridgeResponse, ViaKey } from "./scan.ts";
import { TransactionTable, type Entry } from "./table.ts";
import { MAX_INVITE_LIFETIME, MAX_NON_INVITE_LIFETIME, TIMERS, nextTimerE } from "./timers.ts";

/** RFC 3261 states, plus Accepted from RFC 6026 §8.5 for INVITE. */
export type ServerState = "Trying" | "Proceeding" | "Completed" | "Confirmed" | "Accepted";

export interface ServerTransaction extends Entry {
  readonly invite: boolean;
  state: ServerState;
  /** The last response the edge sent, and where it went, for answering retransmissions. */
  last: Uint8Array | undefined;
  lastTo: Address | undefined;
  /** Timer G bookkeeping: current interval and time spent, against Timer H. */
  interval: number;
  elapsed: number;
}

export interface ServerIo {
  send(to: Address, data: Uint8Array): void;
  /** Timer H fired: the gateway never ACKed a non-2xx final. */
  ackTimedOut?(tx: ServerTransaction): void;
}

/** Whether a request from a gateway goes on to the edge. */
export type RequestVerdict = "forward" | "absorb";

/**
 * RFC 3261 §17.2.3: a request matches a transaction by branch, sent-by and method, where an ACK
 * matches the INVITE. Two gateways that happen to pick the same branch stay apart by sent-by.
 */
function serverKey(via: ViaKey, method: string): string {
  return method + " " + via.host + ":" + (via.port ?? "") + " " + via.branch;
}

export class ServerTransactions {
  readonly table: TransactionTable<ServerTransaction>;
  /** Final responses sent again by Timer G (metrics). */
  retransmissions = 0;
  private readonly io: ServerIo;

  constructor(io: ServerIo, maxEntries: number) {
    this.io = io;
    this.table = new TransactionTable(maxEntries);
  }

  /** A request from a gateway. */
  request(req: BridgeRequest): RequestVerdict {
    const via = req.vias()[0];
    // RFC 2543 branches give no reliable match (§17.2.3 has a fallback the bridge does not keep).
    if (via === undefined || !isRfc3261Branch(via.branch)) return "forward";
    if (req.method === "ACK") return this.ack(via);
    const key = serverKey(via, req.method);
    const tx = this.table.get(key);
    if (tx !== undefined) {
      // §17.2.1/§17.2.2: a retransmission gets the most recent response again, or nothing yet.
      if (tx.last !== undefined && tx.lastTo !== undefined) this.io.send(tx.lastTo, tx.last);
      return "absorb";
    }
    const invite = req.method === "INVITE";
    const created: ServerTransaction = {
      key,
      timer: undefined,
      invite,
      state: invite ? "Proceeding" : "Trying",
      last: undefined,
      lastTo: undefined,
      interval: TIMERS.G,
      elapsed: 0,
    };
    this.table.add(created);
    this.table.arm(created, invite ? MAX_INVITE_LIFETIME : MAX_NON_INVITE_LIFETIME, this.onEnd);
    return "forward";
  }

  /** A response from the edge for the gateway at `to`: sent, and remembered for retransmissions. */
  response(res: BridgeResponse, data: Uint8Array, to: Address): void {
    this.io.send(to, data);
    const via = res.vias()[0];
    if (via === undefined || !isRfc3261Branch(via.branch)) return;
    const tx = this.table.get(serverKey(via, res.cseq.method));
    if (tx === undefined || tx.state === "Completed" || tx.state === "Confirmed") return;
    tx.last = data;
    tx.lastTo = to;
    const status = res.status;
    if (status < 200) {
      if (tx.state === "Trying") tx.state = "Proceeding";
      return;
    }
    if (!tx.invite) {
      // §17.2.2: Completed for Timer J, answering request retransmissions with this final.
      tx.state = "Completed";
      this.table.arm(tx, TIMERS.J, this.onEnd);
    } else if (status < 300) {
      // RFC 6026 §8.5: Accepted for Timer L; 2xx retransmissions stay the UAS core's job.
      tx.state = "Accepted";
      this.table.arm(tx, TIMERS.L, this.onEnd);
    } else {
      // §17.2.1: "If an unreliable transport is being used, the server transaction MUST start
      // timer G to control the time for each retransmission" and Timer H for the ACK.
      tx.state = "Completed";
      tx.interval = TIMERS.G;
      tx.elapsed = 0;
      this.retransmitLater(tx);
    }
  }

  /** Drops the state a request created (it could not be passed on: its retransmission may be). */
  forget(req: BridgeRequest): void {
    const via = req.vias()[0];
    if (via === undefined || !isRfc3261Branch(via.branch) || req.method === "ACK") return;
    const tx = this.table.get(serverKey(via, req.method));
    if (tx !== undefined && tx.last === undefined) this.table.delete(tx);
  }

  clear(): void {
    this.table.clear();
  }

  /**
   * §17.2.1: the ACK to a non-2xx final ends Completed and is not passed on (the edge treats the
   * link as reliable and never waits for it). An ACK to a 2xx has its own branch: it goes on.
   */
  private ack(via: ViaKey): RequestVerdict {
    const tx = this.table.get(serverKey(via, "INVITE"));
    if (tx === undefined) return "forward";
    if (tx.state === "Completed") {
      tx.state = "Confirmed";
      this.table.arm(tx, TIMERS.I, this.onEnd);
      return "absorb";
    }
    return tx.state === "Confirmed" ? "absorb" : "forward";
  }

  private retransmitLater(tx: ServerTransaction): void {
    const remaining = TIMERS.H - tx.elapsed;
    if (tx.interval < remaining) this.table.arm(tx, tx.interval, this.onTimerG);
    else this.table.arm(tx, remaining, this.onTimerH);
  }

  private readonly onTimerG = (tx: ServerTransaction): void => {
    this.retransmissions++;
    tx.elapsed += tx.interval;
    if (tx.last !== undefined && tx.lastTo !== undefined) this.io.send(tx.lastTo, tx.last);
    tx.interval = nextTimerE(tx.interval);
    this.retransmitLater(tx);
  };

  private readonly onTimerH = (tx: ServerTransaction): void => {
    this.table.delete(tx);
    this.io.ackTimedOut?.(tx);
  };

  private readonly onEnd = (tx: ServerTransaction): void => {
    this.table.delete(tx);
  };
}

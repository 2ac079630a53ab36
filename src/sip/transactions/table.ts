/**
 * Finding the transaction a message belongs to: responses by RFC 3261 §17.1.3, requests by
 * §17.2.3, including the RFC 2543 fallback for requests whose branch lacks the magic cookie
 * (RFC 4475 §3.4.1 inv2543). A terminated transaction removes itself.
 */
import type { SipRequest, SipResponse } from "../message.ts";
import { isRfc3261Branch, type Via } from "../via.ts";
import type { AnyClientTransaction } from "./client.ts";
import type { AnyServerTransaction, InviteServerTransaction } from "./server.ts";

/**
 * §17.1.3: a response matches a client transaction "If the response has the same value of the
 * branch parameter in the top Via header field as the branch parameter in the top Via header
 * field of the request that created the transaction" and "If the method parameter in the CSeq
 * header field matches the method of the request that created the transaction" (needed because
 * a CANCEL carries the same branch as its INVITE).
 */
export function clientKey(branch: string, method: string): string {
  return branch + "\n" + method;
}

/**
 * §17.2.3: "the branch parameter in the request is equal to the one in the top Via header field of
 * the request that created the transaction, the sent-by value in the top Via of the request is
 * equal to the one in the request that created the transaction, and the method of the request
 * matches the one that created the transaction, except for ACK, where the method of the request
 * that created the transaction is INVITE."
 *
 * Without the magic cookie, RFC 2543 matching: "the Request-URI, To tag, From tag, Call-ID, CSeq,
 * and top Via header field match those of the INVITE request which created the transaction" (the
 * To tag is checked separately, because an ACK carries the tag of the response, not the INVITE's).
 * `method` overrides the request's method: a CANCEL looks for its INVITE (§9.2).
 */
export function serverKey(request: SipRequest, method: string = request.method): string {
  const via = request.topVia();
  const m = method === "ACK" ? "INVITE" : method;
  if (isRfc3261Branch(via.branch)) return "3\n" + via.branch + "\n" + sentBy(via) + "\n" + m;
  // As the request arrived: a script may have rewritten the Request-URI (lookup) and the pipeline
  // stamped received= into the top Via, neither of which a retransmission or CANCEL carries.
  const from = request.from().params.get("tag") ?? "";
  return (
    "2\n" + request.uriAsReceived + "\n" + from + "\n" + request.callId + "\n" + request.cseq.seq + "\n" +
    (request.topViaAsSent() ?? "") + "\n" + m
  );
}

function sentBy(via: Via): string {
  return via.port === undefined ? via.host : via.host + ":" + via.port;
}

function toTag(message: SipRequest | SipResponse): string {
  return message.to().params.get("tag") ?? "";
}

export class TransactionTable {
  private readonly servers = new Map<string, AnyServerTransaction>();
  private readonly clients = new Map<string, AnyClientTransaction>();

  get serverCount(): number {
    return this.servers.size;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Adds a server transaction; false when one with the same identity already exists. */
  addServer(tx: AnyServerTransaction): boolean {
    const key = serverKey(tx.request);
    if (this.servers.has(key)) return false;
    tx.key = key;
    this.servers.set(key, tx);
    tx.onTerminated(() => {
      if (this.servers.get(key) === tx) this.servers.delete(key);
    });
    return true;
  }

  /** Adds a client transaction (its request already carries the proxy's Via). */
  addClient(tx: AnyClientTransaction): boolean {
    const key = clientKey(tx.branch, tx.request.method);
    if (this.clients.has(key)) return false;
    tx.key = key;
    this.clients.set(key, tx);
    tx.onTerminated(() => {
      if (this.clients.get(key) === tx) this.clients.delete(key);
    });
    return true;
  }

  /** The server transaction a request belongs to (a retransmission, or the ACK of its INVITE). */
  matchServer(request: SipRequest): AnyServerTransaction | undefined {
    const tx = this.servers.get(serverKey(request));
    if (tx === undefined || isRfc3261Branch(request.topVia().branch)) return tx;
    // RFC 2543: "the To tag of the ACK matches the To tag of the response sent by the server
    // transaction"; for other methods the To tag equals that of the creating request.
    if (request.method === "ACK" && tx.acceptedToTag !== undefined) return toTag(request) === tx.acceptedToTag ? tx : undefined;
    const expected = request.method === "ACK" && tx.lastResponse !== undefined ? tx.lastResponse : tx.request;
    return toTag(request) === toTag(expected) ? tx : undefined;
  }

  /**
   * The INVITE server transaction a CANCEL refers to (§9.2: "the transaction being cancelled
   * ... is matched using the procedures of Section 17.2.3", with the INVITE's method).
   */
  matchCancelled(cancel: SipRequest): InviteServerTransaction | undefined {
    const tx = this.servers.get(serverKey(cancel, "INVITE"));
    if (tx === undefined || tx.kind !== "invite-server") return undefined;
    if (!isRfc3261Branch(cancel.topVia().branch) && toTag(cancel) !== toTag(tx.request)) return undefined;
    return tx;
  }

  /** The client transaction a response belongs to (§17.1.3). */
  /** The client transaction of `branch` for `method` (what a next hop names in a failure report). */
  client(branch: string, method: string): AnyClientTransaction | undefined {
    return this.clients.get(clientKey(branch, method));
  }

  matchClient(response: SipResponse): AnyClientTransaction | undefined {
    const branch = response.topVia().branch;
    if (branch === undefined) return undefined;
    return this.clients.get(clientKey(branch, response.cseq.method));
  }
}

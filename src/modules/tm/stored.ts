/**
 * Messages inside snapshots: serialized text, plus a flag for messages that arrived in binary
 * WebSocket frames, whose byte-string form must be parsed back as bytes to stay byte-exact.
 */
import { byteStringToBytes, type SipMessage, type SipRequest, type SipResponse } from "../../sip/message.ts";
import { parseMessage } from "../../sip/parser.ts";
import { serialize } from "../../sip/serializer.ts";

export interface StoredMessage {
  text: string;
  binary?: true;
  /** A request's Request-URI as it arrived, when the script rewrote it. */
  uri?: string;
  /** A request's top Via as it was sent, when the received/rport stamp rewrote it. */
  via?: string;
}

export function store(message: SipMessage): StoredMessage {
  const stored: StoredMessage = { text: serialize(message) };
  if (message.encoding === "binary") stored.binary = true;
  if (message.kind === "request") {
    if (message.uriAsReceived !== message.uri) stored.uri = message.uriAsReceived;
    const via = message.topViaAsSent();
    if (via !== undefined && via !== message.headers.get("via")) stored.via = via;
  }
  return stored;
}

function load(stored: StoredMessage): SipMessage | undefined {
  const parsed = parseMessage(stored.binary ? byteStringToBytes(stored.text) : stored.text);
  return parsed.ok ? parsed.message : undefined;
}

export function loadRequest(stored: StoredMessage): SipRequest | undefined {
  const message = load(stored);
  if (message?.kind !== "request") return undefined;
  message.restoreAsReceived(stored.uri, stored.via);
  return message;
}

export function loadResponse(stored: StoredMessage): SipResponse | undefined {
  const message = load(stored);
  return message?.kind === "response" ? message : undefined;
}

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
}

export function store(message: SipMessage): StoredMessage {
  const stored: StoredMessage = { text: serialize(message) };
  if (message.encoding === "binary") stored.binary = true;
  return stored;
}

function load(stored: StoredMessage): SipMessage | undefined {
  const parsed = parseMessage(stored.binary ? byteStringToBytes(stored.text) : stored.text);
  return parsed.ok ? parsed.message : undefined;
}

export function loadRequest(stored: StoredMessage): SipRequest | undefined {
  const message = load(stored);
  return message?.kind === "request" ? message : undefined;
}

export function loadResponse(stored: StoredMessage): SipResponse | undefined {
  const message = load(stored);
  return message?.kind === "response" ? message : undefined;
}

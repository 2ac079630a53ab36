// Raw SIP text for the bridge's tests, parsed with the project's parser (as the bridge does).
import { parseMessage } from "../../../src/sip/parser.ts";
import type { SipRequest, SipResponse } from "../../../src/sip/message.ts";

export const EDGE_VIA = "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKedge1;rport";
export const GATEWAY_VIA = "SIP/2.0/UDP 127.0.0.1:7070;branch=z9hG4bKgw1;rport";

export interface RequestSpec {
  method?: string;
  via?: string;
  uri?: string;
  cseq?: number;
  callId?: string;
  routes?: string[];
  to?: string;
}

export function requestText(spec: RequestSpec = {}): string {
  const method = spec.method ?? "INVITE";
  const uri = spec.uri ?? "sip:+15551234@127.0.0.1:7070";
  return [
    `${method} ${uri} SIP/2.0`,
    `Via: ${spec.via ?? EDGE_VIA}`,
    ...(spec.routes ?? []).map((r) => `Route: ${r}`),
    "Max-Forwards: 69",
    "From: <sip:alice@localhost>;tag=from1",
    `To: ${spec.to ?? "<sip:+15551234@localhost>"}`,
    `Call-ID: ${spec.callId ?? "call-1@test"}`,
    `CSeq: ${spec.cseq ?? 1} ${method}`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

export function request(spec: RequestSpec = {}): SipRequest {
  const parsed = parseMessage(requestText(spec));
  if (!parsed.ok) throw new Error(parsed.reason);
  if (parsed.message.kind !== "request") throw new Error("not a request");
  return parsed.message;
}

export interface ResponseSpec {
  status: number;
  via?: string;
  method?: string;
  cseq?: number;
  toTag?: string;
  rseq?: number;
}

export function responseText(spec: ResponseSpec): string {
  const reason = spec.status < 200 ? "Ringing" : spec.status < 300 ? "OK" : "Server Error";
  return [
    `SIP/2.0 ${spec.status} ${reason}`,
    `Via: ${spec.via ?? EDGE_VIA}`,
    "From: <sip:alice@localhost>;tag=from1",
    `To: <sip:+15551234@localhost>${spec.toTag === undefined ? "" : ";tag=" + spec.toTag}`,
    "Call-ID: call-1@test",
    `CSeq: ${spec.cseq ?? 1} ${spec.method ?? "INVITE"}`,
    ...(spec.rseq === undefined ? [] : [`RSeq: ${spec.rseq}`]),
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

export function response(spec: ResponseSpec): SipResponse {
  const parsed = parseMessage(responseText(spec));
  if (!parsed.ok) throw new Error(parsed.reason);
  if (parsed.message.kind !== "response") throw new Error("not a response");
  return parsed.message;
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

// Answering requests from a raw SipUa (test/helpers/sip-ua.ts) as a user agent server would:
// RFC 3261 §8.2.6 (Vias, From, To with a tag, Call-ID, CSeq copied) and §12.1.1 (Record-Route
// copied into the 2xx, a Contact), so a dialog forms through the proxy.
import { randomBytes } from "node:crypto";
import { header, type SipMessage, type SipUa } from "./sip-ua.ts";

/** Sends the response `status` to `request` on `ua`'s socket; 2xx to INVITE carries Record-Route and Contact. */
export function respond(ua: SipUa, request: SipMessage, status: number, reason: string, toTag = randomBytes(4).toString("hex")): string {
  const to = header(request, "to") ?? "";
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...(request.headers.get("via") ?? []).map((v) => `Via: ${v}`),
    ...(status < 300 && request.method === "INVITE" ? (request.headers.get("record-route") ?? []).map((r) => `Record-Route: ${r}`) : []),
    `From: ${header(request, "from")}`,
    `To: ${/;\s*tag=/i.test(to) ? to : `${to};tag=${toTag}`}`,
    `Call-ID: ${header(request, "call-id")}`,
    `CSeq: ${header(request, "cseq")}`,
    ...(status < 300 && request.method === "INVITE" ? [`Contact: <${ua.contactUri}>`] : []),
    "Content-Length: 0",
    "",
    "",
  ];
  ua.send(lines.join("\r\n"));
  return toTag;
}

/** The route set of a dialog as the caller sees it in a 2xx (Record-Route reversed, RFC 3261 §12.1.2). */
export function callerRouteSet(ok: SipMessage): string[] {
  return (ok.headers.get("record-route") ?? []).flatMap((r) => r.split(/,(?=\s*<)/)).map((r) => r.trim()).reverse();
}

/** The route set of a dialog as the callee sees it in the INVITE (Record-Route in order, RFC 3261 §12.1.1). */
export function calleeRouteSet(invite: SipMessage): string[] {
  return callerRouteSet(invite).reverse();
}

/** The URI in a Contact header value. */
export function contactUri(message: SipMessage): string {
  return /<([^>]+)>/.exec(header(message, "contact") ?? "")?.[1] ?? "";
}

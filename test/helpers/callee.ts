// A called party for end-to-end tests: a registered user that answers INVITEs and BYEs, and the
// caller's BYE for a call it set up, written by hand as a UA would (RFC 3261 §12, §15).
import { SipUa, header, type SipMessage } from "./sip-ua.ts";

/** A 200 to an INVITE (or a BYE) as a UAS writes it (RFC 3261 §8.2.6.2). */
export function answer(request: SipMessage, toTag: string | undefined, status = "200 OK"): string {
  const lines = [`SIP/2.0 ${status}`];
  for (const via of request.headers.get("via") ?? []) lines.push(`Via: ${via}`);
  for (const rr of request.headers.get("record-route") ?? []) lines.push(`Record-Route: ${rr}`);
  const to = header(request, "to") ?? "";
  lines.push(`From: ${header(request, "from")}`, `To: ${toTag === undefined || to.includes(";tag=") ? to : `${to};tag=${toTag}`}`);
  lines.push(`Call-ID: ${header(request, "call-id")}`, `CSeq: ${header(request, "cseq")}`, "Contact: <sip:callee@callee.invalid;transport=ws>", "Content-Length: 0", "", "");
  return lines.join("\r\n");
}

/**
 * A registered user that answers every INVITE with `status` (200 OK by default) and every BYE
 * with 200, until `stop()`.
 */
export async function answeringCallee(
  wsUrl: string,
  options: { user: string; password: string; domain: string; localAddress: string },
  status = "200 OK",
): Promise<{ ua: SipUa; answered: { invite: SipMessage; toTag: string }[]; stop: () => Promise<void> }> {
  const ua = await SipUa.connect(wsUrl, options);
  const registered = await ua.register();
  if (registered.response.status !== 200) throw new Error(`${options.user}: REGISTER answered ${registered.response.status}`);
  let answering = true;
  const answered: { invite: SipMessage; toTag: string }[] = [];
  void (async () => {
    while (answering) {
      const request = await ua.nextRequest(undefined, 1000).catch(() => undefined);
      if (request?.method === "INVITE") {
        const toTag = `t${answered.length}x${Date.now()}`;
        answered.push({ invite: request, toTag });
        ua.send(answer(request, toTag, status));
      } else if (request?.method === "BYE") ua.send(answer(request, undefined));
    }
  })();
  return {
    ua,
    answered,
    stop: async () => {
      answering = false;
      await ua.close();
    },
  };
}

/** The caller's BYE for a call its INVITE set up: route set reversed from the 2xx (RFC 3261 §12.1.2). */
export async function hangUp(ua: SipUa, call: { response: SipMessage }): Promise<number> {
  const ok = call.response;
  const contact = /<([^>]+)>/.exec(header(ok, "contact") ?? "")?.[1] ?? "";
  const fromTag = /;tag=([^;>\s]+)/.exec(header(ok, "from") ?? "")?.[1];
  const routes = [...(ok.headers.get("record-route") ?? [])].reverse();
  const bye = await ua.request({
    method: "BYE",
    ruri: contact,
    to: header(ok, "to") ?? "",
    callId: header(ok, "call-id") ?? "",
    cseq: 2,
    ...(fromTag === undefined ? {} : { fromTag }),
    extraHeaders: routes.map((r) => `Route: ${r}`),
  });
  return bye.response.status;
}

/** The callee's BYE for a call it answered: to the caller's Contact, over the Record-Route set as received. */
export async function hangUpAsCallee(ua: SipUa, call: { invite: SipMessage; toTag: string }): Promise<number> {
  const invite = call.invite;
  const contact = /<([^>]+)>/.exec(header(invite, "contact") ?? "")?.[1] ?? "";
  const bye = await ua.request({
    method: "BYE",
    ruri: contact,
    to: header(invite, "from") ?? "",
    callId: header(invite, "call-id") ?? "",
    cseq: 1,
    fromTag: call.toTag,
    extraHeaders: (invite.headers.get("record-route") ?? []).map((r) => `Route: ${r}`),
  });
  return bye.response.status;
}

/**
 * textops: header edits a script makes on the request at hand, named after Kamailio's module
 * (`append_hf`, `remove_hf`, `is_present_hf`; OpenSIPS has the same three in its textops). The
 * request is what tm and `forward()` copy, so an appended header reaches every branch, as in
 * Kamailio.
 */
import type { SipRequest } from "../../sip/message.ts";
import { headerKey } from "../../sip/headers.ts";

export type AppendResult = { ok: true; name: string; value: string } | { ok: false; reason: string };

/** The `ctx.textops` namespace over one request. */
export class Textops {
  constructor(private readonly msg: SipRequest) {}

  /**
   * Kamailio `append_hf("Name: value\r\n")`: adds the header after the last one. The text is one
   * header field (the trailing CRLF of Kamailio's spelling is optional); anything else (no name,
   * a name that is no token, a line break inside, a Content-Length) is refused and the request stays as it was, so
   * a script cannot smuggle a second header or a body into a relayed request.
   */
  appendHf(text: string): AppendResult {
    const line = text.replace(/\r?\n$/, "");
    const colon = line.indexOf(":");
    if (colon <= 0) return { ok: false, reason: "expected \"Name: value\"" };
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    const key = headerKey(name);
    if (key === undefined) return { ok: false, reason: `not a header name: ${JSON.stringify(name)}` };
    // The message layer writes Content-Length from the body: a second one would break the framing.
    if (key === "content-length") return { ok: false, reason: "Content-Length is written from the body" };
    if (/[\r\n]/.test(value)) return { ok: false, reason: "a header value must be one line" };
    this.msg.headers.append(name, value);
    return { ok: true, name, value };
  }

  /** Kamailio `remove_hf(name)`: removes every header of that name; how many went. */
  removeHf(name: string): number {
    return this.msg.headers.remove(name);
  }

  /** Kamailio `is_present_hf(name)`. */
  isPresentHf(name: string): boolean {
    return this.msg.headers.has(name);
  }
}

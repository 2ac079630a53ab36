// What the bridge's scanner must agree on with the edge's full parser, field by field.
import { isUtf8 } from "node:buffer";
import { expect } from "vitest";
import { scanMessage, type BridgeMessage, type ScanResult } from "../../../bridge/scan.ts";
import type { SipMessage } from "../../../src/sip/message.ts";
import { parseMessage } from "../../../src/sip/parser.ts";

/** Every field the bridge reads, from either kind of message. */
export function fields(m: BridgeMessage | SipMessage): Record<string, unknown> {
  const top = m.vias()[0];
  const common = {
    kind: m.kind,
    callId: m.callId,
    cseq: { seq: m.cseq.seq, method: m.cseq.method },
    via: { host: top?.host, port: top?.port, branch: top?.branch },
    viaText: m.headers.get("via"),
    route: m.headers.get("route"),
    routes: m.headers.getAll("route"),
    from: m.headers.get("from"),
    to: m.headers.get("to"),
    rseq: m.headers.get("rseq"),
  };
  if (m.kind === "request") return { ...common, method: m.method, uri: m.uri };
  return { ...common, status: m.status, toTag: m.to().params.get("tag") };
}

/** Scans `bytes`; where the full parser accepts them (as a text frame when UTF-8, else as bytes), the fields agree. */
export function expectAgreement(bytes: Uint8Array): { full: boolean; scan: ScanResult } {
  const utf8 = isUtf8(bytes);
  const scan = scanMessage(bytes, !utf8);
  if (!scan.ok) expect(scan.reason).not.toMatch(/^scanner error/);
  const full = parseMessage(utf8 ? Buffer.from(bytes).toString("utf8") : bytes);
  if (!full.ok) return { full: false, scan };
  expect(scan.ok ? fields(scan.message) : scan.reason).toEqual(fields(full.message));
  return { full: true, scan };
}

import { DIGIT, TOKEN, describeChar, scanClass, skipWs, trimEnd } from "./grammar.ts";
import { fail, ok } from "./result.ts";
import type { Parsed } from "./result.ts";

/** RFC 3261 §8.1.1.5: the sequence number "MUST be less than 2**31". */
const MAX_SEQ = 0x7fffffff;

/**
 * CSeq = "CSeq" HCOLON 1*DIGIT LWS Method. Leading zeros are allowed ("0009" in RFC 4475
 * wsinv); numbers of 2**31 and above are rejected (RFC 4475 scalar02). The method is a
 * case-sensitive token and is returned as written.
 */
export function parseCSeq(text: string): Parsed<{ seq: number; method: string }> {
  const end = trimEnd(text, 0);
  const start = skipWs(text, 0, end);
  const digitsEnd = scanClass(text, start, end, DIGIT);
  if (digitsEnd === start) return fail("missing sequence number");
  let seq = 0;
  for (let i = start; i < digitsEnd; i++) {
    seq = seq * 10 + text.charCodeAt(i) - 48;
    if (seq > MAX_SEQ) return fail("sequence number not below 2**31");
  }
  const methodStart = skipWs(text, digitsEnd, end);
  if (methodStart === digitsEnd) return fail(digitsEnd < end ? `${describeChar(text, digitsEnd)} in sequence number` : "missing method");
  const methodEnd = scanClass(text, methodStart, end, TOKEN);
  if (methodEnd === methodStart || methodEnd < end) return fail(`${describeChar(text, methodEnd)} in method`);
  return ok({ seq, method: text.slice(methodStart, methodEnd) });
}

export function formatCSeq(cseq: { seq: number; method: string }): string {
  return cseq.seq + " " + cseq.method;
}

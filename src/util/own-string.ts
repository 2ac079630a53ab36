/**
 * Copies of strings that hold their own characters, for what outlives the message it was parsed
 * from. A substring in V8 is usually a sliced string, a view that keeps the whole parent alive, so
 * a Call-ID or a nonce kept in a cache or a table keeps its entire SIP message in the heap (old
 * space, once it survives two scavenges), and every such message promoted is work for the next
 * mark-compact.
 */
const codes: number[] = [];
/** Characters per `fromCharCode` call: its arguments go on the stack (~120,000 overflow it). */
const CHUNK = 8192;

/** A flat copy of `s` (short strings: the cost is one loop over its characters). */
export function ownString(s: string): string {
  if (s.length > CHUNK) {
    const parts: string[] = [];
    for (let at = 0; at < s.length; at += CHUNK) parts.push(ownString(s.slice(at, at + CHUNK)));
    return parts.join("");
  }
  codes.length = s.length;
  for (let i = 0; i < s.length; i++) codes[i] = s.charCodeAt(i);
  return String.fromCharCode.apply(null, codes);
}

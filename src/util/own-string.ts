/**
 * Copies of strings that hold their own characters, for what outlives the message it was parsed
 * from. A substring in V8 is usually a sliced string, a view that keeps the whole parent alive, so
 * a Call-ID or a nonce kept in a cache or a table keeps its entire SIP message in the heap (old
 * space, once it survives two scavenges), and every such message promoted is work for the next
 * mark-compact.
 */
const codes: number[] = [];

/** A flat copy of `s` (short strings: the cost is one loop over its characters). */
export function ownString(s: string): string {
  codes.length = s.length;
  for (let i = 0; i < s.length; i++) codes[i] = s.charCodeAt(i);
  return String.fromCharCode.apply(null, codes);
}

/**
 * Flow tokens (RFC 5626 §5.2): the name of one client connection, `<shard>.<kind><id>`. The shard
 * is the SipConnection object that holds the socket, so a request for the flow goes straight to
 * it; the kind says how the client connected (`s` for wss, `w` for ws), so the proxy's Via toward
 * it carries the right transport (RFC 7118 §5: WSS for secure sockets). A token is trusted only
 * where the proxy itself wrote it: in its Location objects, and in Record-Route entries it
 * signed (src/modules/rr).
 */

export type FlowTransport = "ws" | "wss";

/** A new flow token for a connection accepted by `shard`. */
export function newFlowToken(shard: string, transport: FlowTransport): string {
  return `${shard}.${transport === "wss" ? "s" : "w"}${crypto.randomUUID()}`;
}

/** The shard that holds the flow's socket, or undefined for text that is no flow token. */
export function flowShard(token: string): string | undefined {
  const dot = token.indexOf(".");
  if (dot <= 0 || dot > 6) return undefined;
  for (let i = 0; i < dot; i++) {
    const c = token.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  return token.slice(0, dot);
}

/** How the flow's client connected (tokens written before the kind was recorded count as ws). */
export function flowTransport(token: string): FlowTransport {
  return token.charCodeAt(token.indexOf(".") + 1) === 0x73 /* s */ ? "wss" : "ws";
}

/** Whether `shard` (text from a message) names one of `count` shards: never create an object for it otherwise. */
export function isShard(shard: string | undefined, count: number): shard is string {
  if (shard === undefined || shard.length === 0 || shard.length > 6) return false;
  for (let i = 0; i < shard.length; i++) {
    const c = shard.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return Number(shard) < count && (shard === "0" || shard.charCodeAt(0) !== 0x30);
}

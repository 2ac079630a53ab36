/** Replaying a raw message in the fuzz world, with a digest round first when it needs one. */
import { parseMessage } from "../../src/sip/parser.ts";
import { credentialsFor } from "./digest-client.ts";
import { USERS, type Delivery, type FuzzWorld, type Peer } from "./world.ts";

/**
 * Delivers `text` from `peer`; when `user` is given and the edge challenges it, delivers it again
 * with that user's credentials (a header line after the start line), as a softphone would.
 */
export async function deliverAs(world: FuzzWorld, peer: Peer, text: string, user?: string): Promise<Delivery> {
  const first = await world.deliver(peer, text);
  if (user === undefined || !first.parsed.ok || first.parsed.message.kind !== "request") return first;
  const request = first.parsed.message;
  const challenge = first.replies.map((t) => parseMessage(t)).find((p) => p.ok && p.message.kind === "response" && (p.message.status === 401 || p.message.status === 407));
  if (!challenge?.ok || challenge.message.kind !== "response") return first;
  const line = credentialsFor(challenge.message, { method: request.method, ruri: request.uri, user, password: USERS[user] ?? "", cnonce: "c0ffee" });
  if (line === undefined) return first;
  return world.deliver(peer, text.replace(/\r?\n/, `\r\n${line[0]}: ${line[1]}\r\n`));
}

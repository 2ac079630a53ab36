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

/** alice, bob and carol registered from client1-3 (so relayed fixtures have somewhere to go). */
export async function registerAll(world: FuzzWorld): Promise<void> {
  const users = Object.keys(USERS);
  for (const [i, user] of users.entries()) {
    const peer = world.peer(`client${i + 1}`);
    const text = [
      "REGISTER sip:sip.example.test SIP/2.0",
      `Via: SIP/2.0/WSS ${peer.name}.invalid;branch=z9hG4bKregall${i}`,
      "Max-Forwards: 70",
      `To: <sip:${user}@sip.example.test>`,
      `From: <sip:${user}@sip.example.test>;tag=ra${i}`,
      `Call-ID: register-all-${user}`,
      "CSeq: 1 REGISTER",
      `Contact: <sip:${user}@${peer.name}.invalid;transport=ws>;expires=600`,
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n");
    await deliverAs(world, peer, text, user);
  }
}

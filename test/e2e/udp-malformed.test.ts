// Malformed requests from a UDP peer through the bridge. The bridge reads only what its own
// transactions need (start line, top Via, Call-ID, CSeq, framing: bridge/README.md) and relays
// the rest to the edge, whose parser answers what it cannot accept with 400 and a reason (RFC
// 3261 §16.3 / §21.4.1); the bridge, the edge and other peers carry on. Deployment's topology:
// a domain, no aliases, the bridge and the peer each on their own address.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../scripts/stack.mjs";
import { UdpUa, bridgeTarget } from "../helpers/udp-ua.ts";

const DOMAIN = "sip.example.test";
const VARS = { LOG_LEVEL: "error", SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", CONNECTION_SHARDS: "2" };

/** An OPTIONS to the proxy from `ua`, with one line replaced (`name` → `line`), or as built. */
function options(ua: UdpUa, replace?: { name: string; line: string }): string {
  const text = ua.build("OPTIONS", `sip:${DOMAIN}`, { callId: randomBytes(8).toString("hex"), cseq: 1 });
  if (replace === undefined) return text;
  return text
    .split("\r\n")
    .map((l) => (l.toLowerCase().startsWith(`${replace.name.toLowerCase()}:`) ? replace.line : l))
    .join("\r\n");
}

describe("malformed requests over UDP through the bridge", () => {
  let stack: Stack;
  let ua: UdpUa;
  let other: UdpUa;
  beforeAll(async () => {
    stack = await startStack({ port: 0, build: false, vars: VARS, bridge: { listen: "127.0.0.9:0" } });
    ua = await UdpUa.bind("127.0.0.44", bridgeTarget(stack.bridge?.address));
    other = await UdpUa.bind("127.0.0.45", bridgeTarget(stack.bridge?.address));
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it.each([
    ["a From that is no name-addr", { name: "From", line: "From: <sip:udp@127.0.0.44;tag=1" }],
    ["a Max-Forwards that is no number", { name: "Max-Forwards", line: "Max-Forwards: seventy" }],
    ["a To with a broken URI", { name: "To", line: "To: <sip:@@>" }],
  ])("%s is answered 400 with a reason by the edge; the peer and another peer are answered after it", async (what, replace) => {
    const bad = await ua.request(options(ua, replace), 3000);
    expect(bad?.status).toBe(400);
    expect(bad?.reason).not.toBe("");
    expect(bad?.reason).not.toBe("Bad Request");
    console.info(`${what}: ${bad?.status} ${bad?.reason}`);
    // Nothing was lost: the same peer and another one are answered as before (403: a UDP source
    // that is no gateway or trusted peer is refused, udp-guessing.test.ts; what counts is the answer).
    expect((await ua.request(options(ua), 3000))?.status).toBe(403);
    expect((await other.request(options(other), 3000))?.status).toBe(403);
  });
});

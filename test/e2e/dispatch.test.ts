import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack } from "../../scripts/stack.mjs";
import { SipUa, header, type SipMessage } from "../helpers/sip-ua.ts";
import { Sipp } from "../helpers/sipp.ts";

// Calls to PSTN numbers through the dispatcher and the bridge to real sipp gateways (the seed's
// set 1: 127.0.0.1:7070/7072/7074), as the seed's Kamailio DISPATCH route does it.

let stack: Awaited<ReturnType<typeof startStack>>;
let stateDir: string;
const gateways: Sipp[] = [];
const bridgePort = 15000 + Math.floor(Math.random() * 4000);

beforeAll(async () => {
  for (const port of [7070, 7072, 7074]) gateways.push(Sipp.uas(port));
  stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-dispatch-"));
  stack = await startStack({ port: 0, stateDir, build: false, bridge: { listen: `127.0.0.1:${bridgePort}` }, vars: { DS_PING_INTERVAL: "1", LOG_LEVEL: "warn" } });
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all(gateways.map((g) => g.stop()));
  await rm(stateDir, { recursive: true, force: true });
});

/** ACK for a 2xx and then BYE, along the route set of the 200 (RFC 3261 §12.2.1.1). */
async function hangUp(ua: SipUa, ok: SipMessage, cseq: number): Promise<SipMessage> {
  const routes = (ok.headers.get("record-route") ?? []).slice().reverse();
  const target = /<([^>]+)>/.exec(header(ok, "contact") ?? "")?.[1] ?? "";
  const common = (method: string, seq: number) =>
    [
      `${method} ${target} SIP/2.0`,
      `Via: SIP/2.0/WS ua.invalid;branch=z9hG4bK${Math.random().toString(36).slice(2)}`,
      "Max-Forwards: 70",
      ...routes.map((r) => `Route: ${r}`),
      `From: ${header(ok, "from")}`,
      `To: ${header(ok, "to")}`,
      `Call-ID: ${header(ok, "call-id")}`,
      `CSeq: ${seq} ${method}`,
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n");
  ua.send(common("ACK", cseq));
  const callId = header(ok, "call-id");
  const byeDone = new Promise<SipMessage>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer to BYE")), 5000);
    ua.ws.on("message", (data) => {
      const text = data.toString();
      if (text.startsWith("SIP/2.0 ") && text.includes(`Call-ID: ${callId}`) && /CSeq: \d+ BYE/.test(text)) {
        clearTimeout(timer);
        resolve({ status: Number(text.slice(8, 11)) } as SipMessage);
      }
    });
  });
  ua.send(common("BYE", cseq + 1));
  return byeDone;
}

describe("calls to gateways through the dispatcher and the bridge", () => {
  it("a WebSocket caller dials a number: 407, then 100/180/200 from a sipp gateway, ACK and BYE", async () => {
    const alice = await SipUa.connect(stack.wsUrl, { user: "user0201", password: "pw" });
    expect((await alice.register()).response.status).toBe(200);
    const call = await alice.invite("sip:15551234567@localhost");
    expect(call.challenges.map((c) => c.status)).toEqual([407]);
    expect(`${call.response.status} ${call.response.reason}`).toBe("200 OK");
    expect((await hangUp(alice, call.response, call.cseq)).status).toBe(200);
    await alice.close();
  });
});

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack } from "../../scripts/stack.mjs";
import { readResponse, sipRequest } from "../helpers/sip-text.ts";
import { WsSipClient } from "../helpers/ws-client.ts";

let stack: Awaited<ReturnType<typeof startStack>>;
let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-e2e-"));
  stack = await startStack({ port: 0, stateDir, build: false });
});

afterAll(async () => {
  await stack?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

async function roundTrip(client: WsSipClient, message: string | Uint8Array) {
  client.send(message);
  return readResponse(await client.next());
}

/**
 * Sends `message`, then an OPTIONS probe on the same connection. A flow's messages are handled
 * and answered in order, so the probe's 200 coming first is a positive sign that `message` got
 * no answer — not a wait that happened to see nothing.
 */
async function unanswered(client: WsSipClient, message: string | Uint8Array): Promise<void> {
  const callId = `probe-${Math.random().toString(36).slice(2)}`;
  client.send(message);
  client.send(sipRequest({ callId }));
  const first = readResponse(await client.next());
  expect([first.status, first.headers.get("call-id")?.[0]]).toEqual([200, callId]);
}

describe("the running stack, over a real WebSocket", () => {
  it("answers OPTIONS sip:127.0.0.1 with 200 over subprotocol sip", async () => {
    const client = await WsSipClient.open(stack.wsUrl);
    expect(client.ws.protocol).toBe("sip");
    const res = await roundTrip(client, sipRequest({ method: "OPTIONS", ruri: "sip:127.0.0.1" }));
    expect(res.status).toBe(200);
    await client.close();
  });

  it("refuses an upgrade without the sip subprotocol", async () => {
    await expect(WsSipClient.open(stack.wsUrl, { protocol: null })).rejects.toThrow(/upgrade refused: 400/);
  });

  it("completes the close handshake the client starts", async () => {
    const client = await WsSipClient.open(stack.wsUrl);
    const closed = await client.close(1000);
    expect(closed.code).toBe(1000);
  });

  it("stamps the client's own loopback address as received", async () => {
    const client = await WsSipClient.open(stack.wsUrl, { localAddress: "127.0.0.2" });
    const res = await roundTrip(client, sipRequest());
    expect(res.headers.get("via")?.[0]).toContain(";received=127.0.0.2");
    await client.close();
  });
});

describe("malformed input gets an answer and loses nothing", () => {
  const cases: [string, () => string | Uint8Array, number | "drop"][] = [
    ["a truncated message", () => sipRequest().slice(0, 60), "drop"],
    ["binary garbage", () => new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 13, 10, 13, 10]), "drop"],
    ["a header line without a colon", () => sipRequest({ extraHeaders: ["NoColonHere"] }), 400],
    ["a bad CSeq", () => sipRequest().replace(/CSeq: 1 OPTIONS/, "CSeq: one OPTIONS"), 400],
    ["a CSeq whose method differs from the request's", () => sipRequest().replace(/CSeq: 1 OPTIONS/, "CSeq: 1 INVITE"), 400],
    ["a Content-Length larger than the body", () => sipRequest({ body: "v=0\r\n" }).replace(/Content-Length: 5/, "Content-Length: 500"), 400],
    ["a message of 65,535 bytes or more", () => sipRequest({ extraHeaders: [`X-Pad: ${"a".repeat(65535)}`] }), 513],
    ["Max-Forwards 0", () => sipRequest({ maxForwards: 0 }), 483],
    ["an unknown Request-URI scheme", () => sipRequest({ ruri: "im:alice@localhost" }), 416],
  ];

  for (const [what, build, expected] of cases) {
    it(`${what} → ${expected}, and the connection and other clients carry on`, async () => {
      const client = await WsSipClient.open(stack.wsUrl);
      const other = await WsSipClient.open(stack.wsUrl, { localAddress: "127.0.0.3" });
      if (expected === "drop") {
        await unanswered(client, build());
      } else {
        client.send(build());
        expect(readResponse(await client.next()).status).toBe(expected);
        expect((await roundTrip(client, sipRequest())).status).toBe(200);
      }
      expect((await roundTrip(other, sipRequest())).status).toBe(200);
      await Promise.all([client.close(), other.close()]);
    });
  }

  it("never answers an ACK", async () => {
    const client = await WsSipClient.open(stack.wsUrl);
    await unanswered(client, sipRequest({ method: "ACK", ruri: "sip:nobody@localhost" }));
    await client.close();
  });

  it("refuses to relay a foreign caller to a foreign domain with 403 Not relaying", async () => {
    const client = await WsSipClient.open(stack.wsUrl);
    const res = await roundTrip(client, sipRequest({ method: "INVITE", ruri: "sip:bob@example.com", from: "<sip:mallory@example.net>;tag=m" }));
    expect([res.status, res.reason]).toEqual([403, "Not relaying"]);
    await client.close();
  });
});

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startStack } from "../../scripts/stack.mjs";
import { RFC4475, RFC4475_DIR_DEFAULT } from "../conformance/rfc4475.ts";
import { readResponse, sipRequest } from "../helpers/sip-text.ts";
import { WsSipClient } from "../helpers/ws-client.ts";

// RFC 4475 torture messages sent as-is over a WebSocket to the running stack; each gets the
// reaction docs/conformance.md gives it, and the connection keeps working afterwards.

const RFC4475_DIR = path.resolve(ROOT, process.env.SIPEDGE_RFC4475_DIR ?? RFC4475_DIR_DEFAULT);
const present = existsSync(RFC4475_DIR);
if (!present) {
  console.warn(`RFC 4475 messages not found at ${RFC4475_DIR}: the conformance suite cannot run here.`);
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

let stack: Awaited<ReturnType<typeof startStack>>;

beforeAll(async () => {
  stack = await startStack({ port: 0, build: false });
});

afterAll(async () => {
  await stack?.stop();
});

describe("RFC 4475 over WebSocket", () => {
  it("has the torture messages to test (fails in CI when ../shared is missing)", () => {
    expect(present || process.env.CI !== "true").toBe(true);
  });

  for (const entry of RFC4475) {
    it.runIf(present)(`${entry.file} (§${entry.section}) → ${entry.edge}`, async () => {
      const client = await WsSipClient.open(stack.wsUrl);
      const bytes = readFileSync(path.join(RFC4475_DIR, `${entry.file}.dat`));
      // A message that is valid UTF-8 goes as a text frame; mpart01's raw bytes as a binary one.
      client.send(isUtf8(bytes) ? bytes.toString("utf8") : new Uint8Array(bytes));
      // Then an OPTIONS on the same connection: a flow's messages are handled and answered in
      // order, so what comes first is the torture message's answer — or, for a dropped one, the
      // OPTIONS' 200 itself: a positive sign that nothing was answered and the connection carries on.
      const probe = `conformance-probe-${entry.file}`;
      client.send(sipRequest({ callId: probe }));
      const first = readResponse(await client.next());
      if (entry.edge === "drop") {
        expect([first.status, first.headers.get("call-id")?.[0]]).toEqual([200, probe]);
      } else {
        expect(first.status).toBe(entry.edge);
        const after = readResponse(await client.next());
        expect([after.status, after.headers.get("call-id")?.[0]]).toEqual([200, probe]);
      }
      await client.close();
    });
  }
});

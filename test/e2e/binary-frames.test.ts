import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack } from "../../scripts/stack.mjs";
import { SipUa } from "../helpers/sip-ua.ts";

// A message that arrives in a binary WebSocket frame is relayed in one (RFC 7118 §5), byte for
// byte. Found by the pipeline fuzzer (test/fuzz): the shard sent a branch of such a message as a
// text frame of its byte-string, so every byte above 0x7F reached the callee re-encoded and the
// Content-Length no longer matched.

let stack: Awaited<ReturnType<typeof startStack>>;
let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-binary-"));
  stack = await startStack({ port: 0, stateDir, build: false, vars: { LOG_LEVEL: "warn" } });
});

afterAll(async () => {
  await stack?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

describe("binary frames", () => {
  it("a MESSAGE with a UTF-8 body sent in a binary frame reaches the callee in a binary frame with the same bytes", async () => {
    const alice = await SipUa.connect(stack.wsUrl, { user: "alice", password: "alice123" });
    const bob = await SipUa.connect(stack.wsUrl, { user: "bob", password: "bob123" });
    expect((await alice.register()).response.status).toBe(200);
    expect((await bob.register()).response.status).toBe(200);
    const frames: { binary: boolean; bytes: Buffer }[] = [];
    alice.ws.on("message", (data, isBinary) => frames.push({ binary: isBinary, bytes: Buffer.from(data as Buffer) }));
    // Bob's requests go out as binary frames of their UTF-8 bytes.
    bob.send = (text: string) => bob.ws.send(Buffer.from(text, "utf8"));
    const body = "héllo ✓ — 你好";
    const sent = bob.request({ method: "MESSAGE", ruri: "sip:alice@localhost", to: "<sip:alice@localhost>", callId: "binary-frame-1", cseq: 1, extraHeaders: ["Content-Type: text/plain;charset=utf-8"], body });
    const message = await alice.nextRequest("MESSAGE");
    expect(message.method).toBe("MESSAGE");
    const frame = frames.find((f) => f.bytes.includes(Buffer.from("MESSAGE sip:")));
    expect(frame?.binary).toBe(true);
    const bodyBytes = Buffer.from(body, "utf8");
    expect(frame!.bytes.subarray(frame!.bytes.length - bodyBytes.length).equals(bodyBytes)).toBe(true);
    expect(frame!.bytes.toString("latin1")).toContain(`Content-Length: ${bodyBytes.length}\r\n`);
    alice.send(["SIP/2.0 200 OK", ...(message.headers.get("via") ?? []).map((v) => `Via: ${v}`), `From: ${message.headers.get("from")?.[0]}`, `To: ${message.headers.get("to")?.[0]};tag=a1`, "Call-ID: binary-frame-1", `CSeq: ${message.headers.get("cseq")?.[0]}`, "Content-Length: 0", "", ""].join("\r\n"));
    expect((await sent).response.status).toBe(200);
    await Promise.all([alice.close(), bob.close()]);
  });
});

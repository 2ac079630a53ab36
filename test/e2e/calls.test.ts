import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack } from "../../scripts/stack.mjs";
import { SipUa, header, type SipMessage } from "../helpers/sip-ua.ts";

// Calls between WebSocket users through the stateful proxy, at the wire level: what a UAS sends
// back is written by hand here, so every header the proxy adds or removes is visible.

let stack: Awaited<ReturnType<typeof startStack>>;
let stateDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-calls-"));
  stack = await startStack({ port: 0, stateDir, build: false, vars: { HANDLE_LOST_FLOWS: "0", LOG_LEVEL: "warn" } });
});

afterAll(async () => {
  await stack?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

/** A response to `request` as a UAS writes it (RFC 3261 §8.2.6.2), Record-Route copied for 18x/2xx. */
function answer(request: SipMessage, status: number, reason: string, toTag: string, contact?: string): string {
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const via of request.headers.get("via") ?? []) lines.push(`Via: ${via}`);
  if (status > 100 && status < 300) for (const rr of request.headers.get("record-route") ?? []) lines.push(`Record-Route: ${rr}`);
  lines.push(`From: ${header(request, "from")}`);
  const to = header(request, "to") ?? "";
  lines.push(`To: ${to.includes(";tag=") ? to : `${to};tag=${toTag}`}`);
  lines.push(`Call-ID: ${header(request, "call-id")}`, `CSeq: ${header(request, "cseq")}`);
  if (contact) lines.push(`Contact: <${contact}>`);
  lines.push("Content-Length: 0", "", "");
  return lines.join("\r\n");
}

/** An in-dialog request along the route set a UAC learnt from a 2xx (RFC 3261 §12.2.1.1). */
function inDialog(method: string, ua: SipUa, target: string, routeSet: string[], from: string, to: string, callId: string, cseq: number): string {
  return [
    `${method} ${target} SIP/2.0`,
    `Via: SIP/2.0/WS ${randomBytes(4).toString("hex")}.invalid;branch=z9hG4bK${randomBytes(8).toString("hex")}`,
    "Max-Forwards: 70",
    ...routeSet.map((r) => `Route: ${r}`),
    `From: ${from}`,
    `To: ${to}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${method}`,
    "Content-Length: 0",
    "",
    "",
  ].join("\r\n");
}

/** Keeps a copy of everything a UA sends (to build a CANCEL from the INVITE it sent). */
function recordSent(ua: SipUa): string[] {
  const sent: string[] = [];
  const send = ua.send.bind(ua);
  ua.send = (text: string) => {
    sent.push(text);
    send(text);
  };
  return sent;
}

const uri = (nameAddr: string): string => /<([^>]+)>/.exec(nameAddr)?.[1] ?? nameAddr;

async function registered(user: string, password: string): Promise<SipUa> {
  const ua = await SipUa.connect(stack.wsUrl, { user, password });
  expect((await ua.register()).response.status).toBe(200);
  return ua;
}

describe("calls between registered WebSocket users", () => {
  it("an INVITE is authenticated (407), relayed to the callee's flow, answered, ACKed and hung up along the Record-Route", async () => {
    const alice = await registered("alice", "alice123");
    const bob = await registered("bob", "bob123");
    const call = alice.invite("sip:bob@localhost");
    const invite = await bob.nextRequest("INVITE");
    expect(invite.ruri).toBe(bob.contactUri);
    const rr = invite.headers.get("record-route") ?? [];
    expect(rr.length).toBeGreaterThanOrEqual(1);
    expect(header(invite, "proxy-authorization")).toBeUndefined(); // consumed at the edge
    bob.send(answer(invite, 180, "Ringing", "bobtag"));
    bob.send(answer(invite, 200, "OK", "bobtag", bob.contactUri));
    const outcome = await call;
    expect(outcome.challenges.map((c) => c.status)).toEqual([407]);
    expect(outcome.response.status).toBe(200);

    // The caller's route set is the Record-Route of the 2xx, reversed (RFC 3261 §12.1.2).
    const okRr = (outcome.response.headers.get("record-route") ?? []).slice().reverse();
    const from = header(outcome.response, "from")!;
    const to = header(outcome.response, "to")!;
    const callId = header(outcome.response, "call-id")!;
    alice.send(inDialog("ACK", alice, bob.contactUri, okRr, from, to, callId, outcome.cseq));
    expect((await bob.nextRequest("ACK")).method).toBe("ACK");

    // The callee hangs up: its route set is the Record-Route as received, in order.
    bob.send(inDialog("BYE", bob, uri(header(invite, "contact")!), rr, to, from, callId, 1));
    const bye = await alice.nextRequest("BYE");
    alice.send(answer(bye, 200, "OK", "x"));
    await Promise.all([alice.close(), bob.close()]);
  });

  it("a CANCEL before the answer ends the call with 487 and the callee's INVITE is cancelled", async () => {
    const alice = await registered("user0001", "pw");
    const bob = await registered("user0002", "pw");
    const sent = recordSent(alice);
    const call = alice.invite("sip:user0002@localhost");
    const invite = await bob.nextRequest("INVITE");
    bob.send(answer(invite, 180, "Ringing", "bobtag2"));
    await new Promise((r) => setTimeout(r, 50));
    // CANCEL for the authenticated INVITE (CSeq 2 after the 407): same branch, as a UAC builds it.
    const last = sent.filter((t) => t.startsWith("INVITE ")).at(-1)!;
    alice.send(last.replace(/^INVITE /, "CANCEL ").replace(/CSeq: (\d+) INVITE/, "CSeq: $1 CANCEL").replace(/\r\nContent-Type[^\r]*|\r\nProxy-Authorization[^\r]*/g, "").replace(/Content-Length: \d+\r\n\r\n[\s\S]*$/, "Content-Length: 0\r\n\r\n"));
    const cancel = await bob.nextRequest("CANCEL");
    bob.send(answer(cancel, 200, "OK", "bobtag2"));
    bob.send(answer(invite, 487, "Request Terminated", "bobtag2"));
    expect((await call).response.status).toBe(487);
    await Promise.all([alice.close(), bob.close()]);
  });

  it("a call rejected with 486 reaches the caller as 486", async () => {
    const alice = await registered("user0003", "pw");
    const bob = await registered("user0004", "pw");
    const call = alice.invite("sip:user0004@localhost");
    const invite = await bob.nextRequest("INVITE");
    bob.send(answer(invite, 486, "Busy Here", "busy"));
    expect((await call).response.status).toBe(486);
    await Promise.all([alice.close(), bob.close()]);
  });

  it("a binding whose flow died answers 430 Flow Failed (RFC 5626 §5.3)", async () => {
    const carol = await registered("carol", "carol123");
    await carol.terminate(); // HANDLE_LOST_FLOWS=0 here: the binding stays
    const alice = await registered("user0005", "pw");
    const outcome = await alice.invite("sip:carol@localhost");
    expect([outcome.response.status, outcome.response.reason]).toEqual([430, "Flow Failed"]);
    await alice.close();
  });

  it("a user that exists but is not registered gets 480; an unknown user 404", async () => {
    const alice = await registered("user0006", "pw");
    expect((await alice.invite("sip:user0999@localhost")).response.status).toBe(480);
    expect((await alice.invite("sip:nobody@localhost")).response.status).toBe(404);
    await alice.close();
  });
});

import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config.ts";
import { createLogger } from "../../../src/log.ts";
import { defaultScript } from "../../../src/routes/default.ts";
import { createAuth } from "../../../src/modules/auth/index.ts";
import { createRr } from "../../../src/modules/rr/index.ts";
import { Tm } from "../../../src/modules/tm/index.ts";
import { isMyself, type Services } from "../../../src/routing/context.ts";
import { processMessage, type Script } from "../../../src/routing/pipeline.ts";
import { FakeTransport } from "../../helpers/fake-transport.ts";
import { readResponse, sipRequest } from "../../helpers/sip-text.ts";

const config = parseConfig({ SIP_DOMAIN: "localhost", SIP_ALIASES: "127.0.0.1" });
const logLines: string[] = [];
const log = createLogger("debug", (line) => logLines.push(line));

// Timers that never fire: these tests look at the first answer only.
const idleTimers = { set: () => 0, clear: () => undefined };

function services(): Services {
  return {
    auth: createAuth({ secrets: { current: "test-secret" }, lookup: () => undefined }),
    location: {
      save: async () => ({ ok: false, error: "invalid-expires", status: 400, reason: "Bad Request", headers: [], version: 0 }),
      lookup: async () => ({ found: false, reason: "not-found" }),
    },
    subscriberExists: async (user) => user === "carol",
    tm: new Tm({ ownerId: "0", sentBy: { transport: "WS", host: "localhost" }, sendRequest: () => true, timers: idleTimers }),
    rr: createRr({ listen: { ws: { host: "localhost" } }, isMyself: (t) => isMyself(config, t) }),
  };
}

async function run(data: string | Uint8Array, script: Script = defaultScript) {
  const transport = new FakeTransport();
  await processMessage(script, { data, source: { transport: "ws", ip: "127.0.0.5", flow: "0.f1" }, transport, config, log, services: services() });
  return transport.sent;
}

async function status(data: string | Uint8Array): Promise<number | undefined> {
  const [first] = await run(data);
  return first === undefined ? undefined : readResponse(first).status;
}

describe("the default route script (seed's request checks)", () => {
  it("answers OPTIONS to the proxy itself with 200 and a To-tag", async () => {
    const [raw] = await run(sipRequest({ ruri: "sip:127.0.0.1" }));
    const res = readResponse(raw!);
    expect(res.status).toBe(200);
    expect(res.headers.get("to")?.[0]).toMatch(/;tag=se[0-9a-f]{8}$/);
    expect(res.headers.get("server")).toEqual(["sipedge"]);
  });

  it("answers OPTIONS to localhost (the SIP domain) with 200", async () => {
    expect(await status(sipRequest({ ruri: "sip:localhost" }))).toBe(200);
  });

  it("gives a retransmitted request the same To-tag (stateless replies)", async () => {
    const request = sipRequest({ ruri: "sip:127.0.0.1", branch: "z9hG4bKsame", callId: "same-call" });
    const [a] = await run(request);
    const [b] = await run(request);
    expect(readResponse(a!).headers.get("to")).toEqual(readResponse(b!).headers.get("to"));
  });

  it("stamps received with the source address on the top Via of the reply", async () => {
    const [raw] = await run(sipRequest());
    expect(readResponse(raw!).headers.get("via")?.[0]).toBe("SIP/2.0/WS df7jal23ls0d.invalid;branch=" + /branch=([^;\s]+)/.exec(raw!)![1] + ";received=127.0.0.5");
  });

  it("stamps no received when the sent-by is the source address, an IPv6 one in brackets included", async () => {
    for (const [host, ip] of [["127.0.0.5", "127.0.0.5"], ["[::1]", "::1"]] as const) {
      const transport = new FakeTransport();
      await processMessage(defaultScript, { data: sipRequest({ ruri: "sip:127.0.0.1" }).replace("df7jal23ls0d.invalid", host), source: { transport: "ws", ip, flow: "0.sT" }, transport, config, log, services: services() });
      expect(readResponse(transport.sent[0]!).headers.get("via")?.[0]).toMatch(new RegExp(`^SIP/2\\.0/WS ${host.replace(/[[\]]/g, "\\$&")};branch=[^;]+$`));
    }
  });

  it("answers Max-Forwards: 0 with 483 Too Many Hops", async () => {
    const [raw] = await run(sipRequest({ method: "INVITE", ruri: "sip:bob@localhost", maxForwards: 0 }));
    expect([readResponse(raw!).status, readResponse(raw!).reason]).toEqual([483, "Too Many Hops"]);
  });

  it("accepts a request without Max-Forwards (maxfwd inserts it)", async () => {
    expect(await status(sipRequest({ maxForwards: null }))).toBe(200);
  });

  it("answers a message of 65,535 bytes or more with 513", async () => {
    const big = sipRequest({ extraHeaders: [`X-Pad: ${"x".repeat(65535)}`] });
    expect(await status(big)).toBe(513);
  });

  it("decides the 513 before parsing the body: an oversized message whose body would fail to parse still gets 513", async () => {
    const body = "v=0\r\n" + "a=x\r\n".repeat(20_000);
    const lying = sipRequest({ method: "MESSAGE", body }).replace(/Content-Length: \d+/, "Content-Length: 5");
    const [raw] = await run(lying);
    const res = readResponse(raw!);
    expect(`${res.status} ${res.reason}`).toBe("513 Message too big");
    expect(res.headers.get("call-id")).toHaveLength(1);
    expect(logLines.some((l) => l.includes('"status":513'))).toBe(true);
  });

  it("answers a message just under the limit normally", async () => {
    const fixed = { callId: "size-probe", branch: "z9hG4bKsize", from: "<sip:alice@localhost>;tag=size" };
    const base = sipRequest(fixed);
    const pad = 65534 - new TextEncoder().encode(base).length - "X-Pad: \r\n".length;
    const justUnder = sipRequest({ ...fixed, extraHeaders: [`X-Pad: ${"x".repeat(pad)}`] });
    expect(new TextEncoder().encode(justUnder).length).toBe(65534);
    expect(await status(justUnder)).toBe(200);
  });

  it("answers an unknown Request-URI scheme with 416", async () => {
    expect(await status(sipRequest({ method: "INVITE", ruri: "im:bob@localhost" }))).toBe(416);
  });

  it("answers an unsupported Proxy-Require with 420 listing it in Unsupported", async () => {
    const [raw] = await run(sipRequest({ extraHeaders: ["Proxy-Require: foo, bar"] }));
    const res = readResponse(raw!);
    expect(res.status).toBe(420);
    expect(res.headers.get("unsupported")).toEqual(["foo, bar"]);
  });

  it("refuses a foreign caller to a foreign domain with 403 Not relaying", async () => {
    const [raw] = await run(sipRequest({ method: "MESSAGE", ruri: "sip:bob@example.com", from: "<sip:mallory@example.net>;tag=m1" }));
    expect(readResponse(raw!).reason).toBe("Not relaying");
  });

  it("challenges a local user's request with 407 before anything else (no open relay, no enumeration)", async () => {
    const [raw] = await run(sipRequest({ method: "INVITE", ruri: "sip:bob@example.com" }));
    const res = readResponse(raw!);
    expect(res.status).toBe(407);
    expect(res.headers.get("proxy-authenticate")?.[0]).toMatch(/algorithm=SHA-256$/);
    expect(res.headers.get("proxy-authenticate")?.[1]).toMatch(/^Digest realm="localhost", nonce="[^"]+", qop="auth", algorithm=MD5$/);
  });

  it("challenges an unauthenticated request to a local user before any lookup, so existing and unknown users look the same", async () => {
    const from = "<sip:gw@example.net>;tag=g1";
    const unknown = readResponse((await run(sipRequest({ method: "INVITE", ruri: "sip:bob@localhost", from })))[0]!);
    const known = readResponse((await run(sipRequest({ method: "INVITE", ruri: "sip:carol@localhost", from })))[0]!);
    expect([unknown.status, known.status]).toEqual([407, 407]);
    expect([...unknown.headers.keys()]).toEqual([...known.headers.keys()]);
  });

  it("answers an in-dialog request that is not routed through this proxy with 404 Not here", async () => {
    const [raw] = await run(sipRequest({ method: "BYE", ruri: "sip:bob@localhost", to: "<sip:bob@localhost>;tag=b1" }));
    expect([readResponse(raw!).status, readResponse(raw!).reason]).toEqual([404, "Not here"]);
  });

  it("answers a CANCEL that matches no transaction with 481", async () => {
    expect(await status(sipRequest({ method: "CANCEL", ruri: "sip:bob@localhost" }))).toBe(481);
  });

  it("never answers an ACK, whatever the route decides", async () => {
    expect(await run(sipRequest({ method: "ACK", ruri: "sip:bob@localhost" }))).toEqual([]);
    expect(await run(sipRequest({ method: "ACK", ruri: "sip:bob@example.com" }))).toEqual([]);
    expect(await run(sipRequest({ method: "ACK", ruri: "sip:bob@localhost", maxForwards: 0 }))).toEqual([]);
  });

  it("drops responses (no transaction owns them yet)", async () => {
    expect(await run("SIP/2.0 200 OK\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bK1\r\nFrom: <sip:a@localhost>;tag=1\r\nTo: <sip:b@localhost>;tag=2\r\nCall-ID: r1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")).toEqual([]);
  });

  it("answers a header line without a colon with 400 and a reason", async () => {
    const [raw] = await run(sipRequest({ extraHeaders: ["Broken header line"] }));
    const res = readResponse(raw!);
    expect(res.status).toBe(400);
    expect(res.reason.length).toBeGreaterThan(0);
  });

  it("answers a failing script with 500 and no detail", async () => {
    const failing: Script = { request: async () => { throw new Error("secret internal detail at 10.0.0.7"); } };
    const [raw] = await run(sipRequest(), failing);
    const res = readResponse(raw!);
    expect([res.status, res.reason]).toEqual([500, "Server Internal Error"]);
    expect(raw).not.toContain("10.0.0.7");
  });
});

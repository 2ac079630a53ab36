import { beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config.ts";
import { createLogger } from "../../../src/log.ts";
import { DispatcherClient } from "../../../src/modules/dispatcher/client.ts";
import { createForwarder } from "../../../src/modules/forward/index.ts";
import { Permissions } from "../../../src/modules/permissions/index.ts";
import { createRr } from "../../../src/modules/rr/index.ts";
import type { Target } from "../../../src/modules/tm/index.ts";
import { opensipsBalancer } from "../../../src/routes/opensips-balancer.ts";
import { isMyself, type Services, type Source } from "../../../src/routing/context.ts";
import { processMessage } from "../../../src/routing/pipeline.ts";
import type { SipRequest } from "../../../src/sip/message.ts";
import { Signer } from "../../../src/util/signer.ts";
import { MemoryDispatcher } from "../../fuzz/services.ts";
import { FakeTransport } from "../../helpers/fake-transport.ts";
import { readResponse, sipRequest } from "../../helpers/sip-text.ts";

// The opensips-balancer script in process, with the real rr, dispatcher and forward modules over
// fake transports: what it forwards where, and what it refuses, so that neither a Route nor a UDP
// source can turn the balancer into a relay to anywhere.

const DOMAIN = "sip.example.test";
const BRIDGE = { transport: "UDP", host: "127.0.0.9", port: 5060, bridge: "b1" };
const PROXIES = ["127.0.0.24", "127.0.0.25"];
const config = parseConfig({ SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", ROUTE_SCRIPT: "opensips-balancer" });
const log = createLogger("error", () => undefined);
const rrSigner = new Signer({ current: "unit-secret" }, "sipedge rr");
const branchSigner = new Signer({ current: "unit-secret" }, "sipedge branch");
const CLIENT: Source = { transport: "wss", ip: "127.0.0.2", flow: "0.sAAAA" };

let dispatcher: MemoryDispatcher;
let forwarded: { request: SipRequest; target: Target }[];

function services(): Services {
  const isBridgeAddress = (h: string, p: number | undefined) => h === BRIDGE.host && (p ?? 5060) === 5060;
  return {
    rr: createRr({ listen: { ws: { host: DOMAIN }, wss: { host: DOMAIN }, udp: BRIDGE }, isMyself: (t) => isMyself(config, t, isBridgeAddress), signer: rrSigner }),
    dispatcher: new DispatcherClient(dispatcher, 0, () => 0),
    forwarder: createForwarder({
      ownerId: "0",
      signer: branchSigner,
      viaFor: () => ({ transport: "WSS", host: DOMAIN }),
      sendRequest: (request, target) => (forwarded.push({ request, target }), true),
    }),
    permissions: async () => Permissions.compile({}),
    bridgeVia: () => BRIDGE,
    isBridgeAddress,
  };
}

async function run(text: string, source: Source = CLIENT): Promise<string[]> {
  const transport = new FakeTransport();
  await processMessage(opensipsBalancer, { data: text, source, transport, config, log, services: services() });
  return transport.sent;
}

beforeEach(() => {
  dispatcher = new MemoryDispatcher(PROXIES.map((ip) => `2 sip:${ip}:5060`).join("\n"), () => 0);
  forwarded = [];
});

/** An INVITE from the client through the balancer; the route set its caller would learn. */
async function dialog(callId: string): Promise<{ proxy: string; callerRoutes: string[] }> {
  const sent = await run(sipRequest({ method: "INVITE", ruri: `sip:bob@${DOMAIN}`, callId }));
  expect(sent).toEqual([]); // stateless: no 100 Trying of its own
  const out = forwarded.at(-1)!;
  return { proxy: out.target.dst!, callerRoutes: out.request.headers.getAll("record-route").reverse() };
}

function inDialog(method: string, callId: string, routes: string[]): string {
  return sipRequest({ method, ruri: "sip:bob@127.0.0.24:5060", callId, to: `<sip:bob@${DOMAIN}>;tag=callee`, extraHeaders: routes.map((r) => `Route: ${r}`) });
}

describe("opensips-balancer in process", () => {
  it("forwards an INVITE from a client to one proxy of set 2 through the bridge, record-routing both sides", async () => {
    const { proxy } = await dialog("call-a");
    const out = forwarded[0]!;
    expect(PROXIES.map((p) => `${p}:5060`)).toContain(proxy);
    expect(out.target.via).toMatchObject({ transport: "UDP", host: "127.0.0.9" });
    const rr = out.request.headers.getAll("record-route");
    expect(rr[0]).toMatch(/^<sip:127\.0\.0\.9:5060;transport=udp;lr;r2=on;shard=0;sg=/);
    expect(rr[1]).toMatch(/^<sip:sip\.example\.test;transport=ws;lr;r2=on;flow=0\.sAAAA;shard=0;sg=/);
    expect(out.request.headers.get("max-forwards")).toBe("69");
  });

  it("an in-dialog request follows the route set; a next Route that is a proxy of the list is kept as $du (force_dst 0)", async () => {
    const { callerRoutes } = await dialog("call-b");
    for (const proxy of PROXIES) {
      forwarded = [];
      expect(await run(inDialog("BYE", "call-b", [...callerRoutes, `<sip:${proxy}:5060;lr>`]))).toEqual([]);
      expect(forwarded[0]?.target.dst).toBe(`${proxy}:5060`);
    }
  });

  it("a Route to any other host after the balancer's own is refused (403): the bridge is no relay to anywhere", async () => {
    const { callerRoutes } = await dialog("call-c");
    const [raw] = await run(inDialog("BYE", "call-c", [...callerRoutes, "<sip:203.0.113.5:5060;lr>"]));
    expect(readResponse(raw!).status).toBe(403);
    expect(forwarded).toHaveLength(1); // only the INVITE
  });

  it("a route set whose entries were altered is refused (403)", async () => {
    const { callerRoutes } = await dialog("call-d");
    const [raw] = await run(inDialog("BYE", "call-d", callerRoutes.map((r) => r.replace("flow=0.sAAAA", "flow=0.sBBBB"))));
    expect(readResponse(raw!).status).toBe(403);
  });

  it("through the bridge, only a destination of the list may send (403 for any other UDP source)", async () => {
    const [raw] = await run(sipRequest({ method: "INVITE", ruri: `sip:bob@${DOMAIN}` }), { transport: "udp", ip: "127.0.0.27", port: 5060, bridge: "b1" });
    expect(readResponse(raw!).status).toBe(403);
    expect(forwarded).toHaveLength(0);
    expect(await run(sipRequest({ method: "OPTIONS", ruri: `sip:${DOMAIN}` }), { transport: "udp", ip: "127.0.0.25", port: 5060, bridge: "b1" })).toEqual([]);
    expect(forwarded).toHaveLength(1);
  });

  it("mf_process_maxfwd_header: Max-Forwards 0 gets 483; with no proxy up, 404 No destination", async () => {
    const [hops] = await run(sipRequest({ method: "INVITE", ruri: `sip:bob@${DOMAIN}`, maxForwards: 0 }));
    expect([readResponse(hops!).status, readResponse(hops!).reason]).toEqual([483, "Too Many Hops"]);
    for (const ip of PROXIES) await dispatcher.markDst(2, `sip:${ip}:5060`, "i");
    const [none] = await run(sipRequest({ method: "INVITE", ruri: `sip:bob@${DOMAIN}` }));
    expect([readResponse(none!).status, readResponse(none!).reason]).toEqual([404, "No destination"]);
  });

  it("a client's REGISTER goes to a proxy with the balancer's Path naming the client's flow", async () => {
    expect(await run(sipRequest({ method: "REGISTER", ruri: `sip:${DOMAIN}`, extraHeaders: ["Contact: <sip:a@x.invalid;transport=ws>"] }))).toEqual([]);
    expect(forwarded[0]?.request.headers.get("path")).toMatch(/^<sip:127\.0\.0\.9:5060;transport=udp;lr;flow=0\.sAAAA;ob;sg=/);
    expect(forwarded[0]?.request.headers.has("record-route")).toBe(false);
  });
});

import { createHmac, randomBytes } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config.ts";
import { createLogger } from "../../../src/log.ts";
import { computeHa1, computeResponse, createAuth } from "../../../src/modules/auth/index.ts";
import { DispatcherClient } from "../../../src/modules/dispatcher/client.ts";
import { Permissions } from "../../../src/modules/permissions/index.ts";
import { createRegistrar } from "../../../src/modules/registrar/index.ts";
import type { LocationService } from "../../../src/modules/registrar/script.ts";
import { createRr } from "../../../src/modules/rr/index.ts";
import { Tm, type Target } from "../../../src/modules/tm/index.ts";
import { opensipsRegistrar } from "../../../src/routes/opensips-registrar.ts";
import { isMyself, type Services, type Source } from "../../../src/routing/context.ts";
import { processMessage } from "../../../src/routing/pipeline.ts";
import type { SipRequest } from "../../../src/sip/message.ts";
import { Signer } from "../../../src/util/signer.ts";
import { MemoryDispatcher, MemoryLocation } from "../../fuzz/services.ts";
import { FakeTransport } from "../../helpers/fake-transport.ts";
import { readResponse, sipRequest } from "../../helpers/sip-text.ts";

// The opensips-registrar script in process (real tm, rr, registrar, auth and permissions over
// in-memory Location and fake transports): the seed's P-hint, the alias, and the ways it refuses
// to become a relay or to spend a Location object on a guessed name.

const DOMAIN = "alpha.org";
const config = parseConfig({ SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", ROUTE_SCRIPT: "opensips-registrar" });
const log = createLogger("error", () => undefined);
const idleTimers = { set: () => 0, clear: () => undefined };
const BRIDGE = { transport: "UDP", host: "127.0.0.9", port: 5060, bridge: "b1" };
const CLIENT: Source = { transport: "wss", ip: "127.0.0.2", flow: "0.sCALLER" };
const SUSER_FLOW = "0.sSUSER";

let sent: { request: SipRequest; target: Target }[];
let lookups: string[];
let location: LocationService;

function services(): Services {
  const isBridgeAddress = (h: string, p: number | undefined) => h === BRIDGE.host && (p ?? 5060) === 5060;
  return {
    auth: createAuth({ secrets: { current: "unit" }, lookup: ({ user }) => (user === "suser" ? { password: "supasswd" } : undefined) }),
    location,
    subscriberExists: async (user) => user === "suser",
    aliases: { lookup: async (user) => (user === "support" ? `sip:suser@${DOMAIN}` : user === "pstn" ? "sip:carrier@127.0.0.26:5060" : undefined) },
    tm: new Tm({ ownerId: "0", sentBy: { transport: "WS", host: DOMAIN }, sendRequest: (request, target) => (sent.push({ request, target }), true), timers: idleTimers }),
    rr: createRr({ listen: { ws: { host: DOMAIN }, wss: { host: DOMAIN }, udp: BRIDGE }, isMyself: (t) => isMyself(config, t, isBridgeAddress), signer: new Signer({ current: "unit" }, "sipedge rr") }),
    dispatcher: new DispatcherClient(new MemoryDispatcher("1 sip:127.0.0.20:5060", () => 0), 0, () => 0),
    permissions: async () => Permissions.compile({ addressRows: [{ grp: 2, ip_addr: "127.0.0.26", mask: 32, port: 0 }] }),
    bridgeVia: () => BRIDGE,
    isBridgeAddress,
    shard: "0",
  };
}

async function run(text: string, source: Source = CLIENT): Promise<string[]> {
  const transport = new FakeTransport();
  await processMessage(opensipsRegistrar, { data: text, source, transport, config, log, services: services() });
  return transport.sent;
}

function statusOf(raw: string | undefined): string {
  const r = readResponse(raw ?? "");
  return `${r.status} ${r.reason}`;
}

beforeEach(async () => {
  sent = [];
  lookups = [];
  const memory = new MemoryLocation(createRegistrar(config.registrar), () => 0);
  location = { save: (input) => memory.save(input), lookup: (aor) => (lookups.push(aor), memory.lookup(aor)) };
  // suser registered over its flow (what save("location") stores for a REGISTER).
  await location.save({ aor: `suser@${DOMAIN}`, callId: "reg-1", cseq: 1, contacts: [{ uri: "sip:suser@x.invalid;transport=ws" }], flowToken: SUSER_FLOW });
  lookups = [];
});

describe("opensips-registrar in process", () => {
  it("a call to a registered user gets P-hint: usrloc applied and Record-Route, and goes to the user's flow", async () => {
    await run(sipRequest({ method: "INVITE", ruri: `sip:suser@${DOMAIN}` }));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.target.flow).toBe(SUSER_FLOW);
    expect(sent[0]!.request.headers.getAll("p-hint")).toEqual(["usrloc applied"]);
    expect(sent[0]!.request.headers.getAll("record-route")).toHaveLength(2);
  });

  it("an alias of a local user is rewritten to it (lookup(\"aliases\")) and then looked up in location", async () => {
    await run(sipRequest({ method: "INVITE", ruri: `sip:support@${DOMAIN}` }));
    expect(sent[0]?.target.flow).toBe(SUSER_FLOW);
    expect(lookups).toEqual([`suser@${DOMAIN}`]);
  });

  it("a name that is no subscriber gets 404 without asking a Location object (is_subscriber first)", async () => {
    const [raw] = await run(sipRequest({ method: "INVITE", ruri: `sip:guess1234@${DOMAIN}` }));
    expect(statusOf(raw)).toBe("404 Not Found");
    expect(lookups).toEqual([]);
  });

  it("another domain, or an alias of another domain, is challenged (407) before anything is relayed", async () => {
    for (const ruri of ["sip:someone@127.0.0.26:5060", `sip:pstn@${DOMAIN}`]) {
      const [raw] = await run(sipRequest({ method: "INVITE", ruri }));
      expect(statusOf(raw)).toBe("407 Proxy Authentication Required");
    }
    expect(sent).toHaveLength(0);
  });

  it("over UDP, a host of the relay group may not relay (403 Relaying forbidden, no challenge), and any other source gets 403", async () => {
    const relayHost: Source = { transport: "udp", ip: "127.0.0.26", port: 5060, bridge: "b1" };
    const [relay] = await run(sipRequest({ method: "INVITE", ruri: "sip:x@127.0.0.26:5060", via: "Via: SIP/2.0/UDP 127.0.0.26:5060;branch=z9hG4bKr1" }), relayHost);
    expect(statusOf(relay)).toBe("403 Relaying forbidden");
    const [stranger] = await run(sipRequest({ method: "INVITE", ruri: `sip:suser@${DOMAIN}`, via: "Via: SIP/2.0/UDP 127.0.0.27:5060;branch=z9hG4bKr2" }), { ...relayHost, ip: "127.0.0.27" });
    expect(statusOf(stranger)).toBe("403 Forbidden");
    expect(sent).toHaveLength(0);
  });

  it("a host of the relay group may call a local user over UDP: no challenge, the call reaches the flow", async () => {
    await run(sipRequest({ method: "INVITE", ruri: `sip:suser@${DOMAIN}`, via: "Via: SIP/2.0/UDP 127.0.0.26:5060;branch=z9hG4bKr3" }), { transport: "udp", ip: "127.0.0.26", port: 5060, bridge: "b1" });
    expect(sent[0]?.target.flow).toBe(SUSER_FLOW);
  });

  it("REGISTER without credentials is challenged with 401 (www_challenge)", async () => {
    const [raw] = await run(sipRequest({ method: "REGISTER", ruri: `sip:${DOMAIN}`, to: `<sip:suser@${DOMAIN}>`, extraHeaders: ["Contact: <sip:suser@y.invalid;transport=ws>"] }));
    expect(statusOf(raw)).toBe("401 Unauthorized");
    expect(readResponse(raw!).headers.get("www-authenticate")?.length).toBeGreaterThan(0);
  });

  it("a REGISTER answering a nonce issued before the upgrade (the 38-character format) is challenged again with stale=true", async () => {
    // expires ‖ 8 random bytes ‖ HMAC-SHA256(secret, expires ‖ random ‖ realm ‖ NUL ‖ flow)[0..16)
    const head = Buffer.alloc(12);
    head.writeUInt32BE(Math.floor(Date.now() / 1000) + 300, 0);
    randomBytes(8).copy(head, 4);
    const mac = createHmac("sha256", "unit").update(head).update(`${DOMAIN}\u0000${CLIENT.flow}`).digest().subarray(0, 16);
    const nonce = Buffer.concat([head, mac]).toString("base64url");
    const digest = { algorithm: "MD5" as const, ha1: computeHa1("MD5", "suser", DOMAIN, "supasswd"), nonce, method: "REGISTER", uri: `sip:${DOMAIN}`, qop: "auth" as const, nc: "00000001", cnonce: "0a4f113b" };
    const authorization = `Authorization: Digest username="suser", realm="${DOMAIN}", nonce="${nonce}", uri="${digest.uri}", response="${computeResponse(digest)}", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b"`;
    const [raw] = await run(sipRequest({ method: "REGISTER", ruri: `sip:${DOMAIN}`, to: `<sip:suser@${DOMAIN}>`, extraHeaders: [authorization, "Contact: <sip:suser@y.invalid;transport=ws>"] }));
    expect(statusOf(raw)).toBe("401 Unauthorized");
    const challenges = readResponse(raw!).headers.get("www-authenticate") ?? [];
    expect(challenges.length).toBeGreaterThan(0);
    for (const challenge of challenges) expect(challenge).toMatch(/stale=true/i);
  });
});

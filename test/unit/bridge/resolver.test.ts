import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTarget, type Target } from "../../../bridge/frame.ts";
import { Resolver } from "../../../bridge/resolver.ts";
import { startDnsResponder, type DnsResponder } from "./dns-responder.ts";

let dns: DnsResponder;

beforeAll(async () => {
  dns = await startDnsResponder({
    a: {
      "gw.sipedge.test": ["127.0.0.11"],
      "primary.sipedge.test": ["127.0.0.21"],
      "backup.sipedge.test": ["127.0.0.22"],
      "plain.sipedge.test": ["127.0.0.31"],
    },
    srv: {
      "_sip._udp.carrier.sipedge.test": [
        { priority: 20, weight: 0, port: 7072, target: "backup.sipedge.test" },
        { priority: 10, weight: 5, port: 7070, target: "primary.sipedge.test" },
      ],
      "_sip._udp.pool.sipedge.test": [
        { priority: 10, weight: 1, port: 7070, target: "primary.sipedge.test" },
        { priority: 10, weight: 3, port: 7072, target: "backup.sipedge.test" },
      ],
    },
  });
});

afterAll(async () => {
  await dns.close();
});

function target(text: string): Target {
  const parsed = parseTarget(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function resolver(): Resolver {
  return new Resolver({ servers: [`127.0.0.1:${dns.port}`], timeoutMs: 500, tries: 1 });
}

describe("RFC 3263 destination resolution", () => {
  it("an IP literal needs no lookup, and a missing port means 5060", () => {
    const r = resolver();
    expect(r.resolveNow(target("127.0.0.5:7070"))).toEqual({ ok: true, value: { address: "127.0.0.5", port: 7070 } });
    expect(r.resolveNow(target("127.0.0.5"))).toEqual({ ok: true, value: { address: "127.0.0.5", port: 5060 } });
  });

  it("a name without a port is looked up as _sip._udp SRV; the lowest priority target wins", async () => {
    const r = resolver();
    dns.questions.length = 0;
    expect(await r.resolve(target("carrier.sipedge.test"))).toEqual({ ok: true, value: { address: "127.0.0.21", port: 7070 } });
    expect(dns.questions).toContain("SRV _sip._udp.carrier.sipedge.test");
    expect(dns.questions).toContain("A primary.sipedge.test");
  });

  it("a name with a port gets an A lookup only (§4.2: the SRV port must not override it)", async () => {
    const r = resolver();
    dns.questions.length = 0;
    expect(await r.resolve(target("gw.sipedge.test:7074"))).toEqual({ ok: true, value: { address: "127.0.0.11", port: 7074 } });
    expect(dns.questions).toEqual(["A gw.sipedge.test"]);
  });

  it("without SRV records the name's A record is used with port 5060", async () => {
    const r = resolver();
    dns.questions.length = 0;
    expect(await r.resolve(target("plain.sipedge.test"))).toEqual({ ok: true, value: { address: "127.0.0.31", port: 5060 } });
    expect(dns.questions).toEqual(["SRV _sip._udp.plain.sipedge.test", "A plain.sipedge.test"]);
  });

  it("answers are cached: the second datagram to a name costs no query and resolves synchronously", async () => {
    const r = resolver();
    await r.resolve(target("carrier.sipedge.test"));
    dns.questions.length = 0;
    expect(r.resolveNow(target("carrier.sipedge.test"))).toEqual({ ok: true, value: { address: "127.0.0.21", port: 7070 } });
    expect(await r.resolve(target("carrier.sipedge.test"))).toMatchObject({ ok: true });
    expect(dns.questions).toEqual([]);
  });

  it("concurrent lookups of one name share one query", async () => {
    const r = resolver();
    dns.questions.length = 0;
    const results = await Promise.all([1, 2, 3].map(() => r.resolve(target("gw.sipedge.test:7070"))));
    expect(results.every((x) => x.ok)).toBe(true);
    expect(dns.questions).toEqual(["A gw.sipedge.test"]);
  });

  it("an unknown name fails with the DNS reason, and the failure is cached briefly", async () => {
    const r = resolver();
    dns.questions.length = 0;
    const result = await r.resolve(target("nowhere.sipedge.test:5060"));
    expect(result).toEqual({ ok: false, reason: "ENOTFOUND" });
    expect(r.resolveNow(target("nowhere.sipedge.test:5060"))).toEqual({ ok: false, reason: "ENOTFOUND" });
    expect(dns.questions).toEqual(["A nowhere.sipedge.test"]);
  });

  it("SRV weights share the traffic among targets of equal priority (RFC 2782)", async () => {
    const servers = [`127.0.0.1:${dns.port}`];
    // Weights 1 and 3: a roll in the first quarter picks the first target, the rest the second.
    const low = new Resolver({ servers, random: () => 0.2 });
    const high = new Resolver({ servers, random: () => 0.5 });
    expect(await low.resolve(target("pool.sipedge.test"))).toEqual({ ok: true, value: { address: "127.0.0.21", port: 7070 } });
    expect(await high.resolve(target("pool.sipedge.test"))).toEqual({ ok: true, value: { address: "127.0.0.22", port: 7072 } });
  });
});

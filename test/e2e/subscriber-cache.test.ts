// The isolate's subscriber cache (src/provisioning/subscriber-lookup.ts) as the shards use it:
// every REGISTER with credentials needs the user's HA1, and DESIGN.md §3 wants a refresh to reach
// no other service. The D1 statements are counted in the local D1's own isolate through workerd's
// inspector (test/helpers/d1-count.ts), so a cache that never hits (one made per request or per
// message, a key that never matches) shows as one subscriber read per REGISTER.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../scripts/stack.mjs";
import { countD1, type D1Counter, type D1Counts } from "../helpers/d1-count.ts";
import { clientAddress, DOMAIN, EDGE_HOST } from "../helpers/deployment.ts";
import { SipUa } from "../helpers/sip-ua.ts";
import { freePort } from "../helpers/ports.ts";

const PASSWORD = "pw"; // the seeded benchmark users user0000… (src/provisioning/seed.ts)
const REGISTERS = 5;

/** Statements that read the subscriber table: one account, or a batch of misses. */
const subscriberReads = (c: D1Counts): number =>
  Object.entries(c.bySql).reduce((n, [sql, count]) => (/^SELECT .* FROM subscriber/.test(sql) ? n + count : n), 0);

let stack: Stack;
let d1: D1Counter;
const open: SipUa[] = [];

beforeAll(async () => {
  const inspectorPort = await freePort();
  stack = await startStack({ host: EDGE_HOST, port: 0, build: false, inspectorPort, vars: { SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", LOG_LEVEL: "error" } });
  d1 = await countD1(inspectorPort);
});

afterAll(async () => {
  await Promise.all(open.map((ua) => ua.close().catch(() => undefined)));
  d1?.close();
  await stack?.stop();
});

describe("subscriber cache in the shards", () => {
  it(`${REGISTERS} REGISTERs of one user over one connection read the subscriber table once`, async () => {
    const before = subscriberReads(await d1.take());
    const ua = await SipUa.connect(stack.wsUrl, { user: "user0042", password: PASSWORD, domain: DOMAIN, localAddress: clientAddress(0) });
    open.push(ua);
    for (let i = 0; i < REGISTERS; i++) {
      const { response } = await ua.register();
      expect(response.status).toBe(200);
    }
    expect(subscriberReads(await d1.take()) - before).toBe(1);
  });

  it("a second connection of the same user is served from the cache too; another user is one read", async () => {
    const before = subscriberReads(await d1.take());
    const ua = await SipUa.connect(stack.wsUrl, { user: "user0042", password: PASSWORD, domain: DOMAIN, localAddress: clientAddress(1) });
    open.push(ua);
    for (let i = 0; i < REGISTERS; i++) {
      const { response } = await ua.register();
      expect(response.status).toBe(200);
    }
    // Another user is one more read: the counter sees the cache's misses, not only silence.
    const other = await SipUa.connect(stack.wsUrl, { user: "user0043", password: PASSWORD, domain: DOMAIN, localAddress: clientAddress(2) });
    open.push(other);
    expect((await other.register()).response.status).toBe(200);
    expect(subscriberReads(await d1.take()) - before).toBe(1);
  });
});

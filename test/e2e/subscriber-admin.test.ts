import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOMAIN, admin, clientAddress, startDeployment, type Deployment } from "../helpers/deployment.ts";
import { SipUa } from "../helpers/sip-ua.ts";

// An admin change to a subscriber reaches the HA1 cache of every shard at once: with
// SUBSCRIBER_CACHE_TTL at an hour, a changed password stops working on every socket that
// registered with it (each on a shard picked at random), and a removed account too. Locally the
// Worker and all shards share one isolate (and so one cache), so what this shows of the fan-out
// is that all 16 real shards confirm it over RPC (`caches`); that a shard in another isolate
// forgets is the unit test's (test/unit/admin/forget-subscribers.test.ts).

const USER = "user0710";
const CLIENTS = 10; // MAX_CONTACTS (10) devices of one account, each on a shard picked at random
const SHARDS = 16;

describe("subscriber changes through the admin API reach every shard's HA1 cache", () => {
  let dep: Deployment;
  const uas: SipUa[] = [];
  beforeAll(async () => {
    dep = await startDeployment({ vars: { SUBSCRIBER_CACHE_TTL: "3600", CONNECTION_SHARDS: String(SHARDS) } });
    for (let i = 0; i < CLIENTS; i++) {
      uas.push(await SipUa.connect(dep.wsUrl, { user: USER, password: "pw", domain: DOMAIN, localAddress: clientAddress(150 + i), ca: dep.ca.cert }));
    }
  });
  afterAll(async () => {
    await Promise.all(uas.map((ua) => ua.close()));
    await dep?.destroy();
  });

  it("passwd: the old password fails on every shard that cached it, the new one works; rm: the account is refused everywhere", async () => {
    // Every socket registers with the old password: its shard caches the HA1 for an hour.
    for (const ua of uas) expect((await ua.register()).response.status).toBe(200);

    const changed = await admin(dep, `/subscribers/${USER}/password`, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ password: "new-pw" }) });
    expect(changed.status).toBe(200);
    expect(await changed.json()).toMatchObject({ username: USER, domain: DOMAIN, password: "changed", caches: { shards: SHARDS, confirmed: SHARDS } });

    for (const ua of uas) {
      const old = await ua.register();
      expect(old.response.status, "a refresh with the old password").toBe(401);
      expect(old.challenges.length).toBe(1);
      expect((await ua.register({ password: "new-pw" })).response.status).toBe(200);
    }

    const removed = await admin(dep, `/subscribers/${USER}`, { method: "DELETE" });
    expect(await removed.json()).toMatchObject({ removed: true, caches: { shards: SHARDS, confirmed: SHARDS } });
    for (const ua of uas) expect((await ua.register({ password: "new-pw" })).response.status).not.toBe(200);
  });
});

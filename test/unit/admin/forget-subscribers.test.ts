import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { forgetSubscribers, type Forget } from "../../../src/admin/forget-subscribers.ts";
import { applyMigrations } from "../../../src/provisioning/migrate.ts";
import { seedDemoSubscribers } from "../../../src/provisioning/seed.ts";
import { subscriberCacheFor } from "../../../src/provisioning/subscriber-lookup.ts";
import { SqliteD1 } from "../provisioning/sqlite-db.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const init = { name: "0001_init.sql", sql: await readFile(path.join(ROOT, "migrations/0001_init.sql"), "utf8") };

describe("an admin change to subscribers reaches every shard's HA1 cache", () => {
  it("tells each of CONNECTION_SHARDS shards which accounts to forget (or all), and forgets them in this isolate", async () => {
    const db = new SqliteD1();
    await applyMigrations(db, [init]);
    await seedDemoSubscribers(db, "localhost", 0);
    const unused = () => {
      throw new Error("the test names its own shards");
    };
    const env = { DB: db, CONNECTION_SHARDS: "4", SIP_DOMAIN: "localhost", SIP_CONNECTION: { idFromName: unused, get: unused } };
    const cache = subscriberCacheFor(db);
    await cache.lookup({ username: "alice", user: "alice", realm: "localhost" });
    expect(cache.size).toBe(1);

    const told: [number, Forget][] = [];
    const shardOf = (i: number) => ({
      forgetSubscribers: async (accounts: Forget) => {
        if (i === 3) throw new Error("shard 3 unreachable");
        told.push([i, accounts]);
      },
    });
    const lines: string[] = [];
    const report = await forgetSubscribers(env, [{ user: "alice", domain: "localhost" }], shardOf, (line) => lines.push(line));
    expect(told.map(([i]) => i).sort()).toEqual([0, 1, 2]);
    expect(told.every(([, a]) => a !== "all" && a[0]?.user === "alice")).toBe(true);
    expect(report).toEqual({ shards: 4, confirmed: 3 });
    expect(cache.size).toBe(0);
    // The shard that did not confirm is named, with how long it may serve the old HA1.
    expect(lines).toHaveLength(1);
    const warned = JSON.parse(lines[0] ?? "{}") as Record<string, unknown>;
    expect(warned).toMatchObject({ level: "warn", shards: 4, unconfirmed: [{ shard: 3, reason: "Error: shard 3 unreachable" }], cacheTtl: 60 });

    told.length = 0;
    lines.length = 0;
    expect(await forgetSubscribers(env, "all", shardOf, (line) => lines.push(line))).toEqual({ shards: 4, confirmed: 3 });
    expect(told.map(([, a]) => a)).toEqual(["all", "all", "all"]);

    const healthy = () => ({ forgetSubscribers: async () => {} });
    expect(await forgetSubscribers(env, "all", healthy, (line) => lines.push(line))).toEqual({ shards: 4, confirmed: 4 });
    expect(lines).toHaveLength(1);
  });
});

import { describe, expect, it } from "vitest";
import { BanDirectory, DirectoryCopy } from "../../../src/modules/htable/ban-directory.ts";
import { NO_BAN, bannedUntil, scopeOf, withBan } from "../../../src/modules/htable/ipban.ts";

const NOW = 1_000_000;

describe("ipban scopes: a ban caused over UDP (a forgeable source) applies to UDP only", () => {
  it("a UDP-caused ban stops datagrams and leaves WebSocket traffic alone; a WebSocket-caused one stops both", () => {
    const udp = withBan(NO_BAN, scopeOf("udp"), NOW + 300_000);
    expect(bannedUntil(udp, "udp", NOW)).toBe(NOW + 300_000);
    expect(bannedUntil(udp, "ws", NOW)).toBeUndefined();
    expect(bannedUntil(udp, "wss", NOW)).toBeUndefined();
    const all = withBan(udp, scopeOf("ws"), NOW + 100_000);
    expect(bannedUntil(all, "ws", NOW)).toBe(NOW + 100_000);
    // The later end of the two applies to UDP.
    expect(bannedUntil(all, "udp", NOW)).toBe(NOW + 300_000);
    expect(bannedUntil(all, "ws", NOW + 100_000)).toBeUndefined();
  });
});

describe("BanDirectory and a shard's DirectoryCopy", () => {
  it("a shard learns a ban, a watch and a lift from the changes since its last look", () => {
    const dir = new BanDirectory({ epoch: "e1" });
    const copy = new DirectoryCopy();
    expect(copy.apply(dir.changes(undefined, 0, NOW), NOW)).toEqual({ banned: [], lifted: [] });
    dir.record("192.0.2.1", { ban: NOW + 300_000 }, NOW);
    dir.record("192.0.2.2", { watch: NOW + 1_200_000 }, NOW);
    const first = dir.changes(copy.position.epoch, copy.position.seq, NOW);
    expect(first.full).toBe(false);
    expect(copy.apply(first, NOW)).toEqual({ banned: ["192.0.2.1"], lifted: [] });
    expect(copy.bannedUntil("192.0.2.1", NOW)).toBe(NOW + 300_000);
    expect(copy.watched("192.0.2.2", NOW)).toBe(true);
    // Nothing new: an empty answer.
    expect(dir.changes(copy.position.epoch, copy.position.seq, NOW).rows).toEqual([]);
    dir.record("192.0.2.1", { lift: true, until: NOW + 300_000 }, NOW + 1);
    expect(copy.apply(dir.changes(copy.position.epoch, copy.position.seq, NOW + 1), NOW + 1)).toEqual({ banned: [], lifted: ["192.0.2.1"] });
    expect(copy.bannedUntil("192.0.2.1", NOW + 1)).toBeUndefined();
    // Entries end by themselves in the copy too.
    expect(copy.watched("192.0.2.2", NOW + 1_200_000)).toBe(false);
  });

  it("a record that changes nothing is not a change (the Guard's repeated watch costs no write)", () => {
    const dir = new BanDirectory({ epoch: "e1" });
    expect(dir.record("k", { watch: NOW + 10 }, NOW)).toEqual({ ban: 0, watch: NOW + 10 });
    expect(dir.record("k", { watch: NOW + 5 }, NOW)).toBeUndefined();
    expect(dir.changes("e1", 1, NOW).rows).toEqual([]);
  });

  it("a copy from another epoch (the directory restarted) or one too old for the log gets the whole table", () => {
    const dir = new BanDirectory({ epoch: "e2", capacity: 2 });
    dir.record("a", { ban: NOW + 1000 }, NOW);
    expect(dir.changes("e1", 5, NOW)).toMatchObject({ epoch: "e2", full: true, rows: [["a", NOW + 1000, 0, 0]] });
    dir.record("b", { ban: NOW + 1000 }, NOW);
    dir.record("c", { ban: NOW + 1000 }, NOW);
    // "a" was pushed out of the full table: a copy that saw nothing since change 0 starts over.
    expect(dir.changes("e2", 0, NOW).full).toBe(true);
    expect(dir.drainEvicted()).toEqual(["a"]);
    expect(dir.changes("e2", 2, NOW)).toMatchObject({ full: false, rows: [["c", NOW + 1000, 0, 0]] });
  });

  it("a full answer replaces the copy: a ban the directory forgot is forgotten by the shard", () => {
    const copy = new DirectoryCopy();
    copy.apply({ epoch: "e1", seq: 1, full: false, rows: [["a", NOW + 1000, 0, 0]] }, NOW);
    const update = copy.apply({ epoch: "e2", seq: 1, full: true, rows: [["b", NOW + 1000, 0, 0]] }, NOW);
    expect(update.banned).toEqual(["b"]);
    expect([copy.bannedUntil("a", NOW), copy.bannedUntil("b", NOW)]).toEqual([undefined, NOW + 1000]);
  });

  it("the change log stays within twice the table however often one address changes", () => {
    const dir = new BanDirectory({ epoch: "e1" });
    for (let i = 0; i < 10_000; i++) dir.record("k", { watch: NOW + 1000 + i }, NOW);
    expect(dir.size).toBe(1);
    expect((dir as unknown as { log: unknown[] }).log.length).toBeLessThanOrEqual(2 * dir.size + 64);
    expect(dir.changes("e1", 9_999, NOW).rows).toEqual([["k", 0, NOW + 1000 + 9_999, 0]]);
  });

  it("sweeps ended entries and reports their keys (their stored copies go too)", () => {
    const dir = new BanDirectory({ epoch: "e1" });
    dir.record("a", { ban: NOW + 10 }, NOW);
    dir.record("b", { ban: NOW + 1000 }, NOW);
    expect(dir.sweep(NOW + 10)).toEqual(["a"]);
    expect(dir.size).toBe(1);
  });
});

import { describe, expect, it } from "vitest";
import { AuthBlockList } from "../../../src/modules/htable/index.ts";
import type { AuthBlockVerdict } from "../../../src/modules/htable/index.ts";

function setup(options: ConstructorParameters<typeof AuthBlockList>[0] = {}) {
  let t = 1_700_000_000_000;
  const list = new AuthBlockList({ ...options, clock: () => t });
  return {
    list,
    advance: (seconds: number) => void (t += seconds * 1000),
    fail: (user: string, source: string, n: number) => {
      for (let i = 0; i < n; i++) list.recordFailure(user, source);
    },
  };
}

const ALLOW: AuthBlockVerdict = { verdict: "allow" };
const BLOCKED: AuthBlockVerdict = { verdict: "block", status: 403, reason: "Blocked Forbidden", first: true };
const ALREADY: AuthBlockVerdict = { verdict: "block", status: 403, reason: "Already Blocked Forbidden", first: false };

describe("excessive-REGISTER block (auth failures per user and source)", () => {
  it("allows a user with fewer failures than the threshold", () => {
    const { list, fail } = setup();
    fail("alice", "127.0.0.2", 29);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALLOW);
  });

  it("answers 403 Blocked Forbidden once the threshold is reached, then 403 Already Blocked Forbidden", () => {
    const { list, fail } = setup();
    fail("alice", "127.0.0.2", 30);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(BLOCKED);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALREADY);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALREADY);
  });

  it("blocks even when more failures than the threshold arrived before the check (the seed's == would not)", () => {
    const { list, fail } = setup();
    fail("alice", "127.0.0.2", 40);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(BLOCKED);
  });

  it("cannot lock a user out from elsewhere: other sources and other users are unaffected", () => {
    const { list, fail } = setup();
    fail("alice", "127.0.0.2", 40);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(BLOCKED);
    expect(list.check({ user: "alice", source: "127.0.0.3" })).toEqual(ALLOW);
    expect(list.check({ user: "bob", source: "127.0.0.2" })).toEqual(ALLOW);
  });

  it("counts an attacker rotating through one IPv6 /64 as one source", () => {
    const { list } = setup();
    for (let i = 1; i <= 30; i++) list.recordFailure("alice", `2001:db8::${i.toString(16)}`);
    expect(list.check({ user: "alice", source: "2001:db8::ffff" })).toEqual(BLOCKED);
    expect(list.check({ user: "alice", source: "2001:db8:0:1::1" })).toEqual(ALLOW);
  });

  it("holds the block for the whole window, whatever the request carries, and lifts it afterwards", () => {
    const { list, fail, advance } = setup();
    fail("alice", "127.0.0.2", 30);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(BLOCKED);
    advance(899);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALREADY);
    advance(1);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALLOW);
  });

  it("starts counting from zero after a block ends", () => {
    const { list, fail, advance } = setup();
    fail("alice", "127.0.0.2", 30);
    list.check({ user: "alice", source: "127.0.0.2" });
    advance(900);
    fail("alice", "127.0.0.2", 1);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALLOW);
  });

  it("forgets failures after the failure window passes without another failure", () => {
    const { list, fail, advance } = setup();
    fail("alice", "127.0.0.2", 29);
    advance(300);
    fail("alice", "127.0.0.2", 1);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALLOW);
  });

  it("keeps counting failures that arrive within the window of each other", () => {
    const { list, advance } = setup();
    for (let i = 0; i < 30; i++) {
      list.recordFailure("alice", "127.0.0.2");
      advance(200);
    }
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(BLOCKED);
  });

  it("is not fed by checks alone: requests that authenticate never count", () => {
    const { list } = setup({ threshold: 3 });
    for (let i = 0; i < 100; i++) expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALLOW);
  });

  it("uses the configured threshold and block time", () => {
    const { list, fail, advance } = setup({ threshold: 3, blockTime: 60 });
    fail("alice", "127.0.0.2", 3);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(BLOCKED);
    advance(60);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALLOW);
  });

  it("never blocks a call to an emergency number or an RFC 5031 sos URN", () => {
    const { list, fail } = setup();
    fail("alice", "127.0.0.2", 30);
    expect(list.check({ user: "alice", source: "127.0.0.2", ruriUser: "112" })).toEqual(ALLOW);
    expect(list.check({ user: "alice", source: "127.0.0.2", ruriUser: "911" })).toEqual(ALLOW);
    expect(list.check({ user: "alice", source: "127.0.0.2", ruriUser: "urn:service:sos.fire" })).toEqual(ALLOW);
    expect(list.check({ user: "alice", source: "127.0.0.2", ruriUser: "5551234" })).toEqual(BLOCKED);
  });

  it("takes the emergency numbers from configuration", () => {
    const { list, fail } = setup({ emergencyNumbers: ["110", "999"] });
    fail("alice", "127.0.0.2", 30);
    expect(list.check({ user: "alice", source: "127.0.0.2", ruriUser: "999" })).toEqual(ALLOW);
    expect(list.check({ user: "alice", source: "127.0.0.2", ruriUser: "112" })).toEqual(BLOCKED);
  });

  it("lets an admin unblock one user at one source", () => {
    const { list, fail } = setup();
    fail("alice", "127.0.0.2", 30);
    list.check({ user: "alice", source: "127.0.0.2" });
    list.unblock("alice", "127.0.0.2");
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALLOW);
  });

  it("does not confuse users whose names contain the key separators", () => {
    const { list, fail } = setup({ threshold: 2 });
    fail("a|b", "127.0.0.2", 2);
    expect(list.check({ user: "a", source: "127.0.0.2" })).toEqual(ALLOW);
    expect(list.check({ user: "a|b", source: "127.0.0.2" })).toEqual(BLOCKED);
  });
});

describe("the block list's memory is bounded without letting an attacker buy its blocks back", () => {
  it("failures for N+1 other names push out the oldest count only; a block stays", () => {
    const { list, fail } = setup({ threshold: 3, maxItems: 100 });
    fail("alice", "127.0.0.2", 3);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(BLOCKED);
    fail("bob", "127.0.0.2", 2);
    for (let i = 0; i <= 100; i++) fail(`spray${i}`, "127.0.0.2", 1);
    expect(list.counts.size).toBe(100);
    expect(list.counts.stats().evicted).toBe(2);
    // bob's two failures went with the oldest counts; alice's block did not.
    fail("bob", "127.0.0.2", 1);
    expect(list.check({ user: "bob", source: "127.0.0.2" })).toEqual(ALLOW);
    expect(list.check({ user: "alice", source: "127.0.0.2" })).toEqual(ALREADY);
  });

  it("a source with a full block table is refused for every user until blocks expire", () => {
    const { list, fail, advance } = setup({ threshold: 1, maxItems: 3, blockTime: 60 });
    for (const user of ["u1", "u2", "u3"]) {
      fail(user, "127.0.0.2", 1);
      expect(list.check({ user, source: "127.0.0.2" })).toEqual(BLOCKED);
    }
    expect(list.check({ user: "u4", source: "127.0.0.2" })).toEqual(ALREADY);
    expect(list.check({ user: "u1", source: "127.0.0.2" })).toEqual(ALREADY);
    expect(list.size).toBe(3);
    advance(61);
    expect([list.expire(), list.size, list.live]).toEqual([3, 0, false]);
    expect(list.check({ user: "u4", source: "127.0.0.2" })).toEqual(ALLOW);
  });
});

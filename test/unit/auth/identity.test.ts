import { describe, expect, it } from "vitest";
import { checkIdentity, createAuth, realmOf, replyFor } from "../../../src/modules/auth/index.ts";
import { md5Hex } from "../../../src/modules/auth/md5.ts";
import { jssipAnswer, parseCredentials } from "./clients.ts";

describe("realm", () => {
  it("is the configured realm when there is one", () => {
    expect(realmOf({ method: "REGISTER", fromHost: "a.example", toHost: "b.example" }, "sipedge")).toBe("sipedge");
  });

  it("is the To host for REGISTER and the From host otherwise, as Kamailio derives an empty realm", () => {
    expect(realmOf({ method: "REGISTER", fromHost: "a.example", toHost: "B.Example" })).toBe("b.example");
    expect(realmOf({ method: "INVITE", fromHost: "A.example", toHost: "b.example" })).toBe("a.example");
  });
});

describe("authenticated user must be the From user (To user for REGISTER)", () => {
  const auth = { username: "alice", realm: "localhost" };

  it("accepts alice registering alice and alice calling from alice", () => {
    expect(checkIdentity({ method: "REGISTER", fromUser: "x", fromHost: "localhost", toUser: "alice", toHost: "localhost" }, auth)).toEqual({ ok: true });
    expect(checkIdentity({ method: "INVITE", fromUser: "alice", fromHost: "localhost", toUser: "bob", toHost: "localhost" }, auth)).toEqual({ ok: true });
  });

  it("refuses alice registering bob's AOR or calling as bob (403)", () => {
    expect(checkIdentity({ method: "REGISTER", fromUser: "alice", fromHost: "localhost", toUser: "bob", toHost: "localhost" }, auth)).toEqual({ ok: false, code: "user-mismatch" });
    expect(checkIdentity({ method: "INVITE", fromUser: "bob", fromHost: "localhost", toUser: "alice", toHost: "localhost" }, auth)).toEqual({ ok: false, code: "user-mismatch" });
    expect(replyFor("www", "user-mismatch")).toEqual({ status: 403, reason: "Forbidden", challenge: undefined });
  });

  it("compares user parts case-sensitively and hosts without case", () => {
    expect(checkIdentity({ method: "INVITE", fromUser: "Alice", fromHost: "localhost", toHost: "x" }, auth).ok).toBe(false);
    expect(checkIdentity({ method: "INVITE", fromUser: "alice", fromHost: "LocalHost", toHost: "x" }, auth).ok).toBe(true);
  });

  it("refuses a From host outside the realm unless it is one of the realm's hosts", () => {
    const parties = { method: "INVITE", fromUser: "alice", fromHost: "127.0.0.1", toHost: "x" };
    expect(checkIdentity(parties, auth).ok).toBe(false);
    expect(checkIdentity(parties, auth, (h) => h === "localhost" || h === "127.0.0.1").ok).toBe(true);
  });

  it("with a user@domain digest username, requires that domain as the URI host", () => {
    const withDomain = { username: "alice@example.com", realm: "example.com" };
    expect(checkIdentity({ method: "INVITE", fromUser: "alice", fromHost: "example.com", toHost: "x" }, withDomain).ok).toBe(true);
    expect(checkIdentity({ method: "INVITE", fromUser: "alice", fromHost: "evil.example", toHost: "x" }, withDomain).ok).toBe(false);
  });

  it("authCheck authorizes and then refuses a REGISTER for someone else's AOR as user-mismatch", async () => {
    const a = createAuth({ secrets: { current: "k" }, lookup: () => ({ ha1: md5Hex("alice:localhost:pw") }) });
    const challenge = a.wwwChallenge("localhost");
    const header = jssipAnswer(challenge.values, { username: "alice", password: "pw" }, { method: "REGISTER", ruri: "sip:localhost" })!;
    const parties = { method: "REGISTER", fromUser: "bob", fromHost: "localhost", toUser: "bob", toHost: "localhost" };
    const result = await a.authCheck({ credentials: parseCredentials(header), method: "REGISTER", realm: "localhost", parties });
    expect(result).toEqual({ ok: false, code: "user-mismatch", username: "alice" });
  });
});

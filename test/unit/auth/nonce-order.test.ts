import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { computeResponse, type DigestCredentials } from "../../../src/modules/auth/digest.ts";
import { createAuth, type Auth } from "../../../src/modules/auth/index.ts";
import { md5Hex } from "../../../src/modules/auth/md5.ts";
import { jssipAnswer, nonceOf, parseCredentials } from "./clients.ts";

// The nonce-count table under more new nonces than it holds (4,096 per object), through the
// module's public face: challenges issued, answered by a client that knows the password, and
// judged by wwwAuthorize, with the real signer and table.

const T0 = Date.UTC(2026, 11, 7, 1, 0, 0);
const REALM = "sip.example.test";
const FLOW = "3.sFLOW-1";
const HA1 = md5Hex(`alice:${REALM}:wonderland`);
const REGISTER = { method: "REGISTER", ruri: `sip:${REALM}` };

function edge(start = T0, secret = "shared-secret") {
  let now = start;
  const auth = createAuth({ secrets: { current: secret }, lookup: ({ user }) => (user === "alice" ? { ha1: HA1 } : undefined), clock: () => now });
  return { auth, at: (ms: number) => (now = ms) };
}

/** The credentials a client computes for `nonce` (MD5, qop=auth) and count `nc`. */
function answer(nonce: string, nc = 1): DigestCredentials {
  const base = { algorithm: "MD5" as const, ha1: HA1, nonce, method: "REGISTER", uri: `sip:${REALM}`, qop: "auth" as const, nc: nc.toString(16).padStart(8, "0"), cnonce: `c${nc}` };
  return { scheme: "Digest", username: "alice", realm: REALM, ...base, response: computeResponse(base) };
}

function challengeNonce(auth: Auth, bind = FLOW): string {
  return nonceOf(auth.wwwChallenge(REALM, { bind }).values.at(-1)!);
}

const authorize = (auth: Auth, credentials: DigestCredentials, bind = FLOW) => auth.wwwAuthorize({ credentials, method: "REGISTER", realm: REALM, bind });

describe("nonce-count table above its capacity of new nonces per second", () => {
  it("accepts each of 20,000 nonces issued within one second once, and still refuses every replay", async () => {
    const { auth, at } = edge();
    at(T0 + 100);
    const nonces = Array.from({ length: 20_000 }, () => challengeNonce(auth));
    at(T0 + 900); // the same second: the old watermark (whole expiry seconds) refused all but 4,097
    let accepted = 0;
    for (const nonce of nonces) if ((await authorize(auth, answer(nonce))).ok) accepted++;
    expect(accepted).toBe(20_000);
    // The first 15,904 were evicted: a replay of any of them is refused, never accepted.
    for (const i of [0, 1, 7_777, 15_903]) expect(await authorize(auth, answer(nonces[i]!))).toMatchObject({ ok: false, code: "stale-nonce" });
    // The 4,096 newest are remembered: the same count again is a replay, the next count is not.
    for (const i of [15_904, 19_999]) expect(await authorize(auth, answer(nonces[i]!))).toMatchObject({ ok: false, code: "nonce-reused" });
    expect(await authorize(auth, answer(nonces[19_999]!, 2))).toMatchObject({ ok: true });
  });

  it("refuses a nonce answered after 4,096 nonces issued later were first used, and its retry with a fresh nonce succeeds", async () => {
    const { auth } = edge();
    const slow = challengeNonce(auth);
    const quick = challengeNonce(auth);
    const later = Array.from({ length: 4_095 }, () => challengeNonce(auth));
    expect((await authorize(auth, answer(quick))).ok).toBe(true);
    for (const nonce of later) expect((await authorize(auth, answer(nonce))).ok).toBe(true);
    // 4,096 first uses since `quick`, nothing evicted yet: `slow`, issued before them all, is
    // accepted (and its entry evicts quick's, the oldest: the watermark is quick's serial).
    expect((await authorize(auth, answer(slow))).ok).toBe(true);
    // Once `quick2` has been used and then 4,096 others, its entry is evicted, and `slow2`, issued
    // just before it and never used, can no longer be told from an evicted nonce.
    const slow2 = challengeNonce(auth);
    const quick2 = challengeNonce(auth);
    for (const nonce of [quick2, ...Array.from({ length: 4_096 }, () => challengeNonce(auth))]) expect((await authorize(auth, answer(nonce))).ok).toBe(true);
    expect(await authorize(auth, answer(slow2))).toMatchObject({ ok: false, code: "stale-nonce" });
    expect((await authorize(auth, answer(challengeNonce(auth)))).ok).toBe(true);
  });
});

describe("nonces of another signer with the same secret", () => {
  it("are stale in an object that did not issue them: another shard, or this one restarted with its clock behind", async () => {
    const issuer = edge(T0 + 60_000);
    const nonce = challengeNonce(issuer.auth, "");
    expect((await authorize(issuer.auth, answer(nonce), "")).ok).toBe(true);
    // The same request replayed where the table never saw it: an unbound nonce verifies in any
    // object with the secret. Started earlier, neither a clock nor an empty table can tell.
    for (const other of [edge(T0), edge(T0 + 60_000), edge(T0 + 120_000)]) {
      expect(await authorize(other.auth, answer(nonce), "")).toMatchObject({ ok: false, code: "stale-nonce" });
      expect((await authorize(other.auth, answer(challengeNonce(other.auth, ""), 1), "")).ok).toBe(true);
    }
  });

  it("are accepted anywhere with the secret when nc_enabled is off (no table to keep in step)", async () => {
    const issuer = edge();
    const nonce = challengeNonce(issuer.auth);
    const other = createAuth({ secrets: { current: "shared-secret" }, lookup: () => ({ ha1: HA1 }), ncEnabled: false, clock: () => T0 });
    expect((await authorize(other, answer(nonce))).ok).toBe(true);
  });
});

/**
 * A nonce as sipedge issued them before the serial (28 bytes, 38 characters):
 * expires ‖ 8 random bytes ‖ HMAC-SHA256(secret, expires ‖ random ‖ realm ‖ 0x00 ‖ bind)[0..16).
 */
function oldFormatNonce(secret: string, expires: number, bind: string): string {
  const head = Buffer.alloc(12);
  head.writeUInt32BE(expires, 0);
  randomBytes(8).copy(head, 4);
  const mac = createHmac("sha256", secret).update(head).update(`${REALM}\u0000${bind}`, "utf8").digest().subarray(0, 16);
  return Buffer.concat([head, mac]).toString("base64url");
}

describe("nonces issued before the upgrade (the 38-character format)", () => {
  it("are stale when a JsSIP client answers one correctly: it is challenged again with stale=true, not refused", async () => {
    const { auth } = edge();
    const old = oldFormatNonce("shared-secret", T0 / 1000 + 300, FLOW);
    expect(old).toHaveLength(38);
    const header = jssipAnswer([`Digest realm="${REALM}", nonce="${old}", qop="auth", algorithm=MD5`], { username: "alice", password: "wonderland" }, REGISTER)!;
    const result = await auth.wwwAuthorize({ credentials: parseCredentials(header), method: "REGISTER", realm: REALM, bind: FLOW });
    expect(result).toMatchObject({ ok: false, code: "stale-nonce", username: "alice" });
    // …while a wrong password over it is an ordinary failure, as for any nonce.
    const wrong = jssipAnswer([`Digest realm="${REALM}", nonce="${old}", qop="auth", algorithm=MD5`], { username: "alice", password: "guess" }, REGISTER)!;
    expect(await auth.wwwAuthorize({ credentials: parseCredentials(wrong), method: "REGISTER", realm: REALM, bind: FLOW })).toMatchObject({ ok: false, code: "invalid-password" });
  });
});

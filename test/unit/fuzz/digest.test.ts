import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeHa1, computeResponse, createAuth } from "../../../src/modules/auth/index.ts";
import type { DigestAlgorithm } from "../../../src/modules/auth/hash.ts";
import { formatChallenge, formatCredentials, parseChallenge, parseCredentials, type DigestCredentials } from "../../../src/sip/digest.ts";
import * as arb from "../../fuzz/arbitraries.ts";
import { FUZZ_SEED, runs } from "../../fuzz/budget.ts";

// The digest parser (src/sip/digest.ts) and the auth module behind it, fuzzed: any credential a
// client can write round-trips and verifies, and no text in an Authorization header makes either
// throw or authenticate.

const opts = (numRuns: number) => ({ numRuns: runs(numRuns), seed: FUZZ_SEED });
const NOW = 1_800_000_000_000;

function value<T>(r: { ok: true; value: T } | { ok: false; reason: string }): T {
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

function meaningful(o: object): object {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== false));
}

describe("digest credentials and challenges", () => {
  it("credentials with any username, realm and cnonce (quotes, backslashes, commas, non-ASCII) round-trip", () => {
    fc.assert(
      fc.property(arb.credentials, (c) => {
        const written: DigestCredentials = { kind: "digest", username: c.username, realm: c.realm, nonce: c.cnonce, uri: c.uri, response: "0123abcd", algorithm: c.algorithm, cnonce: c.cnonce, qop: "auth", nc: c.nc, params: new Map() };
        const parsed = value(parseCredentials(formatCredentials(written)));
        expect(parsed.kind).toBe("digest");
        if (parsed.kind !== "digest") return;
        expect([parsed.username, parsed.realm, parsed.nonce, parsed.uri, parsed.cnonce, parsed.nc, parsed.algorithm]).toEqual([c.username, c.realm, c.cnonce, c.uri, c.cnonce, c.nc, c.algorithm]);
      }),
      opts(1000),
    );
  });

  it("challenges round-trip through formatChallenge", () => {
    fc.assert(
      fc.property(arb.digestField, arb.digestField, fc.boolean(), fc.option(arb.digestField, { nil: undefined }), (realm, nonce, stale, opaque) => {
        const ch = { realm, nonce, algorithm: "SHA-256", qop: ["auth"], stale, ...(opaque === undefined ? {} : { opaque }) };
        const parsed = value(parseChallenge(formatChallenge(ch)));
        expect(parsed).toEqual({ ...ch, ...(stale ? {} : { stale: undefined }) });
      }),
      opts(500),
    );
  });

  it("a client that knows the password authenticates, whatever its name and realm contain; a wrong password never does", async () => {
    await fc.assert(
      fc.asyncProperty(arb.credentials, async (c) => {
        const auth = createAuth({ secrets: { current: "s" }, lookup: () => ({ password: c.password }), calculateHa1: true, clock: () => NOW });
        const challenge = value(parseChallenge(auth.wwwChallenge(c.realm).values[0]!));
        const algorithm = c.algorithm as DigestAlgorithm;
        const hash = algorithm.startsWith("SHA-256") ? "SHA-256" : "MD5";
        const answer = (password: string): DigestCredentials => {
          const response = computeResponse({ algorithm, ha1: computeHa1(hash, c.username, c.realm, password), nonce: challenge.nonce, method: c.method, uri: c.uri, qop: "auth", nc: c.nc, cnonce: c.cnonce });
          return value(parseCredentials(formatCredentials({ kind: "digest", username: c.username, realm: c.realm, nonce: challenge.nonce, uri: c.uri, response, algorithm, cnonce: c.cnonce, qop: "auth", nc: c.nc, params: new Map() }))) as DigestCredentials;
        };
        const wrong = await auth.wwwAuthorize({ credentials: [answer(c.password + "x")], method: c.method, realm: c.realm });
        expect(wrong.ok).toBe(false);
        const right = await auth.wwwAuthorize({ credentials: [answer(c.password)], method: c.method, realm: c.realm });
        expect(right).toMatchObject({ ok: true, username: c.username });
      }),
      opts(300),
    );
  });

  it("no Authorization or WWW-Authenticate text makes the parser or the auth module throw, or authenticate", async () => {
    const auth = createAuth({ secrets: { current: "s" }, lookup: () => ({ password: "pw" }), calculateHa1: true, clock: () => NOW });
    const nonce = value(parseChallenge(auth.proxyChallenge("r").values[0]!)).nonce;
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 120 }),
      fc.tuple(fc.constantFrom("Digest ", "digest  ", "Bearer ", "NoOneKnowsThisScheme "), fc.array(fc.tuple(fc.constantFrom("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce", "algorithm", "opaque", "username*", "userhash", "x"), fc.oneof(arb.token, fc.string({ maxLength: 12 }).map((s) => `"${s}"`), fc.constant(`"${nonce}"`))), { maxLength: 10 })).map(
        ([scheme, ps]) => scheme + ps.map(([k, v]) => `${k}=${v}`).join(", "),
      ),
    );
    await fc.assert(
      fc.asyncProperty(text, async (t) => {
        const challenge = parseChallenge(t);
        // stale=false and userhash=false are the defaults, which formatChallenge leaves out.
        if (challenge.ok) expect(meaningful(value(parseChallenge(formatChallenge(challenge.value))))).toEqual(meaningful(challenge.value));
        const parsed = parseCredentials(t);
        const result = await auth.proxyAuthorize({ credentials: parsed.ok ? [parsed.value] : [], method: "INVITE", realm: "r" });
        expect(result.ok).toBe(false);
      }),
      opts(800),
    );
  });
});

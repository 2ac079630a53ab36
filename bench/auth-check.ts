/**
 * The JavaScript of one REGISTER's digest check, without the route and the runtime: parsing the
 * Authorization value and `auth.authCheck` (subscriber lookup served from memory, H(A1) stored,
 * the response's MD5s, the nonce's HMAC-SHA256 verification, the nonce-count check, the
 * identity check), on credentials a client built for fresh nonces of this signer.
 *
 *   npm run bench:auth            (node --experimental-strip-types bench/auth-check.ts)
 *   ROUNDS=9 CHECKS=4000 npm run bench:auth
 *
 * Every nonce is checked once (nc 00000001), as a registering client presents it, in the order
 * they were issued: the nonce-count table (4,096 per object) evicts on every check from the
 * second round on, and accepts them all (its watermark is the evicted nonce's serial).
 */
import { createAuth } from "../src/modules/auth/index.ts";
import { md5Hex } from "../src/modules/auth/md5.ts";
import { parseCredentials } from "../src/sip/digest.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 9);
const CHECKS = Number(process.env.CHECKS ?? 4000);
const REALM = "localhost";
const USER = "user0001";
const URI = `sip:${REALM}`;
const FLOW = "shard1.flow1";
const ha1 = md5Hex(`${USER}:${REALM}:pw`);
const auth = createAuth({ secrets: { current: "bench-secret" }, lookup: () => ({ ha1 }) });
const parties = { method: "REGISTER", fromUser: USER, fromHost: REALM, toUser: USER, toHost: REALM };

/** Authorization values for `n` fresh nonces (the client's work, outside the timed loop). */
function credentials(n: number): string[] {
  const out: string[] = [];
  const ha2 = md5Hex(`REGISTER:${URI}`);
  for (let i = 0; i < n; i++) {
    const challenge = auth.wwwChallenge(REALM, { bind: FLOW }).values.find((v) => v.includes("MD5"))!;
    const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
    const cnonce = `c${i.toString(36)}`;
    const response = md5Hex(`${ha1}:${nonce}:00000001:${cnonce}:auth:${ha2}`);
    out.push(`Digest username="${USER}", realm="${REALM}", nonce="${nonce}", uri="${URI}", response="${response}", algorithm=MD5, cnonce="${cnonce}", qop=auth, nc=00000001`);
  }
  return out;
}

const perCheck: number[] = [];
for (let round = 0; round < ROUNDS + 2; round++) {
  const values = credentials(CHECKS);
  let ok = 0;
  const t0 = process.cpuUsage();
  for (const value of values) {
    const parsed = parseCredentials(value);
    const result = await auth.authCheck({ credentials: parsed.ok ? [parsed.value] : [], method: "REGISTER", realm: REALM, bind: FLOW, parties });
    if (result.ok) ok++;
  }
  const t = process.cpuUsage(t0);
  if (ok !== CHECKS) throw new Error(`round ${round}: ${CHECKS - ok} of ${CHECKS} checks failed`);
  if (round >= 2) perCheck.push((t.user + t.system) / CHECKS); // two warm-up rounds
}
perCheck.sort((a, b) => a - b);
const median = perCheck[Math.floor(perCheck.length / 2)]!;
console.log(`parse + authCheck: ${median.toFixed(2)} µs CPU per check (median of ${ROUNDS} rounds of ${CHECKS}; min ${perCheck[0]!.toFixed(2)}, max ${perCheck.at(-1)!.toFixed(2)})`);

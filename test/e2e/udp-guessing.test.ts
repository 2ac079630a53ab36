// Issues 5 and 8: password guessing over UDP through the bridge, with our own correct digest
// client, against the shipped settings (pike on) on a deployment's topology (sip.example.test, no
// aliases, the bridge on 127.0.0.9). Registrations belong to WebSocket clients; over UDP only
// gateways (dispatcher destinations) and trusted peers reach the edge, and a UDP source can be
// forged. So a REGISTER from any other UDP source is refused with 403 before any digest: the
// guesser never gets a nonce to compute with, a correct digest over a made-up nonce changes
// nothing, and a guesser that keeps going is banned by pike for UDP only, so a forged source can
// neither feed the excessive-REGISTER block of a user at somebody else's address nor ban the
// WebSocket users there.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../scripts/stack.mjs";
import { parseConfig } from "../../src/config.ts";
import { SipUa, header, parseChallenge, type SipMessage } from "../helpers/sip-ua.ts";
import { UdpUa, bridgeTarget, type UdpTarget } from "../helpers/udp-ua.ts";

const PASSWORD = "pw"; // seeded users user0000..user0999 (src/provisioning/seed.ts)
const TOKEN = "udp-guessing-token";
const DOMAIN = "sip.example.test";
// A low auth-block threshold, so that a block fed by these guesses would show.
const VARS = { ADMIN_TOKEN: TOKEN, LOG_LEVEL: "error", SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", AUTH_BLOCK_THRESHOLD: "5", CONNECTION_SHARDS: "2" };
const { pike } = parseConfig(VARS).security;
const UNIT_MS = pike.samplingTimeUnit * 1000;
const MARGIN_MS = 1000;

/** What the UDP side answered: status, reason and any challenge, or "nothing". */
const shape = (r: SipMessage | undefined) => (r === undefined ? "nothing" : `${r.status} ${r.reason} ${header(r, "www-authenticate") ?? ""}`.trim());

async function udpBans(stack: Stack, ip: string): Promise<{ all?: number; udp?: number }> {
  const res = await fetch(`${stack.url}/admin/guard/${ip}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return ((await res.json()) as { bans: { all?: number; udp?: number } }).bans;
}

describe("password guessing over UDP through the bridge, pike on", () => {
  let stack: Stack;
  let target: UdpTarget;
  beforeAll(async () => {
    stack = await startStack({ port: 0, build: false, vars: VARS, bridge: { listen: "127.0.0.9:0" } });
    target = bridgeTarget(stack.bridge?.address);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("a REGISTER from a UDP source that is no gateway is refused with 403 before any challenge, right password or not, and the guesser is banned for UDP", async () => {
    const ua = await UdpUa.bind("127.0.0.40", target);
    const fresh = await UdpUa.bind("127.0.0.42", target);
    try {
      const first = await ua.register("user0700", DOMAIN, 1);
      expect(shape(first)).toBe("403 Forbidden");
      // Existing and unknown users look the same.
      expect(shape(await ua.register("nobody-here", DOMAIN, 2))).toBe("403 Forbidden");
      // Forty guesses at a guesser's pace (all at once) with correctly computed digests over
      // nonces it made up (it was never given one), and the right password: those answered are
      // refused the same way, and pike bans the source (16 per 2 s) before the burst is over.
      const guess = (i: number, password: string) => ua.register("user0700", DOMAIN, i + 3, { password, nonce: randomBytes(16).toString("hex"), realm: DOMAIN }, UNIT_MS + MARGIN_MS);
      const answers = (await Promise.all([...Array.from({ length: 40 }, (_, i) => guess(i, `guess${i}`)), guess(40, PASSWORD)])).map(shape);
      expect(new Set(answers)).toEqual(new Set(["403 Forbidden", "nothing"]));
      // The silence is the ban, for UDP only: the guesser's next request gets nothing while a
      // fresh UDP source is still answered.
      const bans = await udpBans(stack, "127.0.0.40");
      expect(bans.udp).toBeGreaterThan(Date.now());
      expect(bans.all).toBeUndefined();
      const [banned, other] = await Promise.all([ua.register("user0700", DOMAIN, 60, undefined, UNIT_MS), fresh.register("user0700", DOMAIN, 1, undefined, UNIT_MS)]);
      expect([shape(banned), shape(other)]).toEqual(["nothing", "403 Forbidden"]);
    } finally {
      ua.close();
      fresh.close();
    }
  });

  it("guesses over UDP from an address neither block the user there nor ban its WebSocket (a UDP source can be forged)", async () => {
    const ua = await UdpUa.bind("127.0.0.41", target);
    try {
      // As a real guesser would: take the nonce of a challenge when one comes (none does), else
      // make one up; ten rounds of guesses, past the auth-block threshold (5) and pike's ban.
      let answered = 0;
      for (let round = 0; round < 10; round++) {
        const asked = await ua.register("user0701", DOMAIN, 4 * round + 1, undefined, MARGIN_MS);
        if (asked !== undefined) answered++;
        const challenge = asked === undefined ? new Map<string, string>() : parseChallenge(header(asked, "www-authenticate") ?? "");
        const nonce = challenge.get("nonce") ?? randomBytes(16).toString("hex");
        const realm = challenge.get("realm") ?? DOMAIN;
        await Promise.all([1, 2, 3].map((k) => ua.register("user0701", DOMAIN, 4 * round + 1 + k, { password: `guess${round}.${k}`, nonce, realm }, MARGIN_MS)));
      }
      expect(answered).toBeGreaterThan(0);
      expect((await udpBans(stack, "127.0.0.41")).udp).toBeGreaterThan(Date.now());
    } finally {
      ua.close();
    }
    // The real user at that address, over WebSocket, registers as usual, and stays registered.
    const real = await SipUa.connect(stack.wsUrl, { user: "user0701", password: PASSWORD, domain: DOMAIN, localAddress: "127.0.0.41" });
    expect((await real.register()).response.status).toBe(200);
    await new Promise((r) => setTimeout(r, UNIT_MS + MARGIN_MS));
    expect((await real.register()).response.status).toBe(200);
    await real.close();
  }, 60_000);
});

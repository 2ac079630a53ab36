import { describe, expect, it } from "vitest";
import { checkConfig, checkSecretNames, checkSecretValues, checkSubscribers, demoAccounts } from "../../../scripts/deploy-checks.mjs";
import { computeHa1 } from "../../../src/modules/auth/digest.ts";

const GOOD_ID = "4b1e2c9a-1d2e-4f5a-9b8c-7d6e5f4a3b2c";
const good = { vars: { SIP_DOMAIN: "sip.example.com", SIP_ALIASES: "" }, d1_databases: [{ binding: "DB", database_id: GOOD_ID }] };

describe("npm run deploy refuses the demo configuration", () => {
  it("accepts a configuration with a real D1 id, a domain name and no loopback aliases", () => {
    expect(checkConfig(good)).toEqual([]);
  });

  it("names the placeholder D1 id, a localhost domain, a loopback alias and a secret kept in [vars]", () => {
    const problems = checkConfig({
      vars: { SIP_DOMAIN: "localhost", SIP_ALIASES: "edge.example.com, 127.0.0.1", ADMIN_TOKEN: "x" },
      d1_databases: [{ binding: "DB", database_id: "00000000-0000-0000-0000-000000000000" }],
    });
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/database_id is the placeholder/);
    expect(problems[1]).toMatch(/SIP_DOMAIN is "localhost"/);
    expect(problems[2]).toMatch(/SIP_ALIASES contains the loopback "127\.0\.0\.1"/);
    expect(problems[3]).toMatch(/ADMIN_TOKEN is a secret and must not be a var/);
    expect(checkConfig({ vars: { SIP_DOMAIN: "127.0.0.1" } })).toEqual(["wrangler.toml: no D1 database bound as DB", expect.stringMatching(/SIP_DOMAIN is "127\.0\.0\.1"/)]);
  });

  it("refuses demo, short and patterned secret values, in each token of a rotation list", () => {
    expect(checkSecretValues({ ADMIN_TOKEN: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c" })).toEqual([]);
    const problems = checkSecretValues({ ADMIN_TOKEN: "changeme", BRIDGE_SECRET: "short-one", NONCE_SECRET: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", METRICS_TOKEN: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c,tok123" });
    expect(problems).toEqual([
      expect.stringMatching(/^ADMIN_TOKEN: a demo value/),
      expect.stringMatching(/^BRIDGE_SECRET: 9 characters; at least 24/),
      expect.stringMatching(/^NONCE_SECRET: too few distinct characters/),
      expect.stringMatching(/^METRICS_TOKEN: a demo value \("tok123"\)/),
    ]);
  });

  it("requires the three secrets to be set in the account", () => {
    expect(checkSecretNames(["ADMIN_TOKEN", "BRIDGE_SECRET", "NONCE_SECRET", "ROUTE_SECRET"])).toEqual([]);
    expect(checkSecretNames(["ADMIN_TOKEN"])).toEqual([expect.stringContaining("BRIDGE_SECRET is not set"), expect.stringContaining("NONCE_SECRET is not set"), expect.stringContaining("ROUTE_SECRET is not set")]);
  });

  it("finds demo subscribers by their demo password or its HA1, and leaves real accounts with demo names alone", () => {
    const rows = [
      { username: "alice", domain: "sip.example.com", password: "alice123", ha1: "" },
      { username: "bob", domain: "sip.example.com", password: "", ha1: computeHa1("MD5", "bob", "sip.example.com", "bob123") },
      { username: "carol", domain: "sip.example.com", password: "", ha1: computeHa1("MD5", "carol", "sip.example.com", "a-real-password") },
      { username: "user0042", domain: "sip.example.com", password: "pw", ha1: "" },
      { username: "user0043", domain: "sip.example.com", password: "strong-password-here", ha1: "" },
    ];
    expect(demoAccounts(rows)).toEqual(["alice@sip.example.com", "bob@sip.example.com", "user0042@sip.example.com"]);
    expect(checkSubscribers(rows)[0]).toMatch(/demo subscribers with their demo passwords \(alice@sip\.example\.com, bob@sip\.example\.com, user0042@sip\.example\.com\)/);
    expect(checkSubscribers(rows.slice(2, 3))).toEqual([]);
  });
});

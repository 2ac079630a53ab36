import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config.ts";

describe("configuration from wrangler.toml [vars]", () => {
  it("takes Kamailio's defaults when nothing is set, but caps bindings per AOR at 10 (Kamailio: unlimited)", () => {
    const config = parseConfig({});
    expect(config.domain).toBe("localhost");
    expect(config.maxMessageSize).toBe(65535);
    expect(config.registrar).toEqual({ defaultExpires: 3600, minExpires: 60, minExpiresMode: 0, maxExpires: 0, maxContacts: 10 });
    expect([config.security.maxCallsPerUser, config.security.callLimitTimeout]).toEqual([0, 7200]);
    expect(config.tm).toEqual({ frTimer: 30_000, frInvTimer: 181_000 });
    expect(config.dispatcher.probingMode).toBe(1);
    expect(config.rtpengine).toEqual({ timeoutMs: 3000 });
    expect(config.phone).toEqual({ iceServers: [], turnTtl: 3600 });
    expect(config.keepalive).toEqual({ intervalMs: 30_000, timeoutMs: 10_000, idleMs: 60_000 });
    expect(config.subscriberCacheTtl).toBe(60);
    expect(parseConfig({ SUBSCRIBER_CACHE_TTL: "900" }).subscriberCacheTtl).toBe(900);
  });

  it("stores a transaction pending 2 s by default, after TRANSACTION_STORE_AFTER seconds, or never with off", () => {
    expect(parseConfig({}).transactionStoreAfterMs).toBe(2000);
    expect(parseConfig({ TRANSACTION_STORE_AFTER: "15" }).transactionStoreAfterMs).toBe(15_000);
    expect(parseConfig({ TRANSACTION_STORE_AFTER: " OFF " }).transactionStoreAfterMs).toBeUndefined();
  });

  it("takes the WebSocket liveness timers in seconds, and 0 turns pinging and the idle close off", () => {
    expect(parseConfig({ WS_KEEPALIVE_INTERVAL: "2", WS_KEEPALIVE_TIMEOUT: "3", WS_IDLE_TIMEOUT: "4" }).keepalive).toEqual({ intervalMs: 2000, timeoutMs: 3000, idleMs: 4000 });
    expect(parseConfig({ WS_KEEPALIVE_INTERVAL: "0", WS_IDLE_TIMEOUT: "0" }).keepalive).toMatchObject({ intervalMs: 0, idleMs: 0 });
  });

  it("takes the phone's ICE servers as stun:/turn:/turns: URIs", () => {
    expect(parseConfig({ PHONE_ICE_SERVERS: " stun:stun.example.test:3478, turn:[2001:db8::1]:3478?transport=tcp ,turns:t.example.test:5349" }).phone.iceServers).toEqual([
      "stun:stun.example.test:3478",
      "turn:[2001:db8::1]:3478?transport=tcp",
      "turns:t.example.test:5349",
    ]);
  });

  for (const [field, value, reason] of [
    ["MAX_MESSAGE_SIZE", "abc", /expected a positive integer, got "abc"/],
    ["LOG_LEVEL", "loud", /expected debug, info, warn or error/],
    ["MIN_EXPIRES_MODE", "2", /expected 0 .* or 1/],
    ["HANDLE_LOST_FLOWS", "maybe", /expected 1\/0, true\/false or yes\/no/],
    ["DS_PROBING_MODE", "7", /expected 0, 1, 2 or 3/],
    ["DS_PING_REPLY_CODES", "class=9", /reply class/],
    ["RTPENGINE_TIMEOUT", "0", /expected a positive integer/],
    ["PHONE_ICE_SERVERS", "stun:ok.test,https://turn.test", /not a stun:, stuns:, turn: or turns: URI: "https:\/\/turn.test"/],
    ["TURN_TTL", "-5", /expected a positive integer/],
    ["MAX_CALLS_PER_USER", "-1", /expected a whole number/],
    ["CALL_LIMIT_TIMEOUT", "0", /expected a positive integer/],
    ["WS_KEEPALIVE_INTERVAL", "30s", /expected a whole number, got "30s"/],
    ["WS_KEEPALIVE_TIMEOUT", "0", /expected a positive integer/],
    ["WS_IDLE_TIMEOUT", "-1", /expected a whole number/],
    ["SUBSCRIBER_CACHE_TTL", "0", /expected a positive integer/],
    ["TRANSACTION_STORE_AFTER", "never", /expected a whole number of seconds or off, got "never"/],
  ] as const) {
    it(`refuses a bad ${field} with an error naming the file and the field`, () => {
      let error: unknown;
      try {
        parseConfig({ [field]: value });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(new RegExp(`^wrangler\\.toml \\[vars\\]: ${field}: `));
      expect((error as Error).message).toMatch(reason);
    });
  }
});

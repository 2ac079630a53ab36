import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../bridge/config.ts";

describe("bridge settings", () => {
  it("defaults: edge on 127.0.0.1:8787, UDP on 127.0.0.1:5060, advertise = listen, id hostname-pid", () => {
    const result = parseConfig(["--secret", "s3"], {});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value).toMatchObject({
      edge: "ws://127.0.0.1:8787",
      edgeHttp: "http://127.0.0.1:8787",
      secret: "s3",
      listen: { address: "127.0.0.1", port: 5060 },
      advertise: undefined,
      logLevel: "info",
      socketBufferBytes: 4 * 1024 * 1024,
    });
    expect(result.value.id).toMatch(new RegExp(`-${process.pid}$`));
  });

  it("flags win over environment variables, and both --flag value and --flag=value work", () => {
    const env = { SIPEDGE_EDGE_URL: "https://edge.example.test", SIPEDGE_BRIDGE_SECRET: "env", SIPEDGE_BRIDGE_ID: "b1" };
    const result = parseConfig(["--secret=flag", "--listen", "[::1]:5070", "--advertise", "gw-side.example.test:5070"], env);
    expect(result).toMatchObject({
      ok: true,
      value: {
        edge: "wss://edge.example.test",
        edgeHttp: "https://edge.example.test",
        secret: "flag",
        id: "b1",
        listen: { address: "::1", port: 5070 },
        advertise: "gw-side.example.test:5070",
      },
    });
  });

  it("a bad value is refused with the flag and its variable named", () => {
    const cases: [string[], string][] = [
      [[], "--secret / SIPEDGE_BRIDGE_SECRET: required"],
      [["--secret", "s", "--listen", "localhost:5060"], "--listen / SIPEDGE_BRIDGE_LISTEN: not an IP address"],
      [["--secret", "s", "--listen", "127.0.0.1:99999"], "--listen / SIPEDGE_BRIDGE_LISTEN: invalid port"],
      [["--secret", "s", "--edge", "ftp://x"], "--edge / SIPEDGE_EDGE_URL: expected http(s)"],
      [["--secret", "s", "--advertise", "10.0.0.1"], "--advertise / SIPEDGE_BRIDGE_ADVERTISE: expected HOST:PORT"],
      [["--secret", "s", "--id", "has space"], "--id / SIPEDGE_BRIDGE_ID"],
      [["--secret", "s", "--dns", "dns.example.test"], "--dns / SIPEDGE_BRIDGE_DNS"],
      [["--secret", "s", "--log-level", "loud"], "--log-level / SIPEDGE_BRIDGE_LOG_LEVEL"],
      [["--secret", "s", "--bogus", "1"], 'unknown option "--bogus"'],
      [["--secret"], "--secret: missing value"],
    ];
    for (const [argv, message] of cases) {
      const result = parseConfig(argv, {});
      expect(result.ok, argv.join(" ")).toBe(false);
      if (!result.ok) expect(result.reason, argv.join(" ")).toContain(message);
    }
  });

  it("--rtpengine takes Kamailio's rtpengine_sock syntax; without it media requests are refused", () => {
    expect(parseConfig(["--secret", "s"], {})).toMatchObject({ ok: true, value: { rtpengine: undefined } });
    const env = { SIPEDGE_BRIDGE_RTPENGINE: "udp:127.0.0.1:2223=2 udp:127.0.0.1:2224; 1 == udp:10.0.0.5:2223", SIPEDGE_BRIDGE_RTPENGINE_TIMEOUT: "250" };
    expect(parseConfig(["--secret", "s", "--rtpengine-tries", "3", "--rtpengine-disable-time=10"], env)).toMatchObject({
      ok: true,
      value: { rtpengine: { timeoutMs: 250, tries: 3, disableMs: 10_000, sets: [{ id: 0, instances: [{ weight: 2 }, { weight: 1 }] }, { id: 1 }] } },
    });
    for (const [argv, message] of [
      [["--rtpengine", "udp:localhost:2223"], "--rtpengine / SIPEDGE_BRIDGE_RTPENGINE: expected udp:IP:PORT"],
      [["--rtpengine-timeout", "5"], "--rtpengine-timeout / SIPEDGE_BRIDGE_RTPENGINE_TIMEOUT"],
      [["--rtpengine-tries", "0"], "--rtpengine-tries / SIPEDGE_BRIDGE_RTPENGINE_TRIES"],
      [["--rtpengine-disable-time", "x"], "--rtpengine-disable-time / SIPEDGE_BRIDGE_RTPENGINE_DISABLE_TIME"],
    ] as const) {
      const result = parseConfig(["--secret", "s", ...argv], {});
      expect(result.ok ? "" : result.reason, argv.join(" ")).toContain(message);
    }
  });

  it("--dns takes loopback resolvers with ports, for tests and split-horizon setups", () => {
    expect(parseConfig(["--secret", "s", "--dns", "127.0.0.1:5353,[::1]:53"], {})).toMatchObject({
      ok: true,
      value: { dns: ["127.0.0.1:5353", "[::1]:53"] },
    });
  });
});

describe("the bridge secret from a file", () => {
  it("--secret-file reads the secret (trimmed), so it never shows in `ps`", () => {
    const files: Record<string, string> = { "/run/secrets/bridge": "s3cret\n" };
    expect(parseConfig(["--secret-file", "/run/secrets/bridge"], {}, (p) => files[p])).toMatchObject({ ok: true, value: { secret: "s3cret" } });
    expect(parseConfig([], { SIPEDGE_BRIDGE_SECRET_FILE: "/run/secrets/bridge" }, (p) => files[p])).toMatchObject({ ok: true, value: { secret: "s3cret" } });
  });

  it("an unreadable file, or a file and a secret both, is refused with the flag named", () => {
    expect(parseConfig(["--secret-file", "/nope"], {}, () => undefined)).toEqual({ ok: false, reason: '--secret-file / SIPEDGE_BRIDGE_SECRET_FILE: cannot read a secret from "/nope"' });
    const both = parseConfig(["--secret-file", "/f", "--secret", "x"], {}, () => "y");
    expect(both.ok).toBe(false);
    expect(!both.ok && both.reason).toMatch(/^--secret-file \/ SIPEDGE_BRIDGE_SECRET_FILE: give the secret once/);
  });
});

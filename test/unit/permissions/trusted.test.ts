import { describe, expect, it } from "vitest";
import { TrustedTable } from "../../../src/modules/permissions/index.ts";
import type { TrustedRow } from "../../../src/modules/permissions/index.ts";

function compile(rows: TrustedRow[]): TrustedTable {
  const t = TrustedTable.fromRows(rows);
  if (!t.ok) throw new Error(JSON.stringify(t.error));
  return t.value;
}

describe("allow_trusted", () => {
  const table = compile([
    { src_ip: "127.0.0.1", proto: "any", from_pattern: null, tag: "gateways" },
    { src_ip: "127.0.0.5", proto: "udp", from_pattern: "^sip:[0-9]+@carrier\\.example$", tag: "carrier" },
    { src_ip: "127.0.0.6", proto: "wss", from_pattern: "", tag: "webrtc-gw" },
    { src_ip: "127.0.0.7", proto: "none", tag: "disabled" },
    { src_ip: "127.0.1.0/24", proto: "TCP", tag: "pbx-net" },
  ]);

  it("trusts a source address with protocol any over every transport", () => {
    for (const proto of ["udp", "tcp", "tls", "sctp", "ws", "wss"]) {
      expect(table.allowTrusted("127.0.0.1", proto, "sip:anyone@example.com")).toEqual({ trusted: true, tag: "gateways" });
    }
  });

  it("requires the rule's protocol, in any case", () => {
    expect(table.allowTrusted("127.0.0.5", "UDP", "sip:4930123@carrier.example")).toEqual({ trusted: true, tag: "carrier" });
    expect(table.allowTrusted("127.0.0.5", "tcp", "sip:4930123@carrier.example")).toEqual({ trusted: false });
    expect(table.allowTrusted("127.0.0.6", "wss", "sip:x@y")).toEqual({ trusted: true, tag: "webrtc-gw" });
    expect(table.allowTrusted("127.0.0.6", "ws", "sip:x@y")).toEqual({ trusted: false });
  });

  it("matches the From pattern as a case-insensitive regular expression", () => {
    expect(table.allowTrusted("127.0.0.5", "udp", "sip:4930123@CARRIER.example").trusted).toBe(true);
    expect(table.allowTrusted("127.0.0.5", "udp", "sip:alice@carrier.example").trusted).toBe(false);
  });

  it("never trusts through a rule with protocol none", () => {
    expect(table.allowTrusted("127.0.0.7", "udp", "sip:x@y")).toEqual({ trusted: false });
  });

  it("trusts a source inside a CIDR rule and nobody unlisted", () => {
    expect(table.allowTrusted("127.0.1.99", "tcp", "sip:x@y")).toEqual({ trusted: true, tag: "pbx-net" });
    expect(table.allowTrusted("127.0.2.1", "tcp", "sip:x@y")).toEqual({ trusted: false });
    expect(table.allowTrusted("not-an-ip", "tcp", "sip:x@y")).toEqual({ trusted: false });
  });

  it("compares addresses, not their spelling", () => {
    expect(table.allowTrusted("::ffff:127.0.0.1", "udp", "sip:x@y").trusted).toBe(true);
  });

  it("tries rules by priority, highest first, and returns that rule's tag", () => {
    const t = compile([
      { src_ip: "127.0.0.1", proto: "any", tag: "low", priority: 1 },
      { src_ip: "127.0.0.1", proto: "udp", from_pattern: "@special", tag: "high", priority: 10 },
      { src_ip: "127.0.0.0/8", proto: "any", tag: "net", priority: 5 },
    ]);
    expect(t.allowTrusted("127.0.0.1", "udp", "sip:a@special")).toEqual({ trusted: true, tag: "high" });
    expect(t.allowTrusted("127.0.0.1", "udp", "sip:a@other")).toEqual({ trusted: true, tag: "net" });
    expect(t.allowTrusted("127.0.0.1", "tcp", "sip:a@special")).toEqual({ trusted: true, tag: "net" });
  });

  it("checks the R-URI pattern when a rule has one", () => {
    const t = compile([{ src_ip: "127.0.0.1", proto: "any", ruri_pattern: "^sip:\\+49", tag: "de" }]);
    expect(t.allowTrusted("127.0.0.1", "udp", "sip:a@b", "sip:+4930123@edge").trusted).toBe(true);
    expect(t.allowTrusted("127.0.0.1", "udp", "sip:a@b", "sip:+3312345@edge").trusted).toBe(false);
    expect(t.allowTrusted("127.0.0.1", "udp", "sip:a@b").trusted).toBe(false);
  });
});

describe("malformed trusted rows name the row and column", () => {
  it.each([
    [{ src_ip: "127.0.0.300", proto: "any" }, "src_ip"],
    [{ src_ip: "127.0.0.1", proto: "http" }, "proto"],
    [{ src_ip: "127.0.0.1", proto: "any", from_pattern: "^sip:(unclosed" }, "from_pattern"],
    [{ src_ip: "127.0.0.1", proto: "any", ruri_pattern: "[" }, "ruri_pattern"],
    [{ src_ip: "127.0.0.1", proto: "any", priority: "high" }, "priority"],
  ] as [TrustedRow, string][])("%j fails at %s", (row, field) => {
    const t = TrustedTable.fromRows([{ src_ip: "127.0.0.1", proto: "any" }, row]);
    expect(t.ok).toBe(false);
    if (!t.ok) expect(t.error).toMatchObject({ file: "trusted", line: 2, field });
  });
});

import { describe, expect, it } from "vitest";
import { compileScannerFilter, isScanner } from "../../../src/modules/scanner/index.ts";

describe("isScanner with the default agents", () => {
  it.each([
    "friendly-scanner",
    "sipvicious",
    "SIPVicious 0.3.4",
    "sipcli/v1.8",
    "VaxSIPUserAgent/3.1",
    "vaxsipuseragent/3.5",
    "pplsip",
    "Mozilla friendly-SCANNER build",
  ])("flags %j", (ua) => {
    expect(isScanner(ua)).toBe(true);
  });

  it.each([
    "JsSIP 3.13.8",
    "SIP.js/0.21.2",
    "Linphone Desktop/5.2.6 (Debian GNU/Linux 12) LinphoneCore/5.3.0",
    "Zoiper v2.10.19.5",
    "kamailio (5.8.4 (x86_64/linux))",
    "sipp",
    "Grandstream GXP2170 1.0.11.6",
  ])("lets %j through", (ua) => {
    expect(isScanner(ua)).toBe(false);
  });

  it("does not flag a request without a User-Agent", () => {
    expect(isScanner(undefined)).toBe(false);
    expect(isScanner("")).toBe(false);
  });
});

describe("compileScannerFilter", () => {
  it("takes its own list of agents, matched as literal case-insensitive substrings", () => {
    const f = compileScannerFilter({ agents: ["sundayddr", "sip-scan (x)"] });
    if (!f.ok) throw new Error(f.reason);
    expect(f.value.isScanner("SundayDDR Worm")).toBe(true);
    expect(f.value.isScanner("SIP-SCAN (X) 1.0")).toBe(true);
    expect(f.value.isScanner("sip-scan x")).toBe(false);
    expect(f.value.isScanner("friendly-scanner")).toBe(false);
  });

  it("takes a regular expression instead, searched case-insensitively", () => {
    const f = compileScannerFilter({ pattern: "^(friendly-scanner|sipcli)" });
    if (!f.ok) throw new Error(f.reason);
    expect(f.value.isScanner("SIPCLI/v1.8")).toBe(true);
    expect(f.value.isScanner("my sipcli")).toBe(false);
    const g = compileScannerFilter({ pattern: /iwar/g });
    expect(g.ok && g.value.isScanner("IWAR") && g.value.isScanner("iWar")).toBe(true);
  });

  it("reports a bad pattern or an empty list instead of throwing", () => {
    expect(compileScannerFilter({ pattern: "(" }).ok).toBe(false);
    expect(compileScannerFilter({ agents: [] })).toEqual({ ok: false, reason: "agents: the list is empty" });
  });
});

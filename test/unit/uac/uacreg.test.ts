import { describe, expect, it } from "vitest";
import { grantedExpires, kamailioFlags, minExpires, newStatus, refreshDelay, registerRequest, renderRequest, retryDelay } from "../../../src/modules/uac/reg.ts";
import { nextHopOf, redacted, regLookup, rowForDestination, rowForRealm, uacregRow } from "../../../src/modules/uac/uacreg.ts";
import type { SipResponse } from "../../../src/sip/message.ts";
import { parse, uacregRow as row } from "./harness.ts";

describe("uacreg rows", () => {
  it("a row is checked field by field, Kamailio's defaults filling what is missing", () => {
    expect(uacregRow({ l_uuid: "acct 1", r_domain: "x" }, "d")).toMatchObject({ ok: false, field: "l_uuid" });
    expect(uacregRow({ l_uuid: "a1" }, "d")).toMatchObject({ ok: false, field: "r_domain" });
    expect(uacregRow({ l_uuid: "a1", r_domain: "x", expires: "soon" }, "d")).toMatchObject({ ok: false, field: "expires" });
    expect(uacregRow({ l_uuid: "a1", r_domain: "x", expires: 60 }, "d")).toMatchObject({ ok: false, field: "r_username" });
    expect(uacregRow({ l_uuid: "a1", r_domain: "x", auth_ha1: "xyz" }, "d")).toMatchObject({ ok: false, field: "auth_ha1" });
    expect(uacregRow({ l_uuid: "a1", r_domain: "carrier.test", r_username: "u", expires: "60", auth_password: null }, "sip.example.test")).toMatchObject({
      ok: true, row: { l_uuid: "a1", l_domain: "sip.example.test", expires: 60, flags: 0, reg_delay: 0, auth_password: "" },
    });
  });

  it("the next hop is auth_proxy, else r_domain, port 5060 by default; rows match a destination by it", () => {
    expect(nextHopOf({ auth_proxy: "sip:127.0.0.20:5070;transport=udp", r_domain: "x" })).toEqual({ host: "127.0.0.20", port: 5070 });
    expect(nextHopOf({ auth_proxy: "", r_domain: "Carrier.Test" })).toEqual({ host: "carrier.test", port: 5060 });
    const rows = [row({ l_uuid: "a", r_domain: "gw.test" }), row({ l_uuid: "b", auth_proxy: "sip:127.0.0.20", l_username: "alice" }), row({ l_uuid: "c", auth_proxy: "sip:127.0.0.20" })];
    expect(rowForDestination(rows, "gw.test:5060")?.l_uuid).toBe("a");
    expect(rowForDestination(rows, "127.0.0.20:5060")?.l_uuid).toBe("b");
    expect(rowForDestination(rows, "127.0.0.20:5060", "bob")?.l_uuid).toBe("b");
    expect(rowForDestination([{ ...rows[2]!, flags: 1 }], "127.0.0.20:5060")).toBeUndefined();
    expect(rowForDestination(rows, "127.0.0.21:5060")).toBeUndefined();
  });

  it("without a row for the destination, the row of the challenge's realm (a carrier calling in from another address)", () => {
    const rows = [row({ l_uuid: "x", realm: "" }), row({ l_uuid: "y", realm: "carrier.test", flags: 1 }), row({ l_uuid: "z", realm: "carrier.test" })];
    expect(rowForRealm(rows, ["other.test", "carrier.test"])?.l_uuid).toBe("z");
    expect(rowForRealm(rows, [""])).toBeUndefined();
  });

  it("uac_reg_lookup maps a contact's user (l_uuid) to the local user; redacted rows hide passwords", () => {
    const r = row({ l_uuid: "reg-7", l_username: "bob", auth_password: "secret", auth_ha1: "0123456789abcdef0123456789abcdef" });
    expect(regLookup([r], "reg-7")).toEqual({ user: "bob", domain: "sip.example.test" });
    expect(regLookup([r], "bob")).toBeUndefined();
    expect(JSON.stringify(redacted(r))).not.toMatch(/secret|0123456789abcdef/);
  });
});

describe("uac_reg requests and timers", () => {
  const account = row({ l_uuid: "reg-7", r_username: "acct", r_domain: "carrier.test", auth_proxy: "sip:127.0.0.24" });

  it("the REGISTER names the remote account, keeps Call-ID and From tag, and its Contact's user is l_uuid at the bridge", () => {
    const status = { ...newStatus("reg-7"), cseq: 3 };
    const request = registerRequest(account, status, 600, ["Authorization", 'Digest username="acct"'])!;
    const text = renderRequest(request, { host: "127.0.0.9", port: 5060 }, "z9hG4bKuac0xabc");
    expect(text).toBe([
      "REGISTER sip:carrier.test SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKuac0xabc;rport", "Max-Forwards: 70",
      `From: <sip:acct@carrier.test>;tag=${status.fromTag}`, "To: <sip:acct@carrier.test>", `Call-ID: ${status.callId}`, "CSeq: 3 REGISTER",
      "Expires: 600", 'Authorization: Digest username="acct"', "Contact: <sip:reg-7@127.0.0.9:5060>", "Content-Length: 0", "", "",
    ].join("\r\n"));
    expect(request.dst).toBe("127.0.0.24:5060");
  });

  it("the granted time is our Contact's expires, else Expires, else what was asked; 423 gives Min-Expires", () => {
    const reply = (extra: string[]) => parse(["SIP/2.0 200 OK", "Via: SIP/2.0/UDP a;branch=z9hG4bK1", "From: <sip:a@b>;tag=1", "To: <sip:a@b>;tag=2", "Call-ID: c", "CSeq: 1 REGISTER", ...extra, "Content-Length: 0", "", ""].join("\r\n")) as SipResponse;
    expect(grantedExpires(reply(["Contact: <sip:other@x>;expires=30, <sip:reg-7@127.0.0.9:5060>;expires=90", "Expires: 10"]), "reg-7", 600)).toBe(90);
    expect(grantedExpires(reply(["Expires: 10"]), "reg-7", 600)).toBe(10);
    expect(grantedExpires(reply([]), "reg-7", 600)).toBe(600);
    expect(minExpires(reply(["Min-Expires: 1200"]), 600)).toBe(1200);
    expect(minExpires(reply(["Min-Expires: 60"]), 600)).toBeUndefined();
  });

  it("refreshes before expiry (a fifth early, at most 30 s), and backs off by doubling with jitter up to the maximum", () => {
    expect(refreshDelay(3600)).toBe(3570_000);
    expect(refreshDelay(4)).toBe(3200);
    expect([1, 2, 3, 4, 10].map((n) => retryDelay(n, 30, 1800, 0.5))).toEqual([30_000, 60_000, 120_000, 240_000, 1_800_000]);
    expect(retryDelay(1, 30, 1800, 0)).toBe(27_000);
    expect(retryDelay(1, 30, 1800, 1)).toBe(33_000);
  });

  it("Kamailio's reg_info flags", () => {
    expect(kamailioFlags({ ...newStatus("x"), state: "registered" })).toBe(20);
    expect(kamailioFlags({ ...newStatus("x"), state: "disabled" })).toBe(17);
    expect(kamailioFlags({ ...newStatus("x"), state: "registering" })).toBe(18);
  });
});

import { describe, expect, it } from "vitest";
import {
  formatIp,
  formatSubnet,
  makeSubnet,
  parseCidr,
  parseIp,
  subnetContains,
} from "../../../src/modules/permissions/ip.ts";
import type { IpAddress, Subnet } from "../../../src/modules/permissions/ip.ts";

function ip(text: string): IpAddress {
  const a = parseIp(text);
  if (a === undefined) throw new Error(`not an address: ${text}`);
  return a;
}

function subnet(text: string): Subnet {
  const c = parseCidr(text);
  if (!c.ok) throw new Error(c.reason);
  const prefix = c.prefix ?? (c.address.family === 4 ? 32 : 128);
  return makeSubnet(c.address, prefix);
}

describe("parseIp", () => {
  it("parses dotted-quad IPv4", () => {
    expect(ip("192.0.2.1")).toEqual({ family: 4, w0: 0, w1: 0, w2: 0, w3: 0xc0000201 });
    expect(ip("255.255.255.255").w3).toBe(0xffffffff);
    expect(ip("0.0.0.0").w3).toBe(0);
  });

  it.each(["256.0.0.1", "1.2.3", "1.2.3.4.5", "1.2.3.", ".1.2.3", "010.0.0.1", "1.2.3.4 ", "a.b.c.d", ""])(
    "refuses the malformed IPv4 address %j",
    (text) => {
      expect(parseIp(text)).toBeUndefined();
    },
  );

  it("parses the RFC 4291 §2.2 text forms of IPv6", () => {
    expect(formatIp(ip("2001:0DB8:0000:0000:0008:0800:200C:417A"))).toBe("2001:db8::8:800:200c:417a");
    expect(ip("::")).toEqual({ family: 6, w0: 0, w1: 0, w2: 0, w3: 0 });
    expect(ip("::1").w3).toBe(1);
    expect(formatIp(ip("ff01::101"))).toBe("ff01::101");
    expect(formatIp(ip("1:2:3:4:5:6:7::"))).toBe("1:2:3:4:5:6:7:0");
    expect(formatIp(ip("::13.1.68.3"))).toBe("::d01:4403");
    expect(formatIp(ip("[2001:db8::1]"))).toBe("2001:db8::1");
  });

  it.each(["1:::2", "12345::", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "1:", "::g", "fe80::1%eth0", "1:2:3:4:5:6:7:1.2.3.4"])(
    "refuses the malformed IPv6 address %j",
    (text) => {
      expect(parseIp(text)).toBeUndefined();
    },
  );

  it("reads an IPv4-mapped IPv6 address as the IPv4 address it carries", () => {
    expect(ip("::ffff:192.0.2.1")).toEqual(ip("192.0.2.1"));
    expect(ip("::FFFF:c000:0201")).toEqual(ip("192.0.2.1"));
  });
});

describe("formatIp (RFC 5952 §4)", () => {
  it("compresses the longest run of zero hextets, the first one on a tie", () => {
    expect(formatIp(ip("2001:db8:0:0:1:0:0:1"))).toBe("2001:db8::1:0:0:1");
    expect(formatIp(ip("2001:0:0:1:0:0:0:1"))).toBe("2001:0:0:1::1");
  });

  it("does not compress a single zero hextet", () => {
    expect(formatIp(ip("2001:db8:0:1:1:1:1:1"))).toBe("2001:db8:0:1:1:1:1:1");
  });
});

describe("CIDR subnets", () => {
  it("/0 contains every address of its family and none of the other", () => {
    const all4 = subnet("0.0.0.0/0");
    expect(subnetContains(all4, ip("255.255.255.255"))).toBe(true);
    expect(subnetContains(all4, ip("0.0.0.0"))).toBe(true);
    expect(subnetContains(all4, ip("::1"))).toBe(false);
    const all6 = subnet("::/0");
    expect(subnetContains(all6, ip("2001:db8::1"))).toBe(true);
    expect(subnetContains(all6, ip("10.0.0.1"))).toBe(false);
  });

  it("/32 and /128 contain exactly one address", () => {
    const host4 = subnet("192.0.2.1/32");
    expect(subnetContains(host4, ip("192.0.2.1"))).toBe(true);
    expect(subnetContains(host4, ip("192.0.2.2"))).toBe(false);
    const host6 = subnet("2001:db8::1/128");
    expect(subnetContains(host6, ip("2001:db8::1"))).toBe(true);
    expect(subnetContains(host6, ip("2001:db8::2"))).toBe(false);
  });

  it("clears host bits, and matches prefixes that end inside a word", () => {
    const s = subnet("192.168.1.77/24");
    expect(formatSubnet(s)).toBe("192.168.1.0/24");
    expect(subnetContains(s, ip("192.168.1.255"))).toBe(true);
    expect(subnetContains(s, ip("192.168.2.0"))).toBe(false);
    const s6 = subnet("2001:db8:abcd:12::/61");
    expect(subnetContains(s6, ip("2001:db8:abcd:17::1"))).toBe(true);
    expect(subnetContains(s6, ip("2001:db8:abcd:18::1"))).toBe(false);
    expect(subnetContains(subnet("10.0.0.0/9"), ip("10.127.255.255"))).toBe(true);
    expect(subnetContains(subnet("10.0.0.0/9"), ip("10.128.0.0"))).toBe(false);
  });

  it("translates a prefix on an IPv4-mapped address to the IPv4 prefix", () => {
    const s = subnet("::ffff:10.0.0.0/104");
    expect(formatSubnet(s)).toBe("10.0.0.0/8");
    expect(subnetContains(s, ip("10.1.2.3"))).toBe(true);
    expect(subnetContains(s, ip("::ffff:10.1.2.3"))).toBe(true);
    expect(parseCidr("::ffff:10.0.0.0/64")).toEqual({
      ok: false,
      reason: "prefix /64 on an IPv4-mapped address must be 96..128",
    });
  });

  it("refuses prefixes longer than the address", () => {
    expect(parseCidr("10.0.0.0/33")).toEqual({ ok: false, reason: "prefix /33 exceeds /32" });
    expect(parseCidr("::/129")).toEqual({ ok: false, reason: "prefix /129 exceeds /128" });
    expect(parseCidr("10.0.0.0/x").ok).toBe(false);
  });
});

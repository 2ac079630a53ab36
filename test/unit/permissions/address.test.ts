import { describe, expect, it } from "vitest";
import { AddressTable } from "../../../src/modules/permissions/index.ts";

function fromFile(text: string): AddressTable {
  const t = AddressTable.fromFile("address.list", text);
  if (!t.ok) throw new Error(JSON.stringify(t.error));
  return t.value;
}

// Kamailio address file format: (groupid) (address) [netmask] [port] [tag], '#' comments.
const ADDRESS_LIST = `
# gateways
1 127.0.0.1 32 0 gw-local
1 10.0.0.10          # no mask: a single host, any port
2 192.168.1.0 24 0 office
2 192.168.1.128 25 5060 office-pbx
3 [2001:db8::5ee]
3 2001:db8:1::/48 0 0 v6-net
4 sip.example.com 0 5060 carrier
`;

describe("address groups from a Kamailio address file", () => {
  const table = fromFile(ADDRESS_LIST);

  it("allows a listed source address and returns its tag", () => {
    expect(table.allowSourceAddress(1, "127.0.0.1", 5060)).toEqual({ allowed: true, tag: "gw-local" });
    expect(table.allowSourceAddress(1, "10.0.0.10", 40000)).toEqual({ allowed: true, tag: undefined });
  });

  it("denies an address listed only in another group", () => {
    expect(table.allowSourceAddress(2, "127.0.0.1", 5060)).toEqual({ allowed: false });
    expect(table.allowSourceAddress(9, "127.0.0.1", 5060)).toEqual({ allowed: false });
  });

  it("matches subnets, preferring the longer prefix for the tag", () => {
    expect(table.allowSourceAddress(2, "192.168.1.7", 5080)).toEqual({ allowed: true, tag: "office" });
    expect(table.allowSourceAddress(2, "192.168.1.200", 5060)).toEqual({ allowed: true, tag: "office-pbx" });
    // The /25 entry is port-specific; on another port only the /24 matches.
    expect(table.allowSourceAddress(2, "192.168.1.200", 5061)).toEqual({ allowed: true, tag: "office" });
    expect(table.allowSourceAddress(2, "192.168.2.1", 5060)).toEqual({ allowed: false });
  });

  it("matches IPv6 hosts and prefixes, whatever the spelling", () => {
    expect(table.allowSourceAddress(3, "2001:0db8:0:0:0:0:0:05ee", 5060).allowed).toBe(true);
    expect(table.allowSourceAddress(3, "2001:db8:1:ffff::1", 1)).toEqual({ allowed: true, tag: "v6-net" });
    expect(table.allowSourceAddress(3, "2001:db8:2::1", 1)).toEqual({ allowed: false });
  });

  it("matches an IPv4-mapped IPv6 source against IPv4 entries", () => {
    expect(table.allowSourceAddress(1, "::ffff:127.0.0.1", 5060)).toEqual({ allowed: true, tag: "gw-local" });
  });

  it("matches domain names literally in allow_address, only on their port", () => {
    expect(table.allowAddress(4, "SIP.example.com", 5060)).toEqual({ allowed: true, tag: "carrier" });
    expect(table.allowAddress(4, "sip.example.com", 5061)).toEqual({ allowed: false });
    expect(table.allowSourceAddress(4, "sip.example.com", 5060)).toEqual({ allowed: false });
  });

  it("finds the group of an address (allow_address_group)", () => {
    expect(table.allowAddressGroup("192.168.1.9", 5060)).toEqual({ found: true, group: 2 });
    expect(table.allowAddressGroup("172.16.0.1", 5060)).toEqual({ found: false });
  });

  it("lists every entry for the admin API", () => {
    expect(table.dump()).toContainEqual({ grp: 2, kind: "subnet", address: "192.168.1.128/25", port: 5060, tag: "office-pbx" });
    expect(table.dump()).toContainEqual({ grp: 3, kind: "address", address: "2001:db8::5ee", port: 0, tag: undefined });
    expect(table.dump()).toHaveLength(7);
  });
});

describe("address groups from D1 address rows", () => {
  it("treats mask 0 as a single host, as Kamailio does", () => {
    const t = AddressTable.fromRows([{ grp: 1, ip_addr: "10.1.2.3", mask: 0, port: 0, tag: null }]);
    expect(t.ok && t.value.allowSourceAddress(1, "10.1.2.3", 5060).allowed).toBe(true);
    expect(t.ok && t.value.allowSourceAddress(1, "10.1.2.4", 5060).allowed).toBe(false);
  });

  it("accepts a prefix written in ip_addr, the only way to say /0", () => {
    const t = AddressTable.fromRows([
      { grp: 1, ip_addr: "0.0.0.0/0", mask: 0, port: 0, tag: "any-v4" },
      { grp: 2, ip_addr: "::/0", mask: null, port: null, tag: "any-v6" },
    ]);
    if (!t.ok) throw new Error(JSON.stringify(t.error));
    expect(t.value.allowSourceAddress(1, "203.0.113.9", 1)).toEqual({ allowed: true, tag: "any-v4" });
    expect(t.value.allowSourceAddress(1, "2001:db8::1", 1)).toEqual({ allowed: false });
    expect(t.value.allowSourceAddress(2, "2001:db8::1", 1)).toEqual({ allowed: true, tag: "any-v6" });
  });

  it("takes numbers as strings, as db_text imports give them", () => {
    const t = AddressTable.fromRows([{ grp: "1", ip_addr: "127.0.0.0", mask: "8", port: "5060", tag: "lo" }]);
    expect(t.ok && t.value.allowSourceAddress(1, "127.0.0.2", 5060)).toEqual({ allowed: true, tag: "lo" });
  });

  it("prefers a port-specific entry over a port-0 entry for the same host", () => {
    const t = AddressTable.fromRows([
      { grp: 1, ip_addr: "127.0.0.1", mask: 32, port: 0, tag: "any-port" },
      { grp: 1, ip_addr: "127.0.0.1", mask: 32, port: 7070, tag: "gw-7070" },
    ]);
    expect(t.ok && t.value.allowSourceAddress(1, "127.0.0.1", 7070)).toEqual({ allowed: true, tag: "gw-7070" });
    expect(t.ok && t.value.allowSourceAddress(1, "127.0.0.1", 7072)).toEqual({ allowed: true, tag: "any-port" });
  });

  it("reads a mask on an IPv4-mapped address in IPv6 bits", () => {
    const t = AddressTable.fromRows([{ grp: 1, ip_addr: "::ffff:10.0.0.0", mask: 104, port: 0 }]);
    expect(t.ok && t.value.allowSourceAddress(1, "10.200.0.1", 1).allowed).toBe(true);
  });
});

describe("malformed address data names file, line and field", () => {
  it.each([
    ["0 127.0.0.1", "grp", 'group number'],
    ["x 127.0.0.1", "grp", 'group number'],
    ["1 10.0.0.256", "ip_addr", "not an IP address"],
    ["1 2001:db8::g", "ip_addr", "not an IP address"],
    ["1 127.0.0.1 33", "mask", "not a mask 0..32"],
    ["1 2001:db8:: 129", "mask", "not a mask 0..128"],
    ["1 127.0.0.1 32 70000", "port", "not a port"],
    ["1 127.0.0.1 32 0 two words", "tag", "single token"],
    ["1 10.0.0.0/8 16", "mask", "conflicts"],
  ])("%j is refused at field %s", (line, field, reason) => {
    const t = AddressTable.fromFile("address.list", `# header\n1 127.0.0.1\n${line}\n`);
    expect(t.ok).toBe(false);
    if (t.ok) return;
    expect(t.error).toMatchObject({ file: "address.list", line: 3, field });
    expect(t.error.reason).toContain(reason);
  });

  it("names the D1 row and column", () => {
    const t = AddressTable.fromRows([
      { grp: 1, ip_addr: "127.0.0.1", mask: 32, port: 0 },
      { grp: 1, ip_addr: "127.0.0.1", mask: 32, port: -1 },
    ]);
    expect(t).toEqual({
      ok: false,
      error: { file: "address", line: 2, field: "port", reason: '"-1" is not a port 0..65535' },
    });
  });
});

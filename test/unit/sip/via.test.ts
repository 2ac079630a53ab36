import { describe, expect, it } from "vitest";
import { formatVia, isRfc3261Branch, parseVia, viaReceived, viaRport } from "../../../src/sip/via.ts";
import type { Via } from "../../../src/sip/via.ts";

function via(text: string): Via {
  const parsed = parseVia(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  return parsed.value;
}

function reason(text: string): string {
  const parsed = parseVia(text);
  if (parsed.ok) throw new Error(`${text} should not parse`);
  return parsed.reason;
}

describe("Via (RFC 3261 §20.42)", () => {
  it("reads protocol, transport, sent-by and parameters", () => {
    const v = via("SIP/2.0/UDP pc33.atlanta.example.com:5066;branch=z9hG4bK776asdhds;received=192.0.2.1;rport=5066");
    expect(v.protocol).toBe("SIP/2.0");
    expect(v.transport).toBe("UDP");
    expect(v.host).toBe("pc33.atlanta.example.com");
    expect(v.port).toBe(5066);
    expect(v.branch).toBe("z9hG4bK776asdhds");
    expect([...v.params.keys()]).toEqual(["branch", "received", "rport"]);
    expect(viaReceived(v)).toBe("192.0.2.1");
    expect(viaRport(v)).toBe(5066);
  });

  it("upper-cases protocol and transport and lower-cases the host", () => {
    const v = via("sip/2.0/wss DF7JAL23LS.Invalid;branch=z9hG4bKnashds7");
    expect(v.protocol).toBe("SIP/2.0");
    expect(v.transport).toBe("WSS");
    expect(v.host).toBe("df7jal23ls.invalid");
  });

  it("reads every transport of RFC 4475 transports, including an unknown one", () => {
    const transports = [
      "SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
      "SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
      "SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
      "SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
      "SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
    ].map((text) => via(text).transport);
    expect(transports).toEqual(["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
  });

  it("accepts LWS around '/', ':' and ';' (RFC 4475 wsinv)", () => {
    const first = via("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw");
    expect([first.protocol, first.transport, first.host, first.branch]).toEqual(["SIP/2.0", "UDP", "192.0.2.2", "390skdjuw"]);
    const second = via("  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ");
    expect([second.transport, second.host, second.branch]).toEqual(["TCP", "spindle.example.com", "z9hG4bK9ikj8"]);
    const third = via("\r\n SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239");
    expect([third.host, third.branch]).toEqual(["192.168.255.111", "z9hG4bK30239"]);
    expect(via("SIP/2.0/UDP host.example.com : 5060").port).toBe(5060);
  });

  it("reads token characters in a branch (RFC 4475 intmeth, esc02)", () => {
    expect(via("SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~").branch).toBe("z9hG4bK-.!%66*_+`'~");
    expect(via("SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234").branch).toBe("z9hG4bK209%fzsnel234");
  });

  it("reads a Via without branch (RFC 4475 inv2543) and tells RFC 2543 branches apart", () => {
    const old = via("SIP/2.0/UDP iftgw.example.com");
    expect(old.branch).toBeUndefined();
    expect(isRfc3261Branch(old.branch)).toBe(false);
    // RFC 4475 badbranch: the cookie alone is no RFC 3261 transaction id
    expect(isRfc3261Branch(via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK").branch)).toBe(false);
    expect(isRfc3261Branch("z9hG4bK776asdhds")).toBe(true);
  });

  it("keeps another protocol version for the caller to judge (RFC 4475 badvers)", () => {
    expect(via("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw").protocol).toBe("SIP/7.0");
  });

  it("reads rport as a flag or a port (RFC 3581)", () => {
    expect(viaRport(via("SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bKa"))).toBeNull();
    expect(viaRport(via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa"))).toBeUndefined();
    expect(viaReceived(via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa"))).toBeUndefined();
  });

  it.each([
    ["SIP/2.0 host.example.com", "malformed sent-protocol"],
    ["SIP/2.0/ host.example.com", "missing sent-by"], // SLASH allows LWS: the host is read as the transport
    ["SIP/2.0/;branch=z9hG4bKa", "missing transport"],
    ["SIP/2.0/UDP", "missing sent-by"],
    ["SIP/2.0/UDP;branch=z9hG4bKa", "character ';' after transport"],
    ["SIP/2.0/UDP host.example.com:70000", "invalid sent-by port"],
    ["SIP/2.0/UDP host.example.com;branch", "branch parameter without value"],
    ["SIP/2.0/UDP host.example.com;rport=abc", "invalid rport parameter"],
    ["SIP/2.0/UDP host.example.com;ttl=256", "invalid ttl parameter"],
    ["SIP/2.0/UDP host.example.com;maddr=a..b", "invalid maddr parameter"],
    ["SIP/2.0/UDP host.example.com;received", "invalid received parameter"],
    ["SIP/2.0/UDP host.example.com;branch=a;branch=b", "duplicate parameter branch"],
    ["SIP/2.0/UDP host.example.com, SIP/2.0/UDP other.example.com", "character ',' before parameters"],
  ])("rejects %j (%s)", (text, why) => {
    expect(reason(text)).toBe(why);
  });
});

describe("formatting", () => {
  it.each([
    "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
    "SIP/2.0/WSS df7jal23ls.invalid;rport;branch=z9hG4bKnashds7",
    "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2;rport=5061",
    "SIP/2.0/TCP [2001:db8::9:255];branch=z9hG4bK451jj;received=192.0.2.200",
  ])("round-trips %s", (text) => {
    const first = via(text);
    expect(formatVia(first)).toBe(text);
    expect(via(formatVia(first))).toEqual(first);
  });

  it("normalises LWS when formatting", () => {
    expect(formatVia(via("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2 ; branch = 390skdjuw"))).toBe(
      "SIP/2.0/UDP 192.0.2.2;branch=390skdjuw",
    );
  });

  it("writes the branch field: first when params lack it, in place when it changed", () => {
    const built: Via = { protocol: "SIP/2.0", transport: "WSS", host: "edge.invalid", params: new Map([["rport", null]]), branch: "z9hG4bKx1" };
    expect(formatVia(built)).toBe("SIP/2.0/WSS edge.invalid;branch=z9hG4bKx1;rport");
    const parsed = via("SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bKold;received=192.0.2.9");
    parsed.branch = "z9hG4bKnew";
    expect(formatVia(parsed)).toBe("SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bKnew;received=192.0.2.9");
  });
});

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { SipMessage } from "../../../src/sip/message.ts";
import { parseNameAddr } from "../../../src/sip/name-addr.ts";
import { parseMessage, type ParseResult } from "../../../src/sip/parser.ts";
import { createErrorResponse } from "../../../src/sip/response.ts";
import { byteStringToBytes, serialize, serializeBytes } from "../../../src/sip/serializer.ts";
import type { SipUri } from "../../../src/sip/uri.ts";
import { RFC4475, RFC4475_DIR_DEFAULT } from "../../conformance/rfc4475.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const dir = resolve(repoRoot, process.env.SIPEDGE_RFC4475_DIR ?? RFC4475_DIR_DEFAULT);
const available = existsSync(dir);

if (!available && process.env.CI !== "true") {
  console.warn(
    `\n!!! RFC 4475 conformance tests SKIPPED: ${dir} does not exist.\n` +
      "!!! Point SIPEDGE_RFC4475_DIR at a folder with the 49 .dat files to run them.\n",
  );
}

function bytesOf(file: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(dir, `${file}.dat`)));
}

/** The message as a WebSocket text frame would carry it, or undefined if it is not UTF-8. */
function textOf(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function parsed(file: string): SipMessage {
  const result = parseMessage(bytesOf(file));
  if (!result.ok) throw new Error(`${file}: ${result.status} ${result.reason}`);
  return result.message;
}

function verdict(result: ParseResult): "ok" | { status: number; reason: string } {
  return result.ok ? "ok" : { status: result.status, reason: result.reason };
}

/** What a round trip must keep; Content-Length is left out as the serializer may add one. */
function shape(msg: SipMessage): unknown {
  return {
    startLine: msg.startLine(),
    headers: msg.headers.lines().filter((l) => l.key !== "content-length").map((l) => [l.key, l.value]),
    body: msg.body,
  };
}

describe.runIf(!available && process.env.CI === "true")("RFC 4475 conformance data", () => {
  it("is present in CI", () => {
    throw new Error(`RFC 4475 messages not found at ${dir} (set SIPEDGE_RFC4475_DIR)`);
  });
});

describe.runIf(available)("RFC 4475 torture messages", () => {
  it("the verdict table covers every message in the folder, once", () => {
    const files = readdirSync(dir).filter((f) => f.endsWith(".dat")).map((f) => f.slice(0, -4)).sort();
    expect(RFC4475.map((c) => c.file).sort()).toEqual(files);
    expect(files).toHaveLength(49);
  });

  describe.each(RFC4475.map((c) => [c.file, c] as const))("%s", (file, expected) => {
    // describe.runIf still collects its body when skipped: read nothing then.
    const bytes = available ? bytesOf(file) : new Uint8Array();
    const wanted = expected.parse === "ok" ? "ok" : expect.objectContaining(expected.parse);

    it(`parses as a binary frame to ${JSON.stringify(expected.parse)}`, () => {
      expect(verdict(parseMessage(bytes))).toEqual(wanted);
    });

    const text = textOf(bytes);
    if (text !== undefined) {
      it("parses as a text frame to the same verdict", () => {
        expect(verdict(parseMessage(text))).toEqual(verdict(parseMessage(bytes)));
      });
    }

    if (expected.parse === "ok") {
      it("round-trips: the serialized message parses to the same start line, headers and body", () => {
        const first = parsed(file);
        const again = parseMessage(first.encoding === "binary" ? serializeBytes(first) : serialize(first));
        expect(again.ok).toBe(true);
        if (again.ok) expect(shape(again.message)).toEqual(shape(first));
      });
    } else if (expected.edge !== "drop") {
      it(`the error reply is a ${expected.edge} carrying the request's Vias and its Call-ID and CSeq`, () => {
        const result = parseMessage(bytes);
        if (result.ok) throw new Error("parsed");
        const reply = createErrorResponse(result);
        expect(reply).toBeDefined();
        const lines = (reply ?? "").split("\r\n");
        expect(lines[0]).toBe(`SIP/2.0 ${expected.edge} ${result.reason}`);
        const sent = (text ?? "").split("\r\n");
        for (const line of sent.filter((l) => l.startsWith("Via:"))) expect(lines).toContain(line);
        for (const name of ["Call-ID:", "CSeq:"]) {
          const first = sent.find((l) => l.startsWith(name));
          if (first !== undefined) expect(lines).toContain(first);
        }
      });
    } else {
      it("gets no reply (an invalid response is dropped)", () => {
        const result = parseMessage(bytes);
        expect(result.ok === false && createErrorResponse(result)).toBeUndefined();
      });
    }
  });

  it("an unchanged message is written back byte for byte", () => {
    const changed = new Set(["dblreq", "inv2543"]); // checked below
    for (const c of RFC4475) {
      if (c.parse !== "ok" || changed.has(c.file)) continue;
      expect(Buffer.from(serializeBytes(parsed(c.file))).equals(Buffer.from(bytesOf(c.file))), c.file).toBe(true);
    }
  });

  it("dblreq: the octets after Content-Length (a second request) are discarded", () => {
    const msg = parsed("dblreq");
    expect(msg.kind === "request" && msg.method).toBe("REGISTER");
    expect(msg.body).toBe("");
    const original = bytesOf("dblreq");
    const out = serializeBytes(msg);
    expect(Buffer.from(out).equals(Buffer.from(original.subarray(0, out.length)))).toBe(true);
    expect(new TextDecoder().decode(out)).not.toContain("INVITE");
  });

  it("inv2543: without Content-Length the body is the rest of the message, and one is added", () => {
    const msg = parsed("inv2543");
    expect(msg.body.startsWith("v=0\r\n")).toBe(true);
    expect(msg.body.endsWith("m=audio 49217 RTP/AVP 0\r\n")).toBe(true);
    expect(msg.kind === "request" && msg.maxForwards).toBeUndefined();
    expect(msg.topVia().branch).toBeUndefined();
    expect(msg.from().params.has("tag")).toBe(false);
    expect(serialize(msg)).toContain(`\r\nContent-Length: ${msg.body.length}\r\n\r\nv=0`);
  });

  it("wsinv: folding, compact and mixed-case names, leading zeros and unknown headers", () => {
    const msg = parsed("wsinv");
    if (msg.kind !== "request") throw new Error("not a request");
    expect(msg.maxForwards).toBe(68);
    expect(msg.cseq).toEqual({ seq: 9, method: "INVITE" });
    expect(msg.vias().map((v) => [v.transport, v.host, v.branch])).toEqual([
      ["UDP", "192.0.2.2", "390skdjuw"],
      ["TCP", "spindle.example.com", "z9hG4bK9ikj8"],
      ["UDP", "192.168.255.111", "z9hG4bK30239"],
    ]);
    expect(msg.to().params.get("tag")).toBe("1918181833n");
    expect(msg.from().params.get("tag")).toBe("98asjd8");
    expect(msg.headers.get("NewFangledHeader")).toBe("newfangled value continued newfangled value");
    expect(msg.headers.get("UnknownHeaderWithUnusualValue")).toBe(";;,,;;,;");
    expect(msg.headers.get("subject")).toBe("");
    expect(msg.headers.getAll("m")).toHaveLength(1);
    expect(msg.body).toHaveLength(150);
  });

  it("longreq: 34 Via values, with compact and oddly spaced names", () => {
    const msg = parsed("longreq");
    expect(msg.vias()).toHaveLength(34);
    expect(msg.vias()[0]?.host).toBe("sip33.example.com");
    expect(msg.vias()[33]?.branch).toMatch(/^verylong(long)+branchvalue$/);
  });

  it("esc02: C%6Fntact is another header, so there are two Contact values", () => {
    const msg = parsed("esc02");
    expect(msg.kind === "request" && msg.method).toBe("RE%47IST%45R");
    expect(msg.headers.getAll("contact")).toHaveLength(2);
    expect(msg.headers.get("C%6Fntact")).toBe("<sip:alias2@host2.example.com>");
  });

  it("semiuri: the Request-URI user part keeps its semicolon", () => {
    const msg = parsed("semiuri");
    expect(msg.kind === "request" && (msg.ruri() as SipUri).user).toBe("user;par=u%40example.net");
    expect(msg.headers.getAll("accept")).toHaveLength(6);
  });

  it("transports: five Via values with their transports", () => {
    expect(parsed("transports").vias().map((v) => v.transport)).toEqual(["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
  });

  it("mpart01: the binary body is kept byte for byte and Content-Length counts bytes", () => {
    const msg = parsed("mpart01");
    expect(msg.encoding).toBe("binary");
    expect(msg.bodyByteLength()).toBe(553);
    const original = bytesOf("mpart01");
    expect(Buffer.from(byteStringToBytes(msg.body)).equals(Buffer.from(original.subarray(original.length - 553)))).toBe(true);
  });

  it("unreason and noreason: UTF-8 and empty reason phrases", () => {
    const unreason = parseMessage(textOf(bytesOf("unreason")) ?? "");
    expect(unreason.ok && unreason.message.kind === "response" && unreason.message.reason).toMatch(/^= 2\*\*3 \* 5\*\*2 но сто/);
    const noreason = parsed("noreason");
    expect(noreason.kind === "response" && [noreason.status, noreason.reason]).toEqual([100, ""]);
  });

  it("cparam01/cparam02: ;unknownparam is a header param without <>, a URI param inside <>", () => {
    const header = parseNameAddr(parsed("cparam01").headers.get("contact") ?? "");
    const inside = parseNameAddr(parsed("cparam02").headers.get("contact") ?? "");
    expect(header.ok && header.value.params.has("unknownparam")).toBe(true);
    expect(inside.ok && (inside.value.uri as SipUri).params.has("unknownparam")).toBe(true);
  });

  it("regescrt and escnull: escaped URI headers and escaped NULs are kept in Contact values", () => {
    const contact = parseNameAddr(parsed("regescrt").headers.get("m") ?? "");
    expect(contact.ok && (contact.value.uri as SipUri).headers.get("route")).toBe("%3Csip:sip.example.com%3E");
    expect(parsed("escnull").headers.getAll("contact")).toEqual(["<sip:%00@host5.example.com>", "<sip:%00%00@host5.example.com>"]);
  });

  it("unkscm and novelsc: unknown Request-URI schemes parse as opaque URIs", () => {
    for (const [file, scheme] of [["unkscm", "nobodyknowsthisscheme"], ["novelsc", "soap.beep"]]) {
      const msg = parsed(file ?? "");
      expect(msg.kind === "request" && msg.ruri().scheme).toBe(scheme);
    }
  });
});

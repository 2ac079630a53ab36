// The bridge's Buffer-level scanner (bridge/scan.ts): the fields it reads, what it refuses, and
// agreement with the edge's full parser on RFC 4475, on generated messages and on mutants.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { scanMessage, type BridgeMessage } from "../../../bridge/scan.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { serialize } from "../../../src/sip/serializer.ts";
import * as arb from "../../fuzz/arbitraries.ts";
import { FUZZ_SEED, runs } from "../../fuzz/budget.ts";
import { mutate } from "../../fuzz/mutate.ts";
import { Rng } from "../../fuzz/random.ts";
import { allSeeds, rfc4475Seeds } from "../../fuzz/seeds.ts";
import { expectAgreement, fields } from "./scan-agree.ts";

const bytes = (text: string) => Buffer.from(text, "utf8");
const crlf = (...lines: string[]) => lines.join("\r\n");

function scanned(text: string): BridgeMessage {
  const result = scanMessage(bytes(text));
  if (!result.ok) throw new Error(result.reason);
  return result.message;
}

function refused(text: string | Uint8Array): string {
  const result = scanMessage(typeof text === "string" ? bytes(text) : text);
  if (result.ok) throw new Error("scanned: " + JSON.stringify(fields(result.message)));
  return result.reason;
}

const INVITE = crlf(
  "INVITE sip:+15551234@gw.example.test;shard=9 SIP/2.0",
  "Via: SIP/2.0/UDP 127.0.0.20:5060;branch=z9hG4bKgw1;rport",
  "Via: SIP/2.0/UDP 127.0.0.30;branch=z9hG4bKfar",
  "Route: <sip:127.0.0.10:5060;lr;shard=2>, <sip:other.example.test;lr>",
  "Route: <sip:third.example.test;lr>",
  "Max-Forwards: 70",
  "From: <sip:+15550000@gw.example.test>;tag=f1",
  "To: <sip:+15551234@sip.example.test>",
  "Call-ID: c1@127.0.0.20",
  "CSeq: 1 INVITE",
  "Content-Type: application/sdp",
  "Content-Length: 4",
  "",
  "v=0\r\n",
);

describe("the fields the bridge reads", () => {
  it("a request: start line, top Via (sent-by, branch), Call-ID, CSeq, the Routes, From and To", () => {
    const m = scanned(INVITE);
    expect(fields(m)).toEqual({
      kind: "request", method: "INVITE", uri: "sip:+15551234@gw.example.test;shard=9",
      callId: "c1@127.0.0.20", cseq: { seq: 1, method: "INVITE" },
      via: { host: "127.0.0.20", port: 5060, branch: "z9hG4bKgw1" },
      viaText: "SIP/2.0/UDP 127.0.0.20:5060;branch=z9hG4bKgw1;rport",
      route: "<sip:127.0.0.10:5060;lr;shard=2>",
      routes: ["<sip:127.0.0.10:5060;lr;shard=2>", "<sip:other.example.test;lr>", "<sip:third.example.test;lr>"],
      from: "<sip:+15550000@gw.example.test>;tag=f1", to: "<sip:+15551234@sip.example.test>", rseq: undefined,
    });
    expectAgreement(bytes(INVITE));
  });

  it("a response: the status, the To tag and RSeq (what tells one provisional from its copies)", () => {
    const m = scanned(crlf(
      "SIP/2.0 183 Session Progress",
      "Via: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bKedge1",
      "From: <sip:a@sip.example.test>;tag=x",
      "To: <sip:b@gw.example.test>;tag=gw9",
      "Call-ID: c2",
      "CSeq: 7 INVITE",
      "RSeq: 11",
      "", "",
    ));
    expect(m.kind === "response" && [m.status, m.to().params.get("tag"), m.headers.get("rseq")]).toEqual([183, "gw9", "11"]);
  });

  it("compact forms and names in any case are the same headers (RFC 3261 §7.3.3, §7.3.1)", () => {
    const text = crlf(
      "BYE sip:b@127.0.0.10 SIP/2.0",
      "v: SIP/2.0/UDP 127.0.0.20;branch=z9hG4bKc1",
      "ROUTE: <sip:127.0.0.10;lr;shard=1>",
      "f: <sip:a@x>;tag=1",
      "t: <sip:b@y>;tag=2",
      "i: compact@x",
      "cSeQ: 3 BYE",
      "l: 0",
      "", "",
    );
    const m = scanned(text);
    expect([m.callId, m.cseq.seq, m.vias()[0]?.branch, m.headers.get("route"), m.headers.get("to")]).toEqual(["compact@x", 3, "z9hG4bKc1", "<sip:127.0.0.10;lr;shard=1>", "<sip:b@y>;tag=2"]);
    expectAgreement(bytes(text));
  });

  it("LWS: folded lines, space before the colon, around the Via's slashes and colon, and bare LF line ends", () => {
    const text = [
      "OPTIONS sip:b@127.0.0.10 SIP/2.0",
      "Via  :  SIP / 2.0 / UDP",
      "   127.0.0.20 : 5070 ;branch=z9hG4bKlws",
      "From:\t<sip:a@x>;tag=1",
      "To: <sip:b@y>",
      "Call-ID:",
      " folded@x",
      "CSeq:  9\t OPTIONS  ",
      "", "",
    ].join("\n");
    const m = scanned(text);
    expect([m.vias()[0], m.callId, m.cseq]).toMatchObject([{ host: "127.0.0.20", port: 5070, branch: "z9hG4bKlws" }, "folded@x", { seq: 9, method: "OPTIONS" }]);
    expect(m.headers.get("via")).toBe("SIP / 2.0 / UDP 127.0.0.20 : 5070 ;branch=z9hG4bKlws");
    expectAgreement(bytes(text));
  });

  it("several Vias on one line: the top one is the first element; an empty Via line is skipped", () => {
    const text = crlf(
      "SIP/2.0 200 OK",
      "Via:",
      "Via: SIP/2.0/UDP 127.0.0.10;branch=z9hG4bKtop, SIP/2.0/UDP 127.0.0.99;branch=z9hG4bKnext",
      "From: <sip:a@x>;tag=1", "To: <sip:b@y>;tag=2", "Call-ID: multi", "CSeq: 1 BYE", "", "",
    );
    expect(scanned(text).vias()[0]?.branch).toBe("z9hG4bKtop");
  });

  it("the body is never read: octets beyond Content-Length are ignored, and without it the rest is the body", () => {
    expect(scanned(INVITE + "trailing junk").callId).toBe("c1@127.0.0.20");
    expect(scanned(INVITE.replace("Content-Length: 4\r\n", "")).callId).toBe("c1@127.0.0.20");
    const binary = Buffer.concat([bytes(INVITE.replace("Content-Length: 4", "Content-Length: 6").slice(0, -5)), Buffer.from([0xff, 0xfe, 0, 1, 2, 3])]);
    expect(scanMessage(binary).ok).toBe(true);
  });
});

describe("what the scanner refuses (the bridge drops it and counts it unparseable)", () => {
  const base = (drop: RegExp) => INVITE.split("\r\n").filter((l) => !drop.test(l)).join("\r\n");

  it("keep-alives, junk and empty datagrams", () => {
    expect(refused("")).toBe("Empty message");
    expect(refused("\r\n\r\n")).toBe("Empty message");
    expect(refused("GET / HTTP/1.1\r\nHost: x\r\n\r\n")).toBe("Bad Request-Line");
    expect(refused(new Uint8Array([0, 1, 2, 255, 10, 13, 10]))).toBe("Bad start line");
    expect(refused("INVITE")).toBe("Truncated message");
  });

  it("a message without Via, CSeq, Call-ID, From or To", () => {
    expect(refused(base(/^Via:/))).toBe("Missing header: Via");
    expect(refused(base(/^CSeq:/))).toBe("Missing header: CSeq");
    expect(refused(base(/^Call-ID:/))).toBe("Missing header: Call-ID");
    expect(refused(base(/^From:/))).toBe("Missing header: From");
    expect(refused(base(/^To:/))).toBe("Missing header: To");
  });

  it("a bad top Via, Call-ID or CSeq, or a CSeq whose method is not the request's", () => {
    expect(refused(INVITE.replace("SIP/2.0/UDP 127.0.0.20:5060", "SIP/2.0/UDP 127.0.0.20:99999"))).toBe("Bad Via header");
    expect(refused(INVITE.replace("Via: SIP/2.0/UDP 127.0.0.20:5060;", "Via: junk;"))).toBe("Bad Via header");
    expect(refused(INVITE.replace("Call-ID: c1@127.0.0.20", "Call-ID: a b"))).toBe("Bad Call-ID header");
    expect(refused(INVITE.replace("CSeq: 1 INVITE", "CSeq: 2147483648 INVITE"))).toBe("Bad CSeq header");
    expect(refused(INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE"))).toBe("CSeq method does not match request method");
  });

  it("bad start lines: extra spaces, another SIP version, a status outside 100-699", () => {
    expect(refused(INVITE.replace("INVITE sip", "INVITE  sip"))).toBe("Bad Request-Line");
    expect(refused(INVITE.replace(" SIP/2.0\r\n", " SIP/3.0\r\n"))).toBe("Bad Request-Line");
    expect(refused(INVITE.replace(/^[^\r]*/, "SIP/2.0 700 Big"))).toBe("Bad Status-Line");
    expect(refused(INVITE.replace(/^[^\r]*/, "SIP/2.0 1800 Big"))).toBe("Bad Status-Line");
    expect(refused(INVITE.replace(/^[^\r]*/, "SIP/2.0 18"))).toBe("Bad Status-Line");
  });

  it("framing: a torn datagram, a lone CR, a line without a colon, a leading fold, duplicated singletons", () => {
    expect(refused(INVITE.slice(0, INVITE.indexOf("CSeq") + 3))).toBe("Truncated message");
    expect(refused(INVITE.replace("Content-Length: 4", "Content-Length: 40"))).toBe("Content-Length mismatch");
    expect(refused(INVITE.replace("Content-Length: 4", "Content-Length: four"))).toBe("Bad Content-Length header");
    expect(refused(INVITE.replace("Max-Forwards: 70", "Max-Forwards:\r70"))).toBe("Malformed header line");
    expect(refused(INVITE.replace("Max-Forwards: 70", "Max-Forwards 70"))).toBe("Malformed header line");
    expect(refused(INVITE.replace("Via:", " Via:"))).toBe("Malformed header line");
    expect(refused(INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 INVITE\r\ni: other@x"))).toBe("Duplicate header: call-id");
  });

  it("what only the edge judges passes: a bad From URI, a bad Max-Forwards, an unknown header name", () => {
    const lenient = INVITE.replace("From: <sip:+15550000@gw.example.test>", "From: <<>>").replace("Max-Forwards: 70", "Max-Forwards: x\r\nX@Y: 1");
    expect(parseMessage(lenient).ok).toBe(false);
    expect(scanned(lenient).callId).toBe("c1@127.0.0.20");
  });
});

describe("agreement with the edge's full parser", () => {
  it("RFC 4475's torture messages: the scanner never fails inside, and agrees wherever the parser accepts", () => {
    const seeds = rfc4475Seeds();
    if (process.env.CI === "true" || seeds.length > 0) expect(seeds).toHaveLength(49);
    let accepted = 0;
    for (const seed of seeds) {
      const data = typeof seed.data === "string" ? bytes(seed.data) : seed.data;
      if (expectAgreement(data).full) accepted++;
    }
    if (seeds.length > 0) expect(accepted).toBeGreaterThan(20);
  });

  it("requests generated from the grammar and written by the edge's serializer scan to the parser's fields", () => {
    fc.assert(
      fc.property(arb.request, (text) => {
        const parsed = parseMessage(text);
        if (!parsed.ok) throw new Error(parsed.reason);
        expect(expectAgreement(bytes(serialize(parsed.message))).full).toBe(true);
        expectAgreement(bytes(text));
      }),
      { seed: FUZZ_SEED, numRuns: runs(400) },
    );
  });

  it("responses with Routes, folded and compact headers, To tags and RSeq scan to the parser's fields", () => {
    const spelling = (full: string, compact: string | undefined) =>
      fc.constantFrom(...[full, full.toUpperCase(), full.toLowerCase(), ...(compact === undefined ? [] : [compact, compact.toUpperCase()])]);
    const response = fc
      .record({
        status: fc.integer({ min: 100, max: 699 }),
        vias: fc.array(arb.via, { minLength: 1, maxLength: 3 }),
        viasOnOneLine: fc.boolean(),
        routes: fc.array(arb.nameAddr, { maxLength: 3 }),
        from: arb.nameAddr,
        to: arb.nameAddr,
        callId: fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,16}(@[a-z0-9.]{1,12})?$/),
        cseq: arb.cseq,
        rseq: fc.option(fc.nat(), { nil: undefined }),
        names: fc.tuple(spelling("Via", "v"), spelling("Route", undefined), spelling("From", "f"), spelling("To", "t"), spelling("Call-ID", "i"), spelling("CSeq", undefined)),
        fold: fc.constantFrom(": ", " :\t", ":\r\n ", ":\n\t "),
        eol: fc.constantFrom("\r\n", "\n"),
      })
      .map((r) => {
        const [via, route, from, to, callId, cseq] = r.names;
        const vias = r.viasOnOneLine ? [`${via}${r.fold}${r.vias.join(", ")}`] : r.vias.map((v) => `${via}${r.fold}${v}`);
        return [
          `SIP/2.0 ${r.status} Reason`, ...vias, ...r.routes.map((x) => `${route}${r.fold}${x}`),
          `${from}${r.fold}${r.from}`, `${to}${r.fold}${r.to}`, `${callId}${r.fold}${r.callId}`, `${cseq}${r.fold}${r.cseq[0]} ${r.cseq[1]}`,
          ...(r.rseq === undefined ? [] : [`RSeq: ${r.rseq}`]), "Content-Length: 0", "", "",
        ].join(r.eol);
      });
    fc.assert(
      fc.property(response, (text) => {
        const parsed = parseMessage(text);
        if (!parsed.ok) throw new Error(parsed.reason);
        expect(expectAgreement(bytes(text)).full).toBe(true);
        expectAgreement(bytes(serialize(parsed.message)));
      }),
      { seed: FUZZ_SEED, numRuns: runs(400) },
    );
  });

  it("mutants of every seed (byte flips, torn lines, folding, compact forms, invalid UTF-8, Content-Length lies) never break the scanner", () => {
    const rng = new Rng(FUZZ_SEED);
    const seeds = allSeeds();
    let accepted = 0;
    let refusedCount = 0;
    const cases = runs(6_000);
    for (let n = 0; n < cases; n++) {
      const mutant = mutate(rng, rng.pick(seeds).data, rng.pick(seeds).data);
      const data = typeof mutant.data === "string" ? bytes(mutant.data) : mutant.data;
      const { full, scan } = expectAgreement(data);
      if (full) accepted++;
      if (!scan.ok) refusedCount++;
    }
    // Both paths are exercised: mutants the parser accepts (fields compared) and ones the scanner refuses.
    expect(accepted).toBeGreaterThan(cases / 10);
    expect(refusedCount).toBeGreaterThan(cases / 10);
  }, 60_000);

  it("random bytes and huge header sections return a reason, never an exception", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
        const result = scanMessage(data);
        expect(result.ok || !result.reason.startsWith("scanner error")).toBe(true);
      }),
      { seed: FUZZ_SEED, numRuns: runs(2_000) },
    );
    const many = INVITE.replace("Max-Forwards: 70", Array.from({ length: 5_000 }, (_, i) => `X-${i}: ${"a".repeat(8)}`).join("\r\n"));
    expect(scanned(many).callId).toBe("c1@127.0.0.20");
    expect(refused("INVITE sip:x SIP/2.0\r\n" + " ".repeat(60_000))).toBe("Truncated message");
  });
});

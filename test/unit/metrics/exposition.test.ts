import parsePrometheus from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { Metrics, classLabel, methodLabel } from "../../../src/metrics/counters.ts";
import { countingTransport, messageCounter } from "../../../src/metrics/instrument.ts";
import { renderExposition } from "../../../src/metrics/exposition.ts";
import { parseMessage } from "../../../src/sip/parser.ts";
import { createResponse } from "../../../src/sip/response.ts";
import { invite, request } from "../transactions/helpers.ts";

describe("Prometheus text exposition", () => {
  it("writes HELP and TYPE per family and escapes label values, as a Prometheus parser reads them back", () => {
    const text = renderExposition([
      { name: "sipedge_x_total", help: "a\\b\nc", type: "counter", samples: [{ labels: { uri: 'sip:"odd"\\x\ny', shard: 3 }, value: 7 }] },
      { name: "sipedge_y", help: "gauge", type: "gauge", samples: [{ value: 1.5 }, { labels: { k: "v" }, value: Infinity }] },
      { name: "sipedge_empty_total", help: "no samples yet", type: "counter", samples: [] },
    ]);
    expect(text).toContain('sipedge_x_total{uri="sip:\\"odd\\"\\\\x\\ny",shard="3"} 7\n');
    expect(text).toContain("# HELP sipedge_x_total a\\\\b\\nc\n");
    const parsed = parsePrometheus(text);
    expect(parsed.map((f) => [f.name, f.type])).toEqual([["sipedge_x_total", "COUNTER"], ["sipedge_y", "GAUGE"], ["sipedge_empty_total", "COUNTER"]]);
    expect(parsed[0]?.metrics[0]).toEqual({ value: "7", labels: { uri: 'sip:"odd"\\x\ny', shard: "3" } });
    expect(parsed[1]?.metrics.map((m) => m.value)).toEqual(["1.5", "+Inf"]);
  });
});

describe("shard counters", () => {
  it("count requests by method (unknown methods as 'other'), replies by class, and malformed messages", () => {
    const m = new Metrics();
    const count = messageCounter(m);
    count.message(parseMessage(invite()));
    count.message(parseMessage(invite().replace(/^INVITE/, "FOOBAR").replace("CSeq: 1 INVITE", "CSeq: 1 FOOBAR")));
    count.message(parseMessage("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/WSS h.invalid;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"));
    count.message(parseMessage("garbage\r\n\r\n"));
    expect(m.snapshot()).toEqual({ requests: { INVITE: 1, other: 1 }, repliesReceived: { "1xx": 1 }, malformed: { "": 1 } });
    expect([methodLabel("REGISTER"), methodLabel("register"), classLabel(486), classLabel(99)]).toEqual(["REGISTER", "other", "4xx", "other"]);
  });

  it("count replies sent on a transport and REGISTER results, passing every message on unchanged", () => {
    const m = new Metrics();
    const sent: unknown[] = [];
    const t = countingTransport({ send: (x) => sent.push(x) }, m);
    const reg = request(invite().replace(/INVITE/g, "REGISTER"));
    for (const status of [401, 200, 403]) t.send(createResponse(reg, status, "x"));
    t.send(createResponse(request(invite()), 180, "Ringing"));
    t.send("SIP/2.0 400 Bad Request\r\n\r\n");
    t.send(request(invite()));
    expect(sent).toHaveLength(6);
    expect(m.snapshot()).toEqual({ repliesSent: { "4xx": 3, "2xx": 1, "1xx": 1 }, registrations: { challenged: 1, accepted: 1, rejected: 1 } });
  });
});

import { describe, expect, it } from "vitest";
import { BYE_CSEQ_MARGIN, byeOf, dialogOf } from "../../../src/modules/dialog/index.ts";
import { createResponse } from "../../../src/sip/response.ts";
import { invite, reparse, request } from "../transactions/helpers.ts";

const OURS = ["<sip:127.0.0.9:5060;transport=udp;lr;r2=on;dst=127.0.0.20:5060;shard=3;sg=x>", "<sip:sip.example.test;transport=ws;lr;r2=on;flow=3.sA;shard=3;sg=y>"];
const via = { transport: "UDP", host: "127.0.0.9", port: 5060 };

describe("dialog: what the WebSocket side's BYE would carry", () => {
  it("a call to a gateway: the gateway's Contact, the routes the gateway's side added (reversed), the caller's From and the gateway's tag", () => {
    const branch = request(invite({ uri: "sip:15551234567@sip.example.test", cseq: 7, extra: OURS.map((r) => `Record-Route: ${r}`) }));
    const ok = reparse(createResponse(branch, 200, "OK", { toTag: "gw1", headers: [["Contact", "<sip:gw@127.0.0.20:5060>"], ["Record-Route", "<sip:sbc2.carrier.test;lr>"], ["Record-Route", "<sip:sbc1.carrier.test;lr>"], ...OURS.map((r): [string, string] => ["Record-Route", r])] }));
    const dialog = dialogOf(branch, ok, { uri: branch.uri, dst: "127.0.0.20:5060", bridge: "b1" }, { ws: { flow: "3.sA", instance: "k1", aor: "alice@sip.example.test" } }, 1000);
    expect(dialog).toMatchObject({
      callId: "asidkj3ss", flow: "3.sA", instance: "k1", aor: "alice@sip.example.test", dst: "127.0.0.20:5060", bridge: "b1",
      ruri: "sip:gw@127.0.0.20:5060", routes: ["<sip:sbc1.carrier.test;lr>", "<sip:sbc2.carrier.test;lr>"], cseq: 7,
      from: "Alice <sip:alice@localhost>;tag=asdyka899", to: "<sip:bob@localhost>;tag=gw1",
    });
    const bye = byeOf(dialog!, via, "z9hG4bK-dlg-1");
    expect(bye).toMatch(/^BYE sip:gw@127\.0\.0\.20:5060 SIP\/2\.0\r\nVia: SIP\/2\.0\/UDP 127\.0\.0\.9:5060;branch=z9hG4bK-dlg-1;rport\r\n/);
    expect(bye).toContain("\r\nRoute: <sip:sbc1.carrier.test;lr>\r\nRoute: <sip:sbc2.carrier.test;lr>\r\n");
    expect(bye).toContain(`\r\nCSeq: ${7 + BYE_CSEQ_MARGIN} BYE\r\n`);
    expect(bye).toContain('\r\nReason: SIP;cause=480;text="WebSocket client gone"\r\n');
  });

  it("a call from a gateway: the gateway's INVITE Contact, the routes below the proxy's, From and To swapped with the callee's tag", () => {
    const fromGateway = request(
      invite({ extra: [...OURS.map((r) => `Record-Route: ${r}`), "Record-Route: <sip:sbc.carrier.test;lr>"] }).replace("Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws;ob>", "Contact: <sip:+15550001111@127.0.0.23:5060>"),
    );
    const ok = reparse(createResponse(fromGateway, 200, "OK", { toTag: "callee1" }));
    const target = { uri: "sip:bob@b.invalid", flow: "5.sB", successor: { aor: "bob@sip.example.test", instance: "k2" } };
    const dialog = dialogOf(fromGateway, ok, target, { gateway: { dst: "127.0.0.23:5060", bridge: "b1" } }, 1000);
    expect(dialog).toMatchObject({
      flow: "5.sB", instance: "k2", aor: "bob@sip.example.test", dst: "127.0.0.23:5060", ruri: "sip:+15550001111@127.0.0.23:5060",
      routes: ["<sip:sbc.carrier.test;lr>"], from: "<sip:bob@localhost>;tag=callee1", to: "Alice <sip:alice@localhost>;tag=asdyka899", cseq: 0,
    });
  });

  it("a 2xx without a To tag makes no dialog", () => {
    const branch = request(invite());
    const ok = reparse(createResponse(branch, 200, "OK"));
    ok.headers.set("To", "<sip:bob@localhost>");
    expect(dialogOf(request(invite()), reparse(ok), { uri: "x", dst: "1.2.3.4:5060" }, { ws: { flow: "f" } }, 0)).toBeUndefined();
  });
});

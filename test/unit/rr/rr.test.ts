import { describe, expect, it } from "vitest";
import { createRr, looseRoute } from "../../../src/modules/rr/index.ts";
import { isMyself } from "../../../src/routing/context.ts";
import { parseConfig } from "../../../src/config.ts";
import { crlf, invite, nonInvite, request } from "../transactions/helpers.ts";
import type { Uri } from "../../../src/sip/uri.ts";
import { Signer } from "../../../src/util/signer.ts";

const config = parseConfig({ SIP_DOMAIN: "edge.localhost", SIP_ALIASES: "127.0.0.1" });
const rr = createRr({
  listen: { ws: { host: "edge.localhost" }, udp: { host: "127.0.0.1", port: 5060 } },
  isMyself: (t) => isMyself(config, t),
});

/** An in-dialog request (To tag) as the callee or caller sends it, with a route set. */
function inDialog(method: string, ruri: string, routes: string[]): string {
  return crlf(
    `${method} ${ruri} SIP/2.0`,
    "Via: SIP/2.0/WSS a1.invalid;branch=z9hG4bKdlg1",
    "Max-Forwards: 70",
    ...routes.map((r) => `Route: ${r}`),
    "From: <sip:bob@edge.localhost>;tag=bob1",
    "To: <sip:alice@edge.localhost>;tag=alice1",
    "Call-ID: dlg-1",
    "CSeq: 2 " + method,
    "Content-Length: 0",
    "",
    "",
  );
}

describe("rr.recordRoute (RFC 3261 §16.6 item 4)", () => {
  it("adds one entry on top of the existing Record-Route with transport=ws, lr and the flow token", () => {
    const req = request(invite({ extra: ["Record-Route: <sip:other.example.com;lr>"] }));
    rr.recordRoute(req, { inbound: { transport: "ws", flow: "f-alice" } });
    expect(req.headers.getAll("record-route")).toEqual([
      "<sip:edge.localhost;transport=ws;lr;flow=f-alice>",
      "<sip:other.example.com;lr>",
    ]);
  });

  it("records two entries (r2=on) when the request leaves on another transport: udp side on top", () => {
    const req = request(invite());
    rr.recordRoute(req, { inbound: { transport: "wss", flow: "f-alice" }, outbound: { transport: "udp" } });
    expect(req.headers.getAll("record-route")).toEqual([
      "<sip:127.0.0.1:5060;transport=udp;lr;r2=on>",
      "<sip:edge.localhost;transport=ws;lr;r2=on;flow=f-alice>",
    ]);
  });

  it("records two entries between two WebSocket flows, so both flow tokens are in the route set", () => {
    const req = request(invite());
    rr.recordRoute(req, { inbound: { transport: "ws", flow: "f-alice" }, outbound: { transport: "ws", flow: "f-bob" } });
    expect(req.headers.getAll("record-route")).toEqual([
      "<sip:edge.localhost;transport=ws;lr;r2=on;flow=f-bob>",
      "<sip:edge.localhost;transport=ws;lr;r2=on;flow=f-alice>",
    ]);
  });

  it("appends ;ftag when append_fromtag is on, and add_rr_param adds to this proxy's entries only", () => {
    const withFtag = createRr({ listen: { ws: { host: "edge.localhost" } }, isMyself: (t) => isMyself(config, t), appendFromtag: true });
    const req = request(invite({ extra: ["Record-Route: <sip:other.example.com;lr>"] }));
    withFtag.recordRoute(req);
    expect(withFtag.addRrParam(req, "nat", "yes")).toBe(true);
    expect(req.headers.getAll("record-route")).toEqual([
      "<sip:edge.localhost;transport=ws;lr;ftag=asdyka899;nat=yes>",
      "<sip:other.example.com;lr>",
    ]);
    expect(rr.addRrParam(request(invite()), "nat", "yes")).toBe(false);
  });
});

describe("rr.looseRoute (RFC 3261 §16.4)", () => {
  it("without Route headers the request is not routed by a route set", () => {
    expect(rr.looseRoute(request(inDialog("BYE", "sip:alice@a1.invalid;transport=ws", [])))).toEqual({ routed: false });
  });

  it("one Route naming this proxy is removed; the next hop is the Request-URI and the flow token is returned", () => {
    const req = request(inDialog("BYE", "sip:alice@a1.invalid;transport=ws", ["<sip:edge.localhost;transport=ws;lr;flow=f-alice>"]));
    const result = rr.looseRoute(req, "f-bob");
    expect(result).toMatchObject({
      routed: true, popped: 1, strictPreviousHop: false, next: "ruri", nextHop: "sip:alice@a1.invalid;transport=ws",
      flow: "f-alice", routeParams: ";transport=ws;lr;flow=f-alice", inbound: { flow: "f-alice", host: "edge.localhost" },
    });
    expect(req.headers.has("route")).toBe(false);
    expect(rr.checkRouteParam(result, /flow=f-alice/)).toBe(true);
    expect(rr.checkRouteParam(result, /nat=yes/)).toBe(false);
  });

  it("double record-routing: both entries are removed; the flow is the one the request did not arrive on", () => {
    const routes = ["<sip:edge.localhost;transport=ws;lr;r2=on;flow=f-alice>, <sip:edge.localhost;transport=ws;lr;r2=on;flow=f-bob>"];
    const fromAlice = rr.looseRoute(request(inDialog("BYE", "sip:bob@b1.invalid;transport=ws", routes)), "f-alice");
    expect(fromAlice).toMatchObject({ routed: true, popped: 2, next: "ruri", flow: "f-bob" });
    // The callee's route set is the Record-Route list as is; the caller's is reversed (§12.1).
    const calleeSet = ["<sip:edge.localhost;transport=ws;lr;r2=on;flow=f-bob>", "<sip:edge.localhost;transport=ws;lr;r2=on;flow=f-alice>"];
    const fromBob = rr.looseRoute(request(inDialog("BYE", "sip:alice@a1.invalid;transport=ws", calleeSet)), "f-bob");
    expect(fromBob).toMatchObject({ popped: 2, next: "ruri", flow: "f-alice" });
  });

  it("double record-routing ws→udp: a gateway's BYE pops both entries and goes to the caller's flow", () => {
    const req = request(
      inDialog("BYE", "sip:alice@a1.invalid;transport=ws", [
        "<sip:127.0.0.1:5060;transport=udp;lr;r2=on>",
        "<sip:edge.localhost;transport=ws;lr;r2=on;flow=f-alice>",
      ]),
    );
    expect(rr.looseRoute(req)).toMatchObject({ routed: true, popped: 2, next: "ruri", flow: "f-alice" });
    expect(req.headers.has("route")).toBe(false);
  });

  it("a Route set that continues past this proxy: the next hop is the next Route", () => {
    const req = request(inDialog("BYE", "sip:alice@a1.invalid", ["<sip:edge.localhost;lr>", "<sip:p2.example.com;lr>"]));
    expect(rr.looseRoute(req)).toMatchObject({ popped: 1, next: "route", nextHop: "sip:p2.example.com;lr" });
    expect(req.headers.getAll("route")).toEqual(["<sip:p2.example.com;lr>"]);
  });

  it("a top Route that is not this proxy is left alone (popped 0)", () => {
    const req = request(inDialog("BYE", "sip:alice@a1.invalid", ["<sip:p2.example.com;lr>"]));
    expect(rr.looseRoute(req)).toMatchObject({ routed: true, popped: 0, next: "route", nextHop: "sip:p2.example.com;lr" });
  });

  it("the previous hop was a strict router: the Request-URI is our Record-Route, the last Route becomes the Request-URI", () => {
    const req = request(inDialog("BYE", "sip:edge.localhost;transport=ws;lr;flow=f-alice", ["<sip:alice@a1.invalid;transport=ws>"]));
    const result = rr.looseRoute(req);
    expect(result).toMatchObject({ routed: true, strictPreviousHop: true, next: "ruri", nextHop: "sip:alice@a1.invalid;transport=ws", flow: "f-alice" });
    expect(req.uri).toBe("sip:alice@a1.invalid;transport=ws");
    expect(req.headers.has("route")).toBe(false);
  });

  it("the next hop is a strict router (no lr): its URI becomes the Request-URI and the old one goes last (§16.6 item 6)", () => {
    const req = request(inDialog("BYE", "sip:alice@a1.invalid", ["<sip:edge.localhost;lr>", "<sip:strict.example.com>"]));
    const options = { isMyself: (t: string | Uri) => isMyself(config, t), flowParam: "flow", signer: undefined, trusted: new Set<string>() };
    expect(looseRoute(req, undefined, options)).toMatchObject({ next: "ruri", nextHop: "sip:strict.example.com" });
    expect(req.uri).toBe("sip:strict.example.com");
    expect(req.headers.getAll("route")).toEqual(["<sip:alice@a1.invalid>"]);
  });
});

describe("signed Record-Route entries (RFC 5626 §5.2)", () => {
  const signer = new Signer({ current: "route secret" }, "sipedge rr");
  const signed = createRr({
    listen: { ws: { host: "edge.localhost" }, udp: { host: "127.0.0.9", port: 5060 } },
    isMyself: (t) => isMyself(parseConfig({ SIP_DOMAIN: "edge.localhost", SIP_ALIASES: "" }), t),
    signer,
  });

  /** The Record-Route entries the proxy writes for a WebSocket caller to a gateway. */
  const callId = request(invite()).callId;
  function recorded(): string[] {
    const req = request(invite());
    signed.recordRoute(req, { inbound: { transport: "wss", flow: "3.sAAA", params: { inst: "k1" } }, outbound: { transport: "udp", params: { dst: "127.0.0.20:5060" } }, params: { shard: "3" } });
    return req.headers.getAll("record-route");
  }

  /** A gateway's BYE along the route set (the Record-Route in order), in the INVITE's call unless told. */
  function gatewayBye(routes: string[], inCall = callId): ReturnType<typeof request> {
    return request(inDialog("BYE", "sip:alice@a1.invalid;transport=ws", routes).replace("Call-ID: dlg-1", `Call-ID: ${inCall}`));
  }

  it("every entry carries a signature over its parameters; the UDP side names the bridge's address", () => {
    const [udp, ws] = recorded();
    expect(udp).toMatch(/^<sip:127\.0\.0\.9:5060;transport=udp;lr;r2=on;dst=127\.0\.0\.20:5060;shard=3;sg=[A-Za-z0-9_-]{16}>$/);
    expect(ws).toMatch(/^<sip:edge\.localhost;transport=ws;lr;r2=on;flow=3\.sAAA;inst=k1;shard=3;sg=[A-Za-z0-9_-]{16}>$/);
  });

  it("loose_route recognises its entries by signature although the bridge's address is no alias", () => {
    const result = signed.looseRoute(gatewayBye(recorded()));
    expect(result).toMatchObject({ routed: true, popped: 2, flow: "3.sAAA", inbound: { host: "127.0.0.9", port: 5060 }, outbound: { flow: "3.sAAA" } });
  });

  it("an altered flow token, an entry of another call and an unsigned flow entry are refused", () => {
    const routes = recorded();
    const tampered = routes.map((r) => r.replace("flow=3.sAAA", "flow=3.sBBB"));
    expect(signed.looseRoute(gatewayBye(tampered))).toEqual({ routed: false, refused: "bad-signature" });
    expect(signed.looseRoute(gatewayBye(routes, "another-call"))).toEqual({ routed: false, refused: "bad-signature" });
    const unsigned = ["<sip:edge.localhost;transport=ws;lr;flow=3.sAAA>"];
    expect(signed.looseRoute(gatewayBye(unsigned))).toEqual({ routed: false, refused: "unsigned" });
  });

  it("a plain Route naming the proxy (no routing state) is still taken off", () => {
    expect(signed.looseRoute(gatewayBye(["<sip:edge.localhost;lr>"]))).toMatchObject({ routed: true, popped: 1 });
  });

  it("add_rr_param signs the entries again", () => {
    const req = request(invite());
    signed.recordRoute(req, { inbound: { transport: "ws", flow: "1.wA" } });
    expect(signed.addRrParam(req, "nat", "yes")).toBe(true);
    const routes = req.headers.getAll("record-route");
    expect(routes[0]).toContain(";nat=yes;sg=");
    expect(signed.looseRoute(request(inDialog("BYE", "sip:alice@a1.invalid", routes).replace("Call-ID: dlg-1", `Call-ID: ${req.callId}`)))).toMatchObject({ routed: true, popped: 1 });
  });
});

describe("Path entries (Kamailio path add_path, RFC 3327; RFC 5626 §5.1 edge proxy)", () => {
  const signer = new Signer({ current: "route secret" }, "sipedge rr");
  const signed = createRr({
    listen: { ws: { host: "edge.localhost" }, udp: { host: "127.0.0.9", port: 5060 } },
    isMyself: (t) => isMyself(parseConfig({ SIP_DOMAIN: "edge.localhost", SIP_ALIASES: "" }), t),
    signer,
  });

  function registerPath(): string {
    const req = request(nonInvite("REGISTER", { extra: ["Path: <sip:outer.example.com;lr>"] }));
    signed.addPath(req, { transport: "udp", flow: "5.wCCC" });
    const [ours, theirs] = req.headers.getAll("path");
    expect(theirs).toBe("<sip:outer.example.com;lr>");
    return ours ?? "";
  }

  /** A registrar's request to the contact, in a call of its own, with the Path as its Route. */
  function toContact(route: string, callId: string) {
    return request(inDialog("INVITE", "sip:alice@a1.invalid;transport=ws", [route]).replace("Call-ID: dlg-1", `Call-ID: ${callId}`).replace(";tag=alice1", ""));
  }

  it("is added on top of the REGISTER's Path, facing the registrar, with the flow, ob and a signature", () => {
    expect(registerPath()).toMatch(/^<sip:127\.0\.0\.9:5060;transport=udp;lr;flow=5\.wCCC;ob;sg=[A-Za-z0-9_-]{16}>$/);
  });

  it("routes every later call to the contact to the flow: its signature does not bind a Call-ID", () => {
    const path = registerPath();
    for (const callId of ["call-1", "call-2"]) expect(signed.looseRoute(toContact(path, callId))).toMatchObject({ routed: true, popped: 1, flow: "5.wCCC" });
  });

  it("a Record-Route entry cannot pass for a Path entry, nor a Path entry with another flow", () => {
    const req = request(invite());
    signed.recordRoute(req, { inbound: { transport: "udp", flow: "5.wCCC" } });
    const rrEntry = req.headers.getAll("record-route")[0] ?? "";
    const asPath = rrEntry.replace(";sg=", ";ob;sg=");
    expect(signed.looseRoute(toContact(asPath, "call-3"))).toEqual({ routed: false, refused: "bad-signature" });
    expect(signed.looseRoute(toContact(registerPath().replace("5.wCCC", "5.wDDD"), "call-3"))).toEqual({ routed: false, refused: "bad-signature" });
  });
});

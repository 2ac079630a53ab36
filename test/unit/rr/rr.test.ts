import { describe, expect, it } from "vitest";
import { createRr, looseRoute } from "../../../src/modules/rr/index.ts";
import { isMyself } from "../../../src/routing/context.ts";
import { parseConfig } from "../../../src/config.ts";
import { crlf, invite, request } from "../transactions/helpers.ts";

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
    expect(result).toEqual({
      routed: true, popped: 1, strictPreviousHop: false, next: "ruri", nextHop: "sip:alice@a1.invalid;transport=ws",
      flow: "f-alice", routeParams: ";transport=ws;lr;flow=f-alice",
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
    expect(looseRoute(req, undefined, (t) => isMyself(config, t))).toMatchObject({ next: "ruri", nextHop: "sip:strict.example.com" });
    expect(req.uri).toBe("sip:strict.example.com");
    expect(req.headers.getAll("route")).toEqual(["<sip:alice@a1.invalid>"]);
  });
});

/**
 * The bridge's own HTTP side (`--http IP:PORT`): `/health` for a container health check or a load
 * balancer (200 while the UDP socket is bound and at least one edge link is up, else 503), and
 * `/metrics` in the Prometheus text format (bearer `--metrics-token` when set).
 */
import http from "node:http";
import { timingSafeEqual, createHash } from "node:crypto";
import type { Logger } from "../src/log.ts";
import { CONTENT_TYPE, renderExposition, type Family } from "../src/metrics/exposition.ts";
import type { Bridge } from "./bridge.ts";
import type { Address } from "./frame.ts";

export interface BridgeHttpOptions {
  bridge: Bridge;
  listen: Address;
  token: string | undefined;
  log: Logger;
  id: string;
}

const counter = (name: string, help: string, value: number): Family => ({ name, help, type: "counter", samples: [{ value }] });
const gauge = (name: string, help: string, value: number): Family => ({ name, help, type: "gauge", samples: [{ value }] });

/** The bridge's counters and gauges (they start at zero with the process). */
export function bridgeFamilies(bridge: Bridge): Family[] {
  const s = bridge.stats;
  const links = bridge.shardLinks;
  const reconnects = links.reduce((n, l) => n + Math.max(0, l.opens - 1), 0);
  return [
    { name: "sipedge_bridge_datagrams_total", help: "UDP datagrams, by direction (received from gateways, sent to gateways incl. retransmissions)", type: "counter",
      samples: [{ labels: { direction: "received" }, value: s.fromGateway }, { labels: { direction: "sent" }, value: s.toGateway }] },
    { name: "sipedge_bridge_frames_total", help: "Frames on the edge links (datagrams and control), by direction", type: "counter",
      samples: [{ labels: { direction: "to_edge" }, value: s.toEdge }, { labels: { direction: "from_edge" }, value: s.fromEdge }] },
    { name: "sipedge_bridge_link_messages_total", help: "WebSocket messages on the edge links (a v2 batch carries several frames), by direction", type: "counter",
      samples: [{ labels: { direction: "to_edge" }, value: links.reduce((n, l) => n + l.messagesSent, 0) }, { labels: { direction: "from_edge" }, value: s.messagesFromEdge }] },
    { name: "sipedge_bridge_retransmissions_total", help: "UDP retransmissions the bridge sent (requests: Timer A/E; final responses: Timer G)", type: "counter",
      samples: [{ labels: { kind: "request" }, value: bridge.client.retransmissions }, { labels: { kind: "response" }, value: bridge.server.retransmissions }] },
    counter("sipedge_bridge_absorbed_total", "Duplicate requests and responses absorbed (not passed to the edge)", s.absorbed),
    counter("sipedge_bridge_dropped_total", "Datagrams dropped because no edge link was open or its buffer was full", s.dropped),
    counter("sipedge_bridge_unparseable_total", "Datagrams that were not SIP (keep-alives, junk)", s.unparseable),
    counter("sipedge_bridge_timeouts_total", "Requests to gateways without a final response (Timer B/F)", s.timeouts),
    counter("sipedge_bridge_unreachable_total", "Datagrams the bridge could not send (DNS, address, socket errors)", s.unreachable),
    counter("sipedge_bridge_link_reconnects_total", "Edge links that came up again after going down", reconnects),
    gauge("sipedge_bridge_links_up", "Edge links open now", links.filter((l) => l.open).length),
    gauge("sipedge_bridge_links", "Edge links wanted (one per edge shard)", links.length),
    { name: "sipedge_bridge_transactions", help: "UDP transactions remembered, by side", type: "gauge",
      samples: [{ labels: { side: "client" }, value: bridge.client.table.size }, { labels: { side: "server" }, value: bridge.server.table.size }] },
  ];
}

const digest = (text: string) => createHash("sha256").update(text).digest();

function tokenOk(header: string | undefined, tokens: string): boolean {
  const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  if (m === null) return false;
  const presented = digest(m[1] as string);
  let ok = false;
  for (const t of tokens.split(",").map((x) => x.trim()).filter((x) => x !== "")) if (timingSafeEqual(digest(t), presented)) ok = true;
  return ok;
}

export async function startHttp(options: BridgeHttpOptions): Promise<http.Server> {
  const { bridge, token, log } = options;
  const server = http.createServer((req, res) => {
    const url = req.url ?? "/";
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    if (url === "/health") {
      const up = bridge.shardLinks.filter((l) => l.open).length;
      const healthy = up > 0;
      res.writeHead(healthy ? 200 : 503, { "Content-Type": "application/json" }).end(JSON.stringify({ status: healthy ? "ok" : "no edge link", id: options.id, linksUp: up, links: bridge.shardLinks.length, advertise: bridge.advertise }));
      return;
    }
    if (url === "/metrics") {
      if (token !== undefined && !tokenOk(req.headers.authorization, token)) {
        res.writeHead(401, { "WWW-Authenticate": 'Bearer realm="sipedge bridge metrics"', "Content-Type": "text/plain" }).end("bearer token required\n");
        return;
      }
      res.writeHead(200, { "Content-Type": CONTENT_TYPE, "Cache-Control": "no-store" }).end(renderExposition(bridgeFamilies(bridge)));
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain" }).end("not found: /health, /metrics\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.listen.port, options.listen.address, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address();
  log.info("http listening", { address: typeof a === "object" && a !== null ? `${a.address}:${a.port}` : String(a), metricsToken: token !== undefined });
  return server;
}

/**
 * Bridge settings from flags or environment (a flag wins). Every error names the flag and its
 * variable, so a bad deployment says what to fix.
 */
import { hostname } from "node:os";
import { isIP } from "node:net";
import { isLogLevel, type LogLevel } from "../src/log.ts";
import { fail, ok, type Parsed } from "../src/sip/result.ts";
import { parsePort, parseTarget, type Address } from "./frame.ts";
import { parseRtpengineSock, type SetConfig } from "./rtpengine/pool.ts";

export interface BridgeConfig {
  /** The edge's base URL as ws:// or wss:// (http(s) accepted and converted). */
  edge: string;
  /** The same base as http(s)://, for the shard-count request. */
  edgeHttp: string;
  secret: string;
  listen: Address;
  /** `host:port` the edge writes into Via/Record-Route for the UDP side; undefined: the bound address. */
  advertise: string | undefined;
  id: string;
  /** DNS servers for destination host names; empty: the system's. */
  dns: string[];
  logLevel: LogLevel;
  maxTransactions: number;
  pingIntervalMs: number;
  socketBufferBytes: number;
  /** HTTP listener for /health and /metrics (the container's health check, Prometheus); undefined: none. */
  http: Address | undefined;
  /** Bearer token(s) /metrics asks for, comma-separated; undefined: open to whoever reaches `http`. */
  metricsToken: string | undefined;
  /** rtpengine sets (Kamailio `rtpengine_sock`); undefined: media anchoring requests are refused. */
  rtpengine: { sets: SetConfig[]; timeoutMs: number; tries: number; disableMs: number } | undefined;
}

interface Setting {
  flag: string;
  env: string;
}

const SETTINGS = {
  edge: { flag: "--edge", env: "SIPEDGE_EDGE_URL" },
  secret: { flag: "--secret", env: "SIPEDGE_BRIDGE_SECRET" },
  secretFile: { flag: "--secret-file", env: "SIPEDGE_BRIDGE_SECRET_FILE" },
  listen: { flag: "--listen", env: "SIPEDGE_BRIDGE_LISTEN" },
  advertise: { flag: "--advertise", env: "SIPEDGE_BRIDGE_ADVERTISE" },
  id: { flag: "--id", env: "SIPEDGE_BRIDGE_ID" },
  dns: { flag: "--dns", env: "SIPEDGE_BRIDGE_DNS" },
  logLevel: { flag: "--log-level", env: "SIPEDGE_BRIDGE_LOG_LEVEL" },
  maxTransactions: { flag: "--max-transactions", env: "SIPEDGE_BRIDGE_MAX_TRANSACTIONS" },
  pingInterval: { flag: "--ping-interval", env: "SIPEDGE_BRIDGE_PING_INTERVAL" },
  socketBuffer: { flag: "--socket-buffer", env: "SIPEDGE_BRIDGE_SOCKET_BUFFER" },
  http: { flag: "--http", env: "SIPEDGE_BRIDGE_HTTP" },
  metricsToken: { flag: "--metrics-token", env: "SIPEDGE_BRIDGE_METRICS_TOKEN" },
  rtpengine: { flag: "--rtpengine", env: "SIPEDGE_BRIDGE_RTPENGINE" },
  rtpengineTimeout: { flag: "--rtpengine-timeout", env: "SIPEDGE_BRIDGE_RTPENGINE_TIMEOUT" },
  rtpengineTries: { flag: "--rtpengine-tries", env: "SIPEDGE_BRIDGE_RTPENGINE_TRIES" },
  rtpengineDisable: { flag: "--rtpengine-disable-time", env: "SIPEDGE_BRIDGE_RTPENGINE_DISABLE_TIME" },
} as const satisfies Record<string, Setting>;

type Key = keyof typeof SETTINGS;

export const USAGE = `Usage: sipedge-bridge [options]   (each option also reads the environment variable shown)
  --edge URL              edge base URL (SIPEDGE_EDGE_URL, default http://127.0.0.1:8787)
  --secret-file PATH      file holding the shared secret for /bridge (SIPEDGE_BRIDGE_SECRET_FILE)
  --secret TEXT           the secret itself (SIPEDGE_BRIDGE_SECRET); prefer the file or the variable:
                          a flag's value is visible to every user in \`ps\`
  --listen IP:PORT        UDP address to bind (SIPEDGE_BRIDGE_LISTEN, default 127.0.0.1:5060)
  --advertise HOST:PORT   address the edge puts in Via/Record-Route (SIPEDGE_BRIDGE_ADVERTISE, default: listen)
  --id NAME               bridge id, unique per edge (SIPEDGE_BRIDGE_ID, default hostname-pid)
  --dns IP[:PORT][,...]   DNS servers for destination names (SIPEDGE_BRIDGE_DNS, default: system)
  --log-level LEVEL       debug, info, warn or error (SIPEDGE_BRIDGE_LOG_LEVEL, default info)
  --max-transactions N    bound on remembered UDP transactions (SIPEDGE_BRIDGE_MAX_TRANSACTIONS, default 200000)
  --ping-interval SEC     WebSocket ping interval, 0 = off (SIPEDGE_BRIDGE_PING_INTERVAL, default 20)
  --socket-buffer BYTES   UDP send/receive buffer (SIPEDGE_BRIDGE_SOCKET_BUFFER, default 4194304)
  --http IP:PORT          serve /health and /metrics there (SIPEDGE_BRIDGE_HTTP, default: off)
  --metrics-token TEXT    bearer token /metrics requires (SIPEDGE_BRIDGE_METRICS_TOKEN, default: none)
  --rtpengine SOCKS       rtpengine ng listeners, Kamailio rtpengine_sock syntax, e.g.
                          "udp:127.0.0.1:2223" or "udp:10.0.0.5:2223=2 udp:10.0.0.6:2223; 1 == udp:10.0.1.5:2223"
                          (SIPEDGE_BRIDGE_RTPENGINE, default: none, media requests are refused)
  --rtpengine-timeout MS  wait for an ng reply before resending (SIPEDGE_BRIDGE_RTPENGINE_TIMEOUT, default 1000)
  --rtpengine-tries N     sends per ng command, the first included (SIPEDGE_BRIDGE_RTPENGINE_TRIES, default 2)
  --rtpengine-disable-time SEC  ping a silent rtpengine this often until it answers (SIPEDGE_BRIDGE_RTPENGINE_DISABLE_TIME, default 5)
  --help                  this text`;

export type ConfigResult = Parsed<BridgeConfig> | { ok: false; help: true; reason: string };

/**
 * `readFile` reads --secret-file (the only setting that is not a plain value); it returns
 * undefined for a file it cannot read.
 */
export function parseConfig(argv: readonly string[], env: Record<string, string | undefined>, readFile: (path: string) => string | undefined = () => undefined): ConfigResult {
  const given = new Map<Key, string>();
  const byFlag = new Map<string, Key>(Object.entries(SETTINGS).map(([key, s]) => [s.flag, key as Key]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--help" || arg === "-h") return { ok: false, help: true, reason: USAGE };
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = byFlag.get(flag);
    if (key === undefined) return fail(`unknown option ${JSON.stringify(arg)} (see --help)`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) return fail(`${flag}: missing value`);
    given.set(key, value);
  }
  const read = (key: Key): string | undefined => given.get(key) ?? nonEmpty(env[SETTINGS[key].env]);
  const bad = (key: Key, why: string): ConfigResult => fail(`${SETTINGS[key].flag} / ${SETTINGS[key].env}: ${why}`);

  const edge = parseEdgeUrl(read("edge") ?? "http://127.0.0.1:8787");
  if (!edge.ok) return bad("edge", edge.reason);
  const secretFile = read("secretFile");
  let secret = read("secret");
  if (secretFile !== undefined) {
    if (secret !== undefined) return bad("secretFile", `give the secret once: a file or ${SETTINGS.secret.flag} / ${SETTINGS.secret.env}, not both`);
    secret = readFile(secretFile)?.trim();
    if (!secret) return bad("secretFile", `cannot read a secret from ${JSON.stringify(secretFile)}`);
  }
  if (secret === undefined) return bad("secret", "required (the shared secret the edge checks on /bridge): --secret-file, or the variable");
  const listen = parseListen(read("listen") ?? "127.0.0.1:5060");
  if (!listen.ok) return bad("listen", listen.reason);
  const advertiseText = read("advertise");
  if (advertiseText !== undefined) {
    const advertise = parseTarget(advertiseText);
    if (!advertise.ok || advertise.value.port === undefined) {
      return bad("advertise", `expected HOST:PORT, got ${JSON.stringify(advertiseText)}`);
    }
  }
  const id = read("id") ?? `${hostname()}-${process.pid}`;
  if (!/^[A-Za-z0-9._~-]{1,64}$/.test(id)) return bad("id", "1-64 letters, digits or . _ ~ -");
  const dns = parseDnsServers(read("dns"));
  if (!dns.ok) return bad("dns", dns.reason);
  const logLevel = read("logLevel") ?? "info";
  if (!isLogLevel(logLevel)) return bad("logLevel", "one of debug, info, warn, error");
  const maxTransactions = parseCount(read("maxTransactions") ?? "200000", 100, 10_000_000);
  if (maxTransactions === undefined) return bad("maxTransactions", "a whole number from 100 to 10000000");
  const ping = parseCount(read("pingInterval") ?? "20", 0, 3600);
  if (ping === undefined) return bad("pingInterval", "whole seconds from 0 to 3600");
  const buffer = parseCount(read("socketBuffer") ?? "4194304", 65_536, 1 << 30);
  if (buffer === undefined) return bad("socketBuffer", "bytes from 65536 to 1073741824");
  const httpText = read("http");
  const http = httpText === undefined ? undefined : parseListen(httpText);
  if (http !== undefined && !http.ok) return bad("http", http.reason);
  const rtpengine = parseRtpengine(read);
  if (!rtpengine.ok) return bad(rtpengine.key, rtpengine.reason);
  return ok({
    ...edge.value,
    secret,
    listen: listen.value,
    advertise: advertiseText,
    id,
    dns: dns.value,
    logLevel,
    maxTransactions,
    pingIntervalMs: ping * 1000,
    socketBufferBytes: buffer,
    http: http?.value,
    metricsToken: read("metricsToken"),
    rtpengine: rtpengine.config,
  });
}

type RtpengineSettings = BridgeConfig["rtpengine"];

function parseRtpengine(
  read: (key: Key) => string | undefined,
): { ok: true; config: RtpengineSettings } | { ok: false; key: Key; reason: string } {
  const text = read("rtpengine");
  const timeoutMs = parseCount(read("rtpengineTimeout") ?? "1000", 10, 60_000);
  if (timeoutMs === undefined) return { ok: false, key: "rtpengineTimeout", reason: "milliseconds from 10 to 60000" };
  const tries = parseCount(read("rtpengineTries") ?? "2", 1, 10);
  if (tries === undefined) return { ok: false, key: "rtpengineTries", reason: "a whole number from 1 to 10" };
  const disable = parseCount(read("rtpengineDisable") ?? "5", 1, 3600);
  if (disable === undefined) return { ok: false, key: "rtpengineDisable", reason: "whole seconds from 1 to 3600" };
  if (text === undefined) return { ok: true, config: undefined };
  const sets = parseRtpengineSock(text);
  if (!sets.ok) return { ok: false, key: "rtpengine", reason: sets.reason };
  return { ok: true, config: { sets: sets.value, timeoutMs, tries, disableMs: disable * 1000 } };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function parseEdgeUrl(text: string): Parsed<{ edge: string; edgeHttp: string }> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(`not a URL: ${JSON.stringify(text)}`);
  }
  const schemes: Record<string, [string, string]> = {
    "http:": ["ws:", "http:"],
    "https:": ["wss:", "https:"],
    "ws:": ["ws:", "http:"],
    "wss:": ["wss:", "https:"],
  };
  const pair = schemes[url.protocol];
  if (pair === undefined) return fail(`expected http(s):// or ws(s)://, got ${url.protocol}`);
  if (url.search !== "" || url.hash !== "") return fail("no query or fragment: give the base URL");
  const base = url.host + url.pathname.replace(/\/+$/, "");
  return ok({ edge: pair[0] + "//" + base, edgeHttp: pair[1] + "//" + base });
}

/** `ip:port` or `[v6]:port`; port 0 binds any free port. */
function parseListen(text: string): Parsed<Address> {
  const v6 = text.startsWith("[");
  const cut = v6 ? text.indexOf("]:") : text.lastIndexOf(":");
  if (cut < 0) return fail(`expected IP:PORT, got ${JSON.stringify(text)}`);
  const address = v6 ? text.slice(1, cut) : text.slice(0, cut);
  const port = parsePort(text.slice(cut + (v6 ? 2 : 1)));
  if (isIP(address) === 0) return fail(`not an IP address: ${JSON.stringify(address)}`);
  if (port === undefined) return fail(`invalid port in ${JSON.stringify(text)}`);
  return ok({ address, port });
}

function parseDnsServers(text: string | undefined): Parsed<string[]> {
  if (text === undefined) return ok([]);
  const servers = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  for (const server of servers) {
    const target = parseTarget(server);
    if (!target.ok || target.value.ip === 0) return fail(`expected IP[:PORT], got ${JSON.stringify(server)}`);
  }
  return ok(servers);
}

function parseCount(text: string, min: number, max: number): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

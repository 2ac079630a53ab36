// A stack shaped like a deployment, for the end-to-end tests that matter: a SIP domain name and no
// aliases (nothing is "the proxy" because it sits on 127.0.0.1), the edge behind TLS (wss, Via
// WSS), the bridge on an address of its own that it advertises, gateways on their own addresses
// with a dispatcher list of their own, and each client on an address of its own.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { startStack } from "../../scripts/stack.mjs";
import { SNAPSHOT_MAX_AGE_MS } from "../../src/modules/dispatcher/client.ts";
import { parseMessage, type SipMessage } from "./sip-ua.ts";
import type { Sipp } from "./sipp.ts";

export const DOMAIN = "sip.example.test";
/** The edge's own address (Cloudflare's anycast address in production). */
export const EDGE_HOST = "127.0.0.8";
/** The bridge's UDP address, advertised as such. */
export const BRIDGE_HOST = "127.0.0.9";
export const BRIDGE = `${BRIDGE_HOST}:5060`;
/** Dispatcher set 1 (PSTN gateways), each on 5060 of its own address. */
export const GATEWAYS = ["127.0.0.20", "127.0.0.21", "127.0.0.22"] as const;
/** A carrier that calls in (dispatcher set 2, so `ds_is_from_list` trusts it). */
export const CARRIER = "127.0.0.23";
/** The proxies of set 2 behind the opensips-balancer script (the seed's 5080/5082, each on an address of its own). */
export const PROXIES = ["127.0.0.24", "127.0.0.25"] as const;
/** A host of another domain, reached through the bridge by the opensips-registrar script (its relay address group). */
export const FOREIGN = "127.0.0.26";
export const NUMBER = `sip:15551234567@${DOMAIN}`;
/** The admin API's bearer token in these tests. */
export const ADMIN_TOKEN = "deployment-test-admin-token";

/** Client addresses: 127.0.0.2 ... 127.0.0.7, then 127.0.0.30 ... (never the edge's, the bridge's, a gateway's or a proxy's). */
export function clientAddress(n: number): string {
  return n < 6 ? `127.0.0.${2 + n}` : `127.0.0.${30 + n - 6}`;
}

export interface TestCa {
  key: string;
  cert: string;
  certPath: string;
}

/** A self-signed certificate for the edge's name and address (openssl, Debian's). */
export async function makeTestCa(dir: string): Promise<TestCa> {
  const keyPath = path.join(dir, "edge-key.pem");
  const certPath = path.join(dir, "edge-cert.pem");
  await promisify(execFile)("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", `/CN=${DOMAIN}`, "-addext", `subjectAltName=DNS:${DOMAIN},IP:${EDGE_HOST}`,
    "-keyout", keyPath, "-out", certPath,
  ]);
  return { key: await readFile(keyPath, "utf8"), cert: await readFile(certPath, "utf8"), certPath };
}

export type Deployment = Awaited<ReturnType<typeof startStack>> & {
  ca: TestCa;
  stateDir: string;
  /** Stops the stack and removes its state. */
  destroy(): Promise<void>;
  /**
   * A deploy: the edge stops (every WebSocket drops, every object restarts) and starts again on
   * the same address with the same state and secrets; the bridge process keeps running and dials in again.
   */
  restartEdge(options?: { inspectorPort?: number }): Promise<void>;
};

export interface DeploymentOptions {
  /** Extra [vars]; SIP_DOMAIN, SIP_ALIASES and the bridge are set here. */
  vars?: Record<string, string>;
  /** The dispatcher list; default: set 1 = GATEWAYS:5060, set 2 = CARRIER:5060. */
  dispatcherList?: string;
  /** Keep state from an earlier run (restarts). */
  stateDir?: string;
  ca?: TestCa;
  port?: number;
  /** More bridge flags (e.g. `--dns` for a resolver of the test's own). */
  bridgeArgs?: string[];
  /** Run the bridge under the supervisor `npm start` uses (restarted when it dies). */
  superviseBridge?: boolean;
  /** A bundle built elsewhere (`buildWorker(outdir, entry)`), e.g. a Worker entry with scripts of its own. */
  outdir?: string;
  /**
   * Serve https/wss (default) or plain http/ws. On Cloudflare TLS ends at the front and the Worker
   * sees the upgrade in the clear, so `false` is what the isolate does in production; locally the
   * handshakes cost workerd ~0.3 ms and a Node client 1-2 ms each.
   */
  tls?: boolean;
}

export function defaultDispatcherList(): string {
  return [
    "# deployment-shaped test topology: PSTN gateways, and a carrier that calls in",
    ...GATEWAYS.map((ip) => `1 sip:${ip}:5060 0 0`),
    `2 sip:${CARRIER}:5060 0 0`,
    "",
  ].join("\n");
}

/** Starts the edge (https/wss on EDGE_HOST, or http/ws with `tls: false`) and the bridge (UDP on BRIDGE, advertised). */
export async function startDeployment(options: DeploymentOptions = {}): Promise<Deployment> {
  const stateDir = options.stateDir ?? (await mkdtemp(path.join(tmpdir(), "sipedge-deploy-")));
  const ca = options.ca ?? (await makeTestCa(stateDir));
  const tls = options.tls === false ? {} : { tls: { key: ca.key, cert: ca.cert } };
  const listPath = path.join(stateDir, "dispatcher.list");
  await writeFile(listPath, options.dispatcherList ?? defaultDispatcherList());
  const stack = await startStack({
    host: EDGE_HOST,
    port: options.port ?? 0,
    stateDir,
    build: false,
    ...(options.outdir === undefined ? {} : { outdir: options.outdir }),
    ...tls,
    dispatcherList: listPath,
    vars: { SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", LOG_LEVEL: "warn", ADMIN_TOKEN, ...options.vars },
    bridge: {
      listen: BRIDGE,
      extraArgs: ["--advertise", BRIDGE, ...(options.bridgeArgs ?? [])],
      env: { NODE_EXTRA_CA_CERTS: ca.certPath },
      supervise: options.superviseBridge ?? false,
    },
  });
  const vars = { SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", LOG_LEVEL: "warn", ADMIN_TOKEN, ...options.vars, BRIDGE_SECRET: stack.bridgeSecret };
  const deployment: Deployment = Object.assign(stack, {
    ca,
    stateDir,
    async destroy() {
      await deployment.stop();
      if (options.stateDir === undefined) await rm(stateDir, { recursive: true, force: true });
    },
    async restartEdge(restart: { inspectorPort?: number } = {}) {
      await deployment.mf.dispose();
      const port = Number(new URL(deployment.url).port);
      const inspector = restart.inspectorPort === undefined ? {} : { inspectorPort: restart.inspectorPort };
      const bundle = options.outdir === undefined ? {} : { outdir: options.outdir };
      const edge = await startStack({ host: EDGE_HOST, port, stateDir, build: false, ...tls, dispatcherList: listPath, vars, prepare: false, ...bundle, ...inspector });
      deployment.mf = edge.mf;
      const bridge = deployment.bridge;
      deployment.stop = async () => {
        await bridge?.stop();
        await edge.mf.dispose();
      };
    },
  });
  return deployment;
}

/** An admin API call through Miniflare's own local socket (no TLS trust needed in the test process). */
export async function admin(dep: Deployment, route: string, init: RequestInit = {}): Promise<Response> {
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers as Record<string, string> | undefined) };
  return (await dep.mf.dispatchFetch(`http://127.0.0.1/admin${route}`, { ...init, headers } as never)) as unknown as Response;
}

/** Polls `check` every 50 ms until it holds; throws naming `what` after `ms`. */
export async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until every destination of `uris` is usable ("active") or not ("down": inactive, or
 * inactive and probing, Kamailio's IP), as probing and ds_mark_dst leave them; or throws. Then
 * it waits until every shard selects from states at least that new: a shard's copy of the
 * Dispatcher object's states is used as it is for up to 2 × SNAPSHOT_MAX_AGE_MS (refreshed in the
 * background after the first), so a call right after a gateway came back could still skip it
 * (or, all of them seen down within RECHECK_AFTER_MS of the change, be refused).
 */
export async function waitForDestinations(dep: Deployment, uris: readonly string[], state: "active" | "down", ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  let seen = "";
  while (Date.now() < deadline) {
    const body = (await (await admin(dep, "/dispatcher")).json()) as { sets: { destinations: { uri: string; state: string }[] }[] };
    const states = new Map(body.sets.flatMap((s) => s.destinations.map((d) => [d.uri, d.state] as const)));
    seen = JSON.stringify(Object.fromEntries(states));
    if (uris.every((u) => (state === "active" ? states.get(u) === "active" : ["inactive", "probing"].includes(states.get(u) ?? "")))) {
      await new Promise((r) => setTimeout(r, 2 * SNAPSHOT_MAX_AGE_MS + 100));
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`destinations ${uris.join(", ")} not ${state} within ${ms} ms: ${seen}`);
}

export const gatewayUri = (ip: string): string => `sip:${ip}:5060`;

/** What `gateways` (sipp) received in the call `callId`, parsed, once `n` messages arrived or `ms` passed. */
export async function gatewayReceived(gateways: readonly Sipp[], callId: string, n: number, ms: number): Promise<SipMessage[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const all = (await Promise.all(gateways.map((g) => g.messages()))).flat().filter((m) => m.callId === callId && m.dir === "received");
    if (all.length >= n || Date.now() > deadline) return all.map((m) => parseMessage(m.text));
    await new Promise((r) => setTimeout(r, 100));
  }
}

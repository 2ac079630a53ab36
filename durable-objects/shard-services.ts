import type { Config } from "../src/config.ts";
import type { Env } from "../src/env.ts";
import type { Logger } from "../src/log.ts";
import { createAuth, type Auth, type SubscriberLookup } from "../src/modules/auth/index.ts";
import { DispatcherClient } from "../src/modules/dispatcher/client.ts";
import { createForwarder } from "../src/modules/forward/index.ts";
import type { PermissionsLoader } from "../src/modules/permissions/script.ts";
import { createRegistrar } from "../src/modules/registrar/index.ts";
import { LocationClient, type LocationStub } from "../src/modules/registrar/location-client.ts";
import { createRr } from "../src/modules/rr/index.ts";
import { RtpengineClient } from "../src/modules/rtpengine/client.ts";
import { Tm, type Target } from "../src/modules/tm/index.ts";
import { aliasCacheFor } from "../src/provisioning/alias-lookup.ts";
import { subscriberCacheFor } from "../src/provisioning/subscriber-lookup.ts";
import { isMyself, type Services } from "../src/routing/context.ts";
import type { SipRequest, SipResponse } from "../src/sip/message.ts";
import type { Timers } from "../src/sip/timers.ts";
import { flowTransport } from "../src/transport/flow.ts";
import type { BridgeLinks } from "./bridge-links.ts";
import type { GuardClient } from "./guard.ts";
import { callCountService, locationOf } from "./location.ts";
import type { RouteSigners } from "./route-signing.ts";
import type { ShardOps } from "./shard-ops.ts";
import { createUacService } from "./uac-service.ts";

/** What a shard hands its route script's modules: built once per object. */
export type ShardServices = Services & { location: LocationClient; tm: Tm; rtpengine: RtpengineClient };

export interface ShardParts {
  env: Env;
  config: Config;
  log: Logger;
  shard: string;
  bridges: BridgeLinks;
  guard: GuardClient;
  permissions: PermissionsLoader;
  ops: ShardOps;
  signers: RouteSigners;
  /** Sends a request to a flow or through a bridge; false: it could not leave. */
  sendRequest: (request: SipRequest, target: Target) => boolean;
  routeResponse: (response: SipResponse) => Promise<void>;
  /** A transaction ended (its stored copy goes). */
  forgotten: (id: string) => void;
  /** tm's scheduler (counted, for the pending-timers gauge). */
  timers: Timers;
}

/**
 * The services of a SipConnection shard: digest auth over D1 subscribers, Location objects
 * behind a cache, tm with signed branches, rr with signed entries, stateless forwarding with a
 * signed return path, the aliases table, the Dispatcher's snapshot, and this shard's bridge
 * links as part of `is_myself`. The dialog store joins later (it needs tm).
 */
export function shardServices(p: ShardParts): ShardServices {
  const { env, config, log, shard, bridges, ops, signers } = p;
  // This shard's lookups share a D1 query in flight among themselves, never with another object.
  const subscribers = subscriberCacheFor(env.DB).lookupFor({}, {
    ttl: config.subscriberCacheTtl * 1000,
    domainOf: (realm) => {
      const name = realm.toLowerCase();
      return config.aliases.includes(name) ? config.domain : name;
    },
  });
  const host = { host: config.domain };
  const dispatcher = env.DISPATCHER.get(env.DISPATCHER.idFromName("default"));
  const isBridgeAddress = (h: string, port: number | undefined): boolean => bridges.isAdvertised(h, port);
  // RFC 7118 §5: the Via transport of a branch toward a client is how that client connected.
  const viaFor = (target: Target) => (target.flow === undefined ? undefined : { transport: flowTransport(target.flow) === "wss" ? "WSS" : "WS", host: config.domain });
  const subscriberExists = async (user: string, domain: string): Promise<boolean> => (await subscribers({ username: user, user, realm: domain })) !== undefined;
  return {
    guard: ops.guard(p.guard),
    calls: callCountService(env.LOCATION, subscriberExists),
    acc: ops.acc,
    permissions: p.permissions.load,
    auth: createEdgeAuth(env, config, subscribers),
    location: createLocationClient(env, config, (stub, aor) => ops.indexed(stub, aor)),
    subscriberExists,
    tm: new Tm({
      ownerId: shard,
      sentBy: { transport: "WS", host: config.domain },
      viaFor,
      signer: signers.branch,
      sendRequest: p.sendRequest,
      timers: p.timers,
      frTimer: config.tm.frTimer,
      frInvTimer: config.tm.frInvTimer,
      log,
      serverHeader: config.serverHeader,
      onForget: p.forgotten,
      events: ops.tmEvents,
    }),
    rr: createRr({
      listen: Object.assign(bridges.listen, { ws: host, wss: host }),
      isMyself: (target) => isMyself(config, target, isBridgeAddress),
      signer: signers.rr,
    }),
    routeResponse: p.routeResponse,
    forwarder: createForwarder({
      ownerId: shard,
      signer: signers.branch,
      viaFor: (target) => viaFor(target) ?? { transport: "WS", host: config.domain },
      sendRequest: p.sendRequest,
    }),
    // This shard's concurrent misses of one alias share one D1 read, never another object's.
    aliases: aliasCacheFor(env.DB).lookupFor({}),
    dispatcher: new DispatcherClient({
      snapshot: (since) => dispatcher.snapshot(since),
      markDst: (set, uri, state) => dispatcher.markDst(set, uri, state),
      selectByLoad: (set, input, useDefault) => dispatcher.selectByLoad(set, input, useDefault),
      loadEvent: (callId, event, duid) => dispatcher.loadEvent(callId, event, duid),
    }),
    bridgeVia: (bridge) => bridges.via(bridge),
    bridgeLinked: (ms) => bridges.whenLinked(ms),
    bridgeAt: (h, port) => bridges.bridgeAt(h, port),
    isBridgeAddress,
    shard,
    rtpengine: new RtpengineClient(bridges, config.rtpengine),
    uac: createUacService(env, log),
  };
}

/**
 * Digest auth over D1 subscribers. Nonces are signed with NONCE_SECRET (a `wrangler secret`;
 * NONCE_SECRET_PREVIOUS keeps the old one valid during a rotation). Without one, each isolate
 * signs with a random secret: nonces still work on the flow they were issued to (they are bound
 * to it), and a restarted edge simply re-challenges with stale=true.
 */
function createEdgeAuth(env: Env, config: Config, lookup: SubscriberLookup): Auth {
  const current = env.NONCE_SECRET || crypto.randomUUID();
  return createAuth({
    secrets: { current, previous: env.NONCE_SECRET_PREVIOUS || undefined },
    nonceExpire: config.nonceExpire,
    lookup,
  });
}

function createLocationClient(env: Env, config: Config, wrap: (stub: LocationStub, aor: string) => LocationStub): LocationClient {
  // RPC's structured clone widens tuples to arrays in the stub's types; the values are the same.
  return new LocationClient((aor) => wrap(locationOf(env.LOCATION, aor) as unknown as LocationStub, aor), createRegistrar(config.registrar));
}

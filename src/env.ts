import type { Dispatcher } from "../durable-objects/dispatcher.ts";
import type { Guard } from "../durable-objects/guard.ts";
import type { GuardDirectory } from "../durable-objects/guard-directory.ts";
import type { Location } from "../durable-objects/location.ts";
import type { CallRate } from "../durable-objects/call-rate.ts";
import type { UacRegistration } from "../durable-objects/uac-registration.ts";
import type { Vars } from "./config.ts";

/** The edge's bindings: variables plus Durable Object namespaces and the D1 database. */
export interface Env extends Vars {
  SIP_CONNECTION: DurableObjectNamespace;
  /** One Location object per address-of-record (`idFromName(aor)`). */
  LOCATION: DurableObjectNamespace<Location>;
  /** One Dispatcher object per destination-set partition (`idFromName("default")`). */
  DISPATCHER: DurableObjectNamespace<Dispatcher>;
  /** One Guard object per source address, IPv6 per /64 (`idFromName(pikeKey(ip))`). */
  GUARD: DurableObjectNamespace<Guard>;
  /** The one ban directory the shards copy bans and watched addresses from (`idFromName("directory")`). */
  GUARD_DIRECTORY: DurableObjectNamespace<GuardDirectory>;
  /** One UacRegistration object per `uacreg` row (`idFromName(l_uuid)`): uac_reg. */
  UAC_REG: DurableObjectNamespace<UacRegistration>;
  /** One CallRate object per user (`idFromName(aor)`): calls to the PSTN per minute. */
  CALL_RATE: DurableObjectNamespace<CallRate>;
  DB: D1Database;
  /**
   * Secret (`wrangler secret put ADMIN_TOKEN`; `npm start` takes SIPEDGE_ADMIN_TOKEN): bearer
   * token(s) of the admin API, comma-separated so a rotation can keep two valid. Unset: the
   * admin API is closed.
   */
  ADMIN_TOKEN?: string;
  /** Secret: the bridge link's shared secret(s), comma-separated for a rotation. Unset: closed. */
  BRIDGE_SECRET?: string;
  /** Secret: signs digest nonces; NONCE_SECRET_PREVIOUS stays valid during a rotation. */
  NONCE_SECRET?: string;
  /**
   * Secret: bearer token(s) that may read /metrics and nothing else (a Prometheus scraper need
   * not hold the admin token). The admin token reads /metrics too.
   */
  METRICS_TOKEN?: string;
  NONCE_SECRET_PREVIOUS?: string;
  /**
   * Secret: signs the routing state the edge hands out and later trusts (Record-Route parameters,
   * Via branches); ROUTE_SECRET_PREVIOUS stays valid during a rotation.
   */
  ROUTE_SECRET?: string;
  ROUTE_SECRET_PREVIOUS?: string;
  /** Secret: coturn's `static-auth-secret`, for the phone's time-limited TURN credentials. */
  TURN_SECRET?: string;
}

/**
 * The types a route's context is made of: where a message came from, how it goes on, the
 * services the host object wires in, and what every route kind sees. Types only; the contexts
 * themselves are in context.ts (which re-exports these).
 */
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { SipMessage, SipResponse } from "../sip/message.ts";
import type { Uri } from "../sip/uri.ts";
import type { Auth } from "../modules/auth/index.ts";
import type { DispatcherClient } from "../modules/dispatcher/client.ts";
import type { RegistrarServices } from "../modules/registrar/script.ts";
import type { Rr } from "../modules/rr/index.ts";
import type { SentBy, Tm } from "../modules/tm/index.ts";
import type { ForwardServices } from "../modules/forward/index.ts";
import type { PermissionsSource } from "../modules/permissions/script.ts";
import type { GuardService } from "../modules/pike/script.ts";
import type { DialogService } from "../modules/dialog/script.ts";
import type { Acc } from "../modules/acc/index.ts";
import type { RtpengineClient } from "../modules/rtpengine/client.ts";
import type { CallCountService } from "../modules/calllimit/script.ts";
import type { UacService } from "../modules/uac/service.ts";

/** Where a message came from. `flow` names the connection (RFC 5626 flow) it arrived on. */
export interface Source {
  transport: "ws" | "wss" | "udp" | "tcp" | "tls";
  ip: string;
  port?: number;
  flow?: string;
  /** The client instance registered over this flow (`instanceKey` of its +sip.instance and reg-id). */
  instance?: string;
  /** The bridge a UDP datagram came through. */
  bridge?: string;
}

/**
 * How the edge hands a message on. The WebSocket side and the bridge side implement the same
 * interface, so a route never knows which one it has (STYLE.md).
 */
export interface Transport {
  /** A message, or an already serialized one (error replies built from a failed parse). */
  send(message: SipMessage | string): void;
}

/**
 * The stateful services the host object wires in (auth with its nonce secrets and subscriber
 * cache, the Location objects). A script that calls a module whose service is missing fails
 * loudly: that is a wiring error, not a SIP error. Modules declare the slice they need
 * (`RegistrarServices`, `ForwardServices`); this list assembles them.
 */
export interface Services extends RegistrarServices, ForwardServices {
  auth?: Auth;
  /** The stateful proxy of the object that owns the socket. */
  tm?: Tm;
  rr?: Rr;
  /** Hands a response to the object whose transaction it answers (the branch names it). */
  routeResponse?: (response: SipResponse) => void | Promise<void>;
  dispatcher?: DispatcherClient;
  /** The owning shard's number. */
  shard?: string;
  /** The Via sent-by (and bridge id) of a branch that leaves through a bridge: the named one when its link is up, else any. */
  bridgeVia?: (bridge?: string) => (SentBy & { bridge: string }) | undefined;
  /** Resolves true once a bridge link is up (at once when one is), false after `ms` without one. */
  bridgeLinked?: (ms: number) => Promise<boolean>;
  /** The bridge that advertises host[:port] (a Record-Route entry of the UDP side names it). */
  bridgeAt?: (host: string, port: number | undefined) => string | undefined;
  /** Whether host[:port] is an address one of the edge's bridges advertises (part of `is_myself`). */
  isBridgeAddress?: (host: string, port: number | undefined) => boolean;
  /** Pike, ipban and the auth-failure block: the shard's fast paths before the Guard objects. */
  guard?: GuardService;
  /** The permissions (address, trusted), compiled once, reloadable. */
  permissions?: PermissionsSource;
  /** Gateway calls kept by the shard (Kamailio dialog). */
  dialogs?: DialogService;
  /** Call records (Kamailio acc) of the owning object. */
  acc?: Acc;
  /** Media anchoring: ng commands to the rtpengine beside a bridge, over the bridge link. */
  rtpengine?: RtpengineClient;
  /** Per-user call counters (MAX_CALLS_PER_USER), each in the user's Location object. */
  calls?: CallCountService;
  /** Carrier trunks: uacreg, DIDs, caller ID, toll-fraud counters (Kamailio uac). */
  uac?: UacService;
}

/** What every route kind can see. */
export interface BaseContext {
  readonly config: Config;
  readonly log: Logger;
  readonly source: Source;
  /** Kamailio `is_myself`: the host (or URI) names this proxy. */
  isMyself(target: string | Uri): boolean;
}

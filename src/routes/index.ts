// The route scripts sipedge ships, by the name ROUTE_SCRIPT gives them (README "Route scripts").
import type { ScriptRegistry } from "../routing/scripts.ts";
import { defaultScript } from "./default.ts";
import { opensipsBalancer } from "./opensips-balancer.ts";
import { opensipsRegistrar } from "./opensips-registrar.ts";

export const SHIPPED_SCRIPTS: ScriptRegistry = Object.freeze({
  /** The seed's Kamailio SBC (the default): registrar, auth, dispatcher to gateways, security. */
  "kamailio-sbc": defaultScript,
  /** The seed's "OpenSIPS as SIP gateway": stateless load balancing to dispatcher set 2. */
  "opensips-balancer": opensipsBalancer,
  /** The seed's OpenSIPS db_text registrar: auth, usrloc, aliases, P-hint headers. */
  "opensips-registrar": opensipsRegistrar,
});

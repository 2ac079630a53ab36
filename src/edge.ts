/**
 * The edge as a Worker module, assembled around the route scripts it carries. `src/index.ts`
 * builds the shipped edge from it; a build with scripts of its own builds its entry the same way
 * (README "Write your own route script"):
 *
 * ```ts
 * import { createEdge } from "./src/edge.ts";
 * import { acme } from "./acme-script.ts";
 * const edge = createEdge({ scripts: { acme } });   // ROUTE_SCRIPT = "acme" in [vars]
 * export default edge.worker;
 * export const { SipConnection, Location, Dispatcher, Guard, GuardDirectory, UacRegistration, CallRate } = edge;
 * ```
 */
import { env } from "cloudflare:workers";
import { Dispatcher } from "../durable-objects/dispatcher.ts";
import { Guard } from "../durable-objects/guard.ts";
import { GuardDirectory } from "../durable-objects/guard-directory.ts";
import { CallRate } from "../durable-objects/call-rate.ts";
import { UacRegistration } from "../durable-objects/uac-registration.ts";
import { Location } from "../durable-objects/location.ts";
import { SipConnection as SipConnectionObject } from "../durable-objects/sip-connection.ts";
import app from "./app.ts";
import { configFor } from "./config.ts";
import type { Env } from "./env.ts";
import { SHIPPED_SCRIPTS } from "./routes/index.ts";
import { selectScript, type ScriptRegistry } from "./routing/scripts.ts";

export interface EdgeOptions {
  /** Route scripts besides the shipped ones, by the name ROUTE_SCRIPT chooses them with. */
  scripts?: ScriptRegistry;
}

export function createEdge(options: EdgeOptions = {}) {
  const scripts = registryOf(options.scripts ?? {});
  // Startup: a bad [vars] value (an unknown ROUTE_SCRIPT among them) stops the worker before it
  // serves anything, with the error naming the variable (module scope sees the deployment's env).
  if (env !== undefined) selectScript(configFor(env as unknown as Env).routeScript, scripts);

  /** SipConnection running the script ROUTE_SCRIPT names, out of this build's scripts. */
  class SipConnection extends SipConnectionObject {
    constructor(ctx: DurableObjectState, env: Env) {
      super(ctx, env, scripts);
    }
  }

  return { worker: app, scripts, SipConnection, Location, Dispatcher, Guard, GuardDirectory, UacRegistration, CallRate };
}

/** The shipped scripts and the build's own; a name may mean only one script. */
function registryOf(own: ScriptRegistry): ScriptRegistry {
  for (const name of Object.keys(own)) {
    if (Object.hasOwn(SHIPPED_SCRIPTS, name)) throw new Error(`createEdge: "${name}" is the name of a shipped route script; give yours another`);
  }
  return Object.freeze({ ...SHIPPED_SCRIPTS, ...own });
}

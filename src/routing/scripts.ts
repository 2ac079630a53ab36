import { ConfigError } from "../config.ts";
import type { Script } from "./pipeline.ts";

/** The route scripts a build carries, by the name `ROUTE_SCRIPT` gives them. */
export type ScriptRegistry = Readonly<Record<string, Script>>;

/**
 * The script `ROUTE_SCRIPT` names. An unknown name is a configuration error that names the
 * variable and every choice the build carries, so a typo stops the worker at startup instead of
 * routing with some other script.
 */
export function selectScript(name: string, scripts: ScriptRegistry): Script {
  const script = Object.hasOwn(scripts, name) ? scripts[name] : undefined;
  if (script === undefined) {
    throw new ConfigError("wrangler.toml [vars]", "ROUTE_SCRIPT", `unknown route script ${JSON.stringify(name)}; choose one of ${Object.keys(scripts).join(", ")}`);
  }
  return script;
}

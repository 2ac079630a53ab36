import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../../src/config.ts";
import { defaultScript } from "../../../src/routes/default.ts";
import { SHIPPED_SCRIPTS } from "../../../src/routes/index.ts";
import { selectScript } from "../../../src/routing/scripts.ts";

describe("ROUTE_SCRIPT: the shipped scripts by name", () => {
  it("ships the seed's three configurations, kamailio-sbc (today's default script) first", () => {
    expect(Object.keys(SHIPPED_SCRIPTS)).toEqual(["kamailio-sbc", "opensips-balancer", "opensips-registrar"]);
    expect(SHIPPED_SCRIPTS["kamailio-sbc"]).toBe(defaultScript);
  });

  it("defaults to kamailio-sbc, and RELAY_ADDRESS_GROUP to 2", () => {
    const config = parseConfig({});
    expect(config.routeScript).toBe("kamailio-sbc");
    expect(config.relayAddressGroup).toBe(2);
    expect(selectScript(config.routeScript, SHIPPED_SCRIPTS)).toBe(defaultScript);
  });

  it("an unknown name is a configuration error naming the variable and every choice", () => {
    const select = () => selectScript(parseConfig({ ROUTE_SCRIPT: "opensips-balancr" }).routeScript, SHIPPED_SCRIPTS);
    expect(select).toThrow(ConfigError);
    expect(select).toThrow('wrangler.toml [vars]: ROUTE_SCRIPT: unknown route script "opensips-balancr"; choose one of kamailio-sbc, opensips-balancer, opensips-registrar');
  });

  it("a name is looked up as a name, not as a property of any object", () => {
    expect(() => selectScript("toString", SHIPPED_SCRIPTS)).toThrow(/unknown route script "toString"/);
    expect(() => selectScript("__proto__", SHIPPED_SCRIPTS)).toThrow(/unknown route script/);
  });

  it("RELAY_ADDRESS_GROUP must be a whole number", () => {
    expect(() => parseConfig({ RELAY_ADDRESS_GROUP: "two" })).toThrow("wrangler.toml [vars]: RELAY_ADDRESS_GROUP: expected a whole number, got \"two\"");
  });
});

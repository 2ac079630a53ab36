import { describe, expect, it } from "vitest";
import { compose, type Route } from "../../../src/routing/compose.ts";

describe("compose", () => {
  it("runs routes in order while each calls next", async () => {
    const seen: string[] = [];
    const route = (name: string): Route<string[]> => async (ctx, next) => {
      ctx.push(`${name}>`);
      await next();
      ctx.push(`<${name}`);
    };
    await compose([route("a"), route("b")])(seen);
    expect(seen).toEqual(["a>", "b>", "<b", "<a"]);
  });

  it("stops when a route does not call next (the script's exit)", async () => {
    const seen: string[] = [];
    await compose<string[]>([(ctx) => void ctx.push("answered"), (ctx) => void ctx.push("never")])(seen);
    expect(seen).toEqual(["answered"]);
  });

  it("refuses a route that calls next twice", async () => {
    const twice: Route<object> = async (_ctx, next) => {
      await next();
      await next();
    };
    await expect(compose([twice])({})).rejects.toThrow(/more than once/);
  });
});
